//! Who a user is to Helix: the role a passcode signs in as, and the API key a call came with.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    User,
    Admin,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::User => "user",
            UserRole::Admin => "admin",
        }
    }
}

/// The personal API key a request authenticated with (`Authorization: Bearer hx_…`): what the
/// reservation checks its spend limit by, and what a refusal names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRef {
    pub id: String,
    pub name: String,
    /// The secret's first characters, as the Keys page shows them (`hx_AbCd1234`).
    pub prefix: String,
}
