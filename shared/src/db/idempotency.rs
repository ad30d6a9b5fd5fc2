//! `Idempotency-Key` for turns: the first request with a key claims it; a retry with the same body
//! gets the stored response, a different body is a conflict. A failed turn gives its key back.

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request owns the key: run the turn, then `complete` or `abandon`.
    Fresh,
    /// The turn already ran: answer with its response.
    Replay(Value),
    /// The key was used for a different request.
    Conflict,
    /// The first request with this key is still running.
    InProgress,
}

/// A stable fingerprint of a request body (serde_json orders object keys, so equal JSON hashes equal).
pub fn request_hash(body: &Value) -> String {
    let digest = Sha256::digest(body.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Claims `key` for the request `request_id` (its hold carries the same id, so a killed turn's
/// key is freed with its expired hold).
pub async fn claim(
    pool: &PgPool,
    user_id: &str,
    key: &str,
    hash: &str,
    request_id: &str,
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO turn_idempotency (user_id, key, request_hash, trace_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT turn_idempotency_pkey DO NOTHING",
    )
    .bind(user_id)
    .bind(key)
    .bind(hash)
    .bind(request_id)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Fresh);
    }
    let existing: Option<(String, Option<Value>)> = sqlx::query_as(
        "SELECT request_hash, response FROM turn_idempotency WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(match existing {
        // Abandoned between our insert and select: the caller may simply retry.
        None => Claim::InProgress,
        Some((stored, _)) if stored != hash => Claim::Conflict,
        Some((_, Some(response))) => Claim::Replay(response),
        Some((_, None)) => Claim::InProgress,
    })
}

/// Stores the response; call it in the transaction that charges the turn.
pub async fn complete(
    db: impl PgExecutor<'_>,
    user_id: &str,
    key: &str,
    response: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE turn_idempotency SET response = $3 WHERE user_id = $1 AND key = $2")
        .bind(user_id)
        .bind(key)
        .bind(response)
        .execute(db)
        .await?;
    Ok(())
}

/// The turn failed and charged nothing: a retry with this key should run it again.
pub async fn abandon(db: impl PgExecutor<'_>, user_id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM turn_idempotency WHERE user_id = $1 AND key = $2 AND response IS NULL",
    )
    .bind(user_id)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}
