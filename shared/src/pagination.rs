//! Cursor pagination for lists ordered newest first: the cursor names the last row seen by its
//! (created_at, id), opaque to clients (base64url), so pages never skip or repeat rows.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// A cursor or limit a client sent that Helix cannot use; a 400 naming the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("cursor: not a cursor from a previous page")]
    Cursor,
    #[error("limit: must be 1 to {MAX_LIMIT}")]
    Limit,
}

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    /// A cursor from a client; anything that is not one Helix made is a 400 naming `cursor`.
    pub fn decode(raw: &str) -> Result<Self, PageError> {
        let invalid = || PageError::Cursor;
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
        let created_at = micros
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .filter(is_storable)
            .ok_or_else(invalid)?;
        if id.is_empty() || id.len() > 64 {
            return Err(invalid());
        }
        Ok(Cursor {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// The earliest and latest instants a cursor or a time filter may name: years 1 to 9999, what
/// RFC 3339 can write. chrono reaches further back than Postgres' `timestamptz` (4713 BC), which
/// refuses such a value with an error; no row of Helix's is outside this range anyway.
pub fn is_storable(at: &DateTime<Utc>) -> bool {
    (1..=9999).contains(&chrono::Datelike::year(at))
}

/// `limit` from a query string: 1 to 100, 20 when absent.
pub fn limit(requested: Option<i64>) -> Result<i64, PageError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(PageError::Limit),
    }
}

/// Given `limit + 1` rows fetched, the page and the cursor for the next one (if there is more).
pub fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|row| cursor_of(row).encode());
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap(),
            id: "abc".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn anything_else_is_a_400_naming_the_cursor() {
        for raw in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("no-bar"),
            &URL_SAFE_NO_PAD.encode("x|id"),
            &URL_SAFE_NO_PAD.encode("1|"),
            // chrono's earliest instant and its latest: beyond what Postgres or RFC 3339 hold.
            &URL_SAFE_NO_PAD.encode("-8334601228800000000|id"),
            &URL_SAFE_NO_PAD.encode("8210266876799999999|id"),
            &URL_SAFE_NO_PAD.encode("-62135596800000001|id"),
        ] {
            let error = Cursor::decode(raw).unwrap_err();
            assert!(error.to_string().contains("cursor"), "{raw}");
        }
    }

    #[test]
    fn cursors_from_year_1_to_9999_are_accepted() {
        for micros in [-62_135_596_800_000_000_i64, 253_402_300_799_999_999] {
            let raw = URL_SAFE_NO_PAD.encode(format!("{micros}|id"));
            assert!(Cursor::decode(&raw).is_ok(), "{micros}");
        }
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err() && limit(Some(101)).is_err());
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_more_rows_exist() {
        let at = |n: i64| Cursor {
            created_at: DateTime::from_timestamp(n, 0).unwrap(),
            id: n.to_string(),
        };
        let (rows, next) = page(vec![3, 2, 1], 2, |n| at(*n));
        assert_eq!(rows, vec![3, 2]);
        assert_eq!(Cursor::decode(&next.unwrap()).unwrap(), at(2));
        let (rows, next) = page(vec![3, 2], 2, |n| at(*n));
        assert_eq!((rows, next), (vec![3, 2], None));
    }
}
