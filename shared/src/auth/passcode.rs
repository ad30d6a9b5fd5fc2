//! Passcode checks: bcrypt against every configured hash, always all of them, so the response
//! time says nothing about which hash (if any) came close.

use secrecy::ExposeSecret;

use crate::auth::settings::PasscodeEntry;

pub const MAX_PASSCODE_CHARS: usize = 256;

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

/// A bcrypt hash for a new passcode, for operators adding one to the secret.
pub fn hash_passcode(passcode: &str, cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(passcode, cost)
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
}
