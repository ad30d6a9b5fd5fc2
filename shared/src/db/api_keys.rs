//! The `api_keys` table: personal keys created, listed and revoked by their owner, and looked up
//! by the auth guard (by the SHA-256 of the presented secret) on every request that carries one.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use super::users::User;
use crate::ids::new_id;

/// A key as its owner sees it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub spend_limit_micros: Option<i64>,
    /// Σ the key's ledger rows.
    pub spent_micros: i64,
    /// Σ the key's open holds (calls in flight).
    pub held_micros: i64,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const KEY_COLUMNS: &str = "id, name, prefix, spend_limit_micros, spent_micros, held_micros, \
     expires_at, last_used_at, created_at";

pub struct NewKey<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub sha256: &'a str,
    pub spend_limit_micros: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates the key unless the user already holds `max_keys` unrevoked ones (`None` then); the
/// count and the insert are one statement under the user's row lock.
pub async fn create(
    db: impl PgExecutor<'_>,
    key: &NewKey<'_>,
    max_keys: i64,
) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH owner AS (SELECT id FROM users WHERE id = $2 FOR UPDATE)
         INSERT INTO api_keys (id, user_id, name, prefix, secret_sha256, spend_limit_micros, expires_at)
         SELECT $1, owner.id, $3, $4, $5, $6, $7 FROM owner
         WHERE (SELECT count(*) FROM api_keys WHERE user_id = $2 AND revoked_at IS NULL) < $8
         RETURNING {KEY_COLUMNS}"
    )))
    .bind(new_id())
    .bind(key.user_id)
    .bind(key.name)
    .bind(key.prefix)
    .bind(key.sha256)
    .bind(key.spend_limit_micros)
    .bind(key.expires_at)
    .bind(max_keys)
    .fetch_optional(db)
    .await
}

/// The user's unrevoked keys, newest first (expired ones included, so their owner sees why).
pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    max_keys: i64,
) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL
         ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(user_id)
    .bind(max_keys)
    .fetch_all(db)
    .await
}

/// Revokes the user's key at once; `false` when it is not theirs or already revoked.
pub async fn revoke(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(revoked.rows_affected() == 1)
}

/// A presented key's owner and state, as the guard reads them.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct KeyHolder {
    #[sqlx(flatten)]
    pub user: User,
    pub key_id: String,
    pub key_name: String,
    pub key_prefix: String,
    pub revoked: bool,
    pub expired: bool,
    /// Created before its user's `tokens_valid_after` (an admin's revocation, or a passcode no
    /// longer configured): refused with the user's tokens.
    pub predates_revocation: bool,
}

/// The key with this hash and its user, in one statement that also records the key's use — at
/// most once a minute, so a busy key does not write on every request.
pub async fn find_holder(
    db: impl PgExecutor<'_>,
    sha256: &str,
) -> Result<Option<KeyHolder>, sqlx::Error> {
    sqlx::query_as(
        "WITH key AS (
             SELECT id, user_id, name, prefix, last_used_at, created_at,
                    revoked_at IS NOT NULL AS revoked,
                    expires_at IS NOT NULL AND expires_at <= now() AS expired
             FROM api_keys WHERE secret_sha256 = $1
         ),
         touched AS (
             UPDATE api_keys SET last_used_at = now()
             FROM key
             WHERE api_keys.id = key.id AND NOT key.revoked AND NOT key.expired
               AND (key.last_used_at IS NULL OR key.last_used_at < now() - interval '1 minute')
             RETURNING api_keys.id
         )
         SELECT u.id, u.email, u.name, u.role::text AS role, u.budget_cents,
                EXTRACT(EPOCH FROM u.tokens_valid_after)::bigint AS tokens_valid_after,
                key.id AS key_id, key.name AS key_name, key.prefix AS key_prefix,
                key.revoked, key.expired,
                COALESCE(key.created_at < u.tokens_valid_after, false) AS predates_revocation
         FROM key JOIN users u ON u.id = key.user_id",
    )
    .bind(sha256)
    .fetch_optional(db)
    .await
}
