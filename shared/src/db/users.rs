//! The `users` table: looked up by the auth guard on every request, created at seed or first sign-in.

use sqlx::{FromRow, PgConnection, PgExecutor};

use crate::ids::new_id;
use crate::user::UserRole;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: UserRole,
    pub budget_cents: i64,
}

impl TryFrom<String> for UserRole {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "user" => Ok(UserRole::User),
            "admin" => Ok(UserRole::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

const USER_COLUMNS: &str = "id, email, name, role::text AS role, budget_cents";

pub async fn find_by_id(db: impl PgExecutor<'_>, id: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The user for `email`, created (with no budget: budget comes from grants) if new. The role
/// follows the configuration, where admins are declared. Returns the user and whether this call
/// created it.
pub async fn ensure_user(
    db: &mut PgConnection,
    email: &str,
    role: UserRole,
) -> Result<(User, bool), sqlx::Error> {
    #[derive(FromRow)]
    struct Ensured {
        #[sqlx(flatten)]
        user: User,
        created: bool,
    }
    let ensured: Ensured = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, email, name, role)
         VALUES ($1, $2, $3, $4::user_role)
         ON CONFLICT ON CONSTRAINT users_email_key DO UPDATE SET role = EXCLUDED.role
         RETURNING {USER_COLUMNS}, (xmax = 0) AS created"
    )))
    .bind(new_id())
    .bind(email)
    .bind(display_name(email))
    .bind(role.as_str())
    .fetch_one(db)
    .await?;
    Ok((ensured.user, ensured.created))
}

/// "master@helix.local" → "Master".
fn display_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let mut chars = local.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => email.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_come_from_the_email() {
        assert_eq!(display_name("master@helix.local"), "Master");
        assert_eq!(display_name("fnbo@helix.local"), "Fnbo");
    }
}
