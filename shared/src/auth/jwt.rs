//! Session tokens: HS256 JWTs with sub/iat/nbf/exp/iss/aud/jti. Verification pins the algorithm,
//! and time checks take `now` as an argument so tests can move the clock.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::auth::settings::AuthConfig;
use crate::ids::new_id;

/// Clock skew tolerated between Lambda instances, in seconds.
pub const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed, forged or signed with another algorithm")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token could not be signed")]
    Signing,
}

/// A freshly issued token and when it stops working (Unix seconds).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    issuer: String,
    audience: String,
}

impl TokenKeys {
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["sub", "iat", "nbf", "exp", "iss", "aud"]);
        // Time is checked in `verify` against an explicit `now`, with our own leeway.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl: config.token_ttl,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        }
    }

    /// A token for `user_id` issued at `now` (Unix seconds; see `User::issue_time`).
    pub fn issue(&self, user_id: &str, now: i64) -> Result<IssuedToken, TokenError> {
        let ttl = i64::try_from(self.ttl.as_secs()).map_err(|_| TokenError::Signing)?;
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: new_id(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Signing)?;
        Ok(IssuedToken {
            token,
            expires_at: claims.exp,
        })
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        if now >= claims.exp + LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECS < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const NOW: i64 = 1_795_000_000;

    fn config(secret: &str) -> AuthConfig {
        AuthConfig {
            jwt_secret: SecretString::from(secret),
            token_ttl: Duration::from_secs(3600),
            issuer: "helix".into(),
            audience: "helix-api".into(),
            passcodes: vec![],
            throttle: crate::auth::backoff::ThrottlePolicy {
                free_failures: 5,
                backoff_base: Duration::from_secs(1),
                backoff_max: Duration::from_secs(300),
                window: Duration::from_secs(3600),
                global_max_failures: 100,
                known_source_ttl: Duration::from_secs(86400),
            },
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&config("a-test-secret-that-is-long-enough-for-hs256"))
    }

    fn sign(claims: &serde_json::Value, header: Header, secret: &str) -> String {
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(overrides: serde_json::Value) -> serde_json::Value {
        let mut claims = serde_json::json!({
            "sub": "user1", "iat": NOW, "nbf": NOW, "exp": NOW + 60,
            "iss": "helix", "aud": "helix-api", "jti": "j1"
        });
        for (k, v) in overrides.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

    #[test]
    fn an_issued_token_verifies_and_carries_every_claim() {
        let issued = keys().issue("user1", NOW).unwrap();
        let claims = keys().verify(&issued.token, NOW + 10).unwrap();
        assert_eq!(claims.sub, "user1");
        assert_eq!(claims.iat, NOW);
        assert_eq!(claims.exp, NOW + 3600);
        assert_eq!(issued.expires_at, NOW + 3600);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("helix", "helix-api")
        );
        assert_eq!(claims.jti.len(), 24);
    }

    #[test]
    fn tokens_expire_after_their_ttl_plus_a_small_leeway() {
        let issued = keys().issue("user1", NOW).unwrap();
        assert!(
            keys()
                .verify(&issued.token, NOW + 3600 + LEEWAY_SECS - 1)
                .is_ok()
        );
        assert_eq!(
            keys().verify(&issued.token, NOW + 3600 + LEEWAY_SECS),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_from_the_future_are_refused() {
        let issued = keys().issue("user1", NOW + 3600).unwrap();
        assert_eq!(
            keys().verify(&issued.token, NOW),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let token = sign(
            &claims(serde_json::json!({})),
            Header::new(Algorithm::HS256),
            "another-secret-of-sufficient-length!!",
        );
        assert_eq!(keys().verify(&token, NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn other_algorithms_and_alg_none_are_refused() {
        let hs512 = sign(
            &claims(serde_json::json!({})),
            Header::new(Algorithm::HS512),
            SECRET,
        );
        assert_eq!(keys().verify(&hs512, NOW), Err(TokenError::Invalid));

        // {"alg":"none","typ":"JWT"} . claims . (no signature)
        use base64::Engine;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let none = format!(
            "{}.{}.",
            encode(br#"{"alg":"none","typ":"JWT"}"#),
            encode(claims(serde_json::json!({})).to_string().as_bytes())
        );
        assert_eq!(keys().verify(&none, NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_issuer_audience_or_missing_claims_are_invalid() {
        for bad in [
            claims(serde_json::json!({"iss": "someone-else"})),
            claims(serde_json::json!({"aud": "another-api"})),
        ] {
            let token = sign(&bad, Header::new(Algorithm::HS256), SECRET);
            assert_eq!(
                keys().verify(&token, NOW),
                Err(TokenError::Invalid),
                "{bad}"
            );
        }
        let mut no_sub = claims(serde_json::json!({}));
        no_sub.as_object_mut().unwrap().remove("sub");
        let token = sign(&no_sub, Header::new(Algorithm::HS256), SECRET);
        assert_eq!(keys().verify(&token, NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn garbage_is_invalid() {
        for garbage in ["", "abc", "a.b.c", "ey.ey.ey"] {
            assert_eq!(
                keys().verify(garbage, NOW),
                Err(TokenError::Invalid),
                "{garbage:?}"
            );
        }
    }
}
