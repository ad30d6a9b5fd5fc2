//! Passcode checks: bcrypt against every configured hash, always all of them, so the response
//! time says nothing about which hash (if any) came close. bcrypt reads only the first 72 bytes,
//! so a longer passcode is refused when hashing and when signing in, never silently cut.

use secrecy::ExposeSecret;

use crate::auth::settings::PasscodeEntry;

/// bcrypt's limit: two passcodes that share their first 72 bytes have the same hash.
pub const MAX_PASSCODE_BYTES: usize = 72;

#[derive(Debug, thiserror::Error)]
pub enum PasscodeError {
    #[error("passcode: must not be empty")]
    Empty,
    #[error(
        "passcode: must be at most {MAX_PASSCODE_BYTES} bytes (bcrypt compares no more, so a longer \
         one would match anything with the same start); this one is {bytes} bytes"
    )]
    TooLong { bytes: usize },
    #[error("could not hash the passcode")]
    Hash(#[source] bcrypt::BcryptError),
}

/// A passcode Helix can hash and check exactly: 1 to 72 bytes of UTF-8.
pub fn check_length(passcode: &str) -> Result<(), PasscodeError> {
    match passcode.len() {
        0 => Err(PasscodeError::Empty),
        bytes if bytes > MAX_PASSCODE_BYTES => Err(PasscodeError::TooLong { bytes }),
        _ => Ok(()),
    }
}

/// The entry whose hash matches `passcode`, after checking every entry.
pub fn find_matching<'a>(
    passcode: &str,
    entries: &'a [PasscodeEntry],
) -> Option<&'a PasscodeEntry> {
    find_matching_with(passcode, entries, |passcode, hash| {
        bcrypt::verify(passcode, hash).unwrap_or(false)
    })
}

/// [`find_matching`] with the hash check passed in, so tests can count the checks.
pub fn find_matching_with<'a>(
    passcode: &str,
    entries: &'a [PasscodeEntry],
    check: impl Fn(&str, &str) -> bool,
) -> Option<&'a PasscodeEntry> {
    // No early return: every hash costs one bcrypt check whatever the outcome.
    entries.iter().fold(None, |found, entry| {
        let matched = check(passcode, entry.hash.expose_secret());
        found.or(matched.then_some(entry))
    })
}

/// A bcrypt hash for a new passcode, for operators adding one to the secret; a passcode bcrypt
/// would cut is refused.
pub fn hash_passcode(passcode: &str, cost: u32) -> Result<String, PasscodeError> {
    check_length(passcode)?;
    bcrypt::hash(passcode, cost).map_err(PasscodeError::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserRole;
    use secrecy::SecretString;
    use std::cell::Cell;

    fn entries() -> Vec<PasscodeEntry> {
        ["a", "b", "c"]
            .iter()
            .map(|p| PasscodeEntry {
                email: format!("{p}@example.com"),
                hash: SecretString::from(bcrypt::hash(p, 4).unwrap()),
                role: UserRole::User,
            })
            .collect()
    }

    #[test]
    fn the_matching_entry_is_found_and_a_wrong_passcode_finds_none() {
        let entries = entries();
        assert_eq!(find_matching("b", &entries).unwrap().email, "b@example.com");
        assert!(find_matching("nope", &entries).is_none());
    }

    #[test]
    fn every_hash_is_checked_whichever_matches() {
        let entries = entries();
        for passcode in ["a", "b", "c", "wrong"] {
            let checks = Cell::new(0);
            find_matching_with(passcode, &entries, |p, h| {
                checks.set(checks.get() + 1);
                bcrypt::verify(p, h).unwrap()
            });
            assert_eq!(checks.get(), entries.len(), "{passcode}");
        }
    }

    #[test]
    fn hashes_made_for_operators_verify() {
        let hash = hash_passcode("new passcode", 4).unwrap();
        assert!(bcrypt::verify("new passcode", &hash).unwrap());
    }

    #[test]
    fn passcodes_bcrypt_would_cut_are_refused_by_their_bytes_not_characters() {
        let longest = "x".repeat(MAX_PASSCODE_BYTES);
        assert!(check_length(&longest).is_ok());
        assert!(hash_passcode(&longest, 4).is_ok());
        let too_long = format!("{longest}y");
        assert!(matches!(
            hash_passcode(&too_long, 4),
            Err(PasscodeError::TooLong { bytes: 73 })
        ));
        // 25 three-byte characters: 75 bytes.
        assert!(matches!(
            check_length(&"€".repeat(25)),
            Err(PasscodeError::TooLong { bytes: 75 })
        ));
        assert!(matches!(check_length(""), Err(PasscodeError::Empty)));
        let message = PasscodeError::TooLong { bytes: 80 }.to_string();
        assert!(
            message.starts_with("passcode: must be at most 72 bytes"),
            "{message}"
        );
    }
}
