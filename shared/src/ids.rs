//! Identifiers for new rows: CUID2 strings, as the seed schema specifies.
//! Generated in the application so a row's id is known before it is written.

/// A fresh, collision-resistant, URL-safe identifier (24 lowercase alphanumerics).
pub fn new_id() -> String {
    cuid2::create_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_lowercase_alphanumerics_and_unique() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 24);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(a, b);
    }
}
