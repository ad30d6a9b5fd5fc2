//! The `users` table: looked up by the auth guard on every request, created at seed or first sign-in,
//! its roles kept in step with the configured passcodes.

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
    /// Tokens issued (`iat`) before this Unix second are refused; `None`: none revoked this way.
    pub tokens_valid_after: Option<i64>,
}

impl User {
    /// The `iat` a token issued `now` gets: never before `tokens_valid_after`, so a sign-in in
    /// the very second of a revocation still yields a token that works.
    pub fn issue_time(&self, now: i64) -> i64 {
        self.tokens_valid_after.map_or(now, |after| now.max(after))
    }
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

const USER_COLUMNS: &str = "id, email, name, role::text AS role, budget_cents,
     EXTRACT(EPOCH FROM tokens_valid_after)::bigint AS tokens_valid_after";

/// The whole second after now: a token issued (in whole seconds) before it was issued before, or
/// in the same second as, the revocation, so it is refused with the rest.
const NEXT_WHOLE_SECOND: &str = "date_trunc('second', clock_timestamp()) + interval '1 second'";

/// A token's user, and whether that very token was signed out: what the guard reads on every
/// request, in one query.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TokenHolder {
    #[sqlx(flatten)]
    pub user: User,
    pub token_revoked: bool,
}

pub async fn find_token_holder(
    db: impl PgExecutor<'_>,
    user_id: &str,
    jti: &str,
) -> Result<Option<TokenHolder>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS},
                EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2) AS token_revoked
         FROM users WHERE id = $1"
    )))
    .bind(user_id)
    .bind(jti)
    .fetch_optional(db)
    .await
}

/// Signs one token out (POST /auth/logout) until `usable_until` (Unix seconds), when it would stop
/// working anyway; rows past that are pruned here.
pub async fn revoke_token(
    db: impl PgExecutor<'_>,
    user_id: &str,
    jti: &str,
    usable_until: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH pruned AS (DELETE FROM revoked_tokens WHERE expires_at < clock_timestamp())
         INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3))
         ON CONFLICT ON CONSTRAINT revoked_tokens_pkey DO NOTHING",
    )
    .bind(jti)
    .bind(user_id)
    .bind(usable_until as f64)
    .execute(db)
    .await?;
    Ok(())
}

/// Refuses every token the user holds now (an admin's revocation). Returns the user and the
/// moment from which new tokens work, or `None` if no user has that email.
pub async fn revoke_all_tokens(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET tokens_valid_after = {NEXT_WHOLE_SECOND}
         WHERE email = $1
         RETURNING {USER_COLUMNS}"
    )))
    .bind(email)
    .fetch_optional(db)
    .await
}

/// What [`sync_with_passcodes`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasscodeSync {
    /// Users whose role now follows their passcode's (promoted or demoted).
    pub roles_changed: u64,
    /// Users with no configured passcode any more: made plain users, their tokens refused.
    pub revoked: u64,
}

/// Brings the users in line with the configured passcodes (`email`, `role`), at start: a passcode
/// that now grants another role changes its user's role, and a user whose passcode is gone is a
/// plain user whose tokens no longer work. The guard reads the role from the database on every
/// request, so both take effect at once for tokens already out. An email configured twice takes
/// the higher role, as signing in with either passcode would eventually leave it.
pub async fn sync_with_passcodes<'e>(
    db: impl PgExecutor<'e>,
    passcodes: impl IntoIterator<Item = (&'e str, UserRole)>,
) -> Result<PasscodeSync, sqlx::Error> {
    let (emails, roles): (Vec<&str>, Vec<&str>) = passcodes
        .into_iter()
        .map(|(email, role)| (email, role.as_str()))
        .unzip();
    let (roles_changed, revoked): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH configured AS (
             SELECT email, max(role::user_role) AS role
             FROM unnest($1::text[], $2::text[]) AS c(email, role)
             GROUP BY email
         ), changed AS (
             UPDATE users SET role = configured.role
             FROM configured
             WHERE users.email = configured.email AND users.role <> configured.role
             RETURNING users.id
         ), removed AS (
             UPDATE users SET role = 'user', tokens_valid_after = {NEXT_WHOLE_SECOND}
             WHERE NOT EXISTS (SELECT 1 FROM configured WHERE configured.email = users.email)
             RETURNING users.id
         )
         SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM removed)"
    )))
    .bind(emails)
    .bind(roles)
    .fetch_one(db)
    .await?;
    Ok(PasscodeSync {
        roles_changed: u64::try_from(roles_changed).unwrap_or(0),
        revoked: u64::try_from(revoked).unwrap_or(0),
    })
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
