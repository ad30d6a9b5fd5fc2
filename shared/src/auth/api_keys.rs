//! Personal API keys' secrets: `hx_` and 43 base64url characters of OS randomness (244 bits), shown
//! once and stored only as their SHA-256. A fast hash is right here: the secret is random, not a
//! password, so nothing can be guessed faster than brute force over 2^244.

use base64::Engine;
use sha2::{Digest, Sha256};

/// What every Helix API key starts with, so the guard knows it is not a JWT.
pub const KEY_PREFIX: &str = "hx_";
/// How much of the secret the Keys page shows (`hx_` and eight characters).
const SHOWN_CHARS: usize = 11;

/// A freshly generated key: the secret (shown once), its shown prefix, and its stored hash.
#[derive(Clone)]
pub struct NewSecret {
    pub secret: secrecy::SecretString,
    pub prefix: String,
    pub sha256: String,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

pub fn generate() -> NewSecret {
    // Two v4 UUIDs come from the OS's CSPRNG (getrandom): 2 × 122 random bits.
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let secret = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    NewSecret {
        prefix: secret[..SHOWN_CHARS].to_owned(),
        sha256: sha256_hex(&secret),
        secret: secret.into(),
    }
}

/// Whether a bearer token is meant as an API key (else it is a JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

/// The stored form of a presented key.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_new_key_is_hx_and_43_url_safe_characters_and_is_stored_only_as_its_hash() {
        let key = generate();
        let secret = key.secret.expose_secret();
        assert!(is_api_key(secret));
        assert_eq!(secret.len(), 3 + 43);
        assert!(
            secret[3..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(key.prefix, secret[..11]);
        assert_eq!(key.sha256, sha256_hex(secret));
        assert_eq!(key.sha256.len(), 64);
        assert!(!format!("{key:?}").contains(secret));
        assert_ne!(generate().sha256, key.sha256);
    }

    #[test]
    fn jwts_are_not_api_keys() {
        assert!(!is_api_key("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
        assert!(is_api_key("hx_abc"));
    }
}
