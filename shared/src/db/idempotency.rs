//! `Idempotency-Key` for turns and other paid writes: the first request with a key claims it; a
//! retry with the same body gets the stored response, a different body is a conflict. A failed
//! request gives its key back. A keyed turn's recall embedding is kept with its key, so a retry
//! after a failure does not pay for the same query vector twice.

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
    // A released key is taken over; it keeps its recall vector only for the same request.
    let inserted = sqlx::query(
        "INSERT INTO turn_idempotency (user_id, key, request_hash, trace_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT ON CONSTRAINT turn_idempotency_pkey DO UPDATE
           SET request_hash = EXCLUDED.request_hash, trace_id = EXCLUDED.trace_id,
               created_at = now(), released_at = NULL,
               recall_model = CASE WHEN turn_idempotency.request_hash = EXCLUDED.request_hash
                                   THEN turn_idempotency.recall_model END,
               recall_vector = CASE WHEN turn_idempotency.request_hash = EXCLUDED.request_hash
                                    THEN turn_idempotency.recall_vector END
           WHERE turn_idempotency.released_at IS NOT NULL AND turn_idempotency.response IS NULL",
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

/// The request failed: a retry with this key should run it again. A key that keeps a recall
/// vector is only marked released (a retry takes it over); any other is deleted.
pub async fn abandon(db: impl PgExecutor<'_>, user_id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH gone AS (
             DELETE FROM turn_idempotency
             WHERE user_id = $1 AND key = $2 AND response IS NULL AND recall_vector IS NULL
         )
         UPDATE turn_idempotency SET released_at = now()
         WHERE user_id = $1 AND key = $2 AND response IS NULL AND recall_vector IS NOT NULL",
    )
    .bind(user_id)
    .bind(key)
    .execute(db)
    .await?;
    Ok(())
}

/// A query vector already paid for under this key: the embedding model it came from and the vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Recalled {
    pub model: String,
    pub vector: Vec<f32>,
}

/// The recall vector an earlier attempt with this key paid for, if any.
pub async fn recalled(
    db: impl PgExecutor<'_>,
    user_id: &str,
    key: &str,
) -> Result<Option<Recalled>, sqlx::Error> {
    let row: Option<(Option<String>, Option<Vec<f32>>)> = sqlx::query_as(
        "SELECT recall_model, recall_vector FROM turn_idempotency WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some((Some(model), Some(vector))) => Some(Recalled { model, vector }),
        _ => None,
    })
}

/// Keeps the recall vector this attempt paid for with its key.
pub async fn keep_recalled(
    db: impl PgExecutor<'_>,
    user_id: &str,
    key: &str,
    recalled: &Recalled,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE turn_idempotency SET recall_model = $3, recall_vector = $4
         WHERE user_id = $1 AND key = $2 AND response IS NULL",
    )
    .bind(user_id)
    .bind(key)
    .bind(&recalled.model)
    .bind(&recalled.vector)
    .execute(db)
    .await?;
    Ok(())
}
