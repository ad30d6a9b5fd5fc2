//! The read side of a user's budget: balance, this month's spend, open holds and ledger pages
//! (newest first, filterable by agent and time).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgExecutor};

use crate::pagination::Cursor;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Summary {
    pub balance_micros: i64,
    pub balance_cents: i64,
    pub spent_micros_this_month: i64,
    pub open_holds: i64,
    pub held_micros: i64,
}

pub async fn summary(
    db: impl PgExecutor<'_>,
    user_id: &str,
) -> Result<Option<Summary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.balance_micros, u.budget_cents AS balance_cents,
                COALESCE((SELECT sum(cost_micros) FROM usage_ledger l
                          WHERE l.user_id = u.id
                            AND l.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), 0)::bigint
                    AS spent_micros_this_month,
                (SELECT count(*) FROM budget_holds h WHERE h.user_id = u.id) AS open_holds,
                COALESCE((SELECT sum(amount_micros) FROM budget_holds h WHERE h.user_id = u.id), 0)::bigint AS held_micros
         FROM users u WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FromRow)]
pub struct LedgerEntry {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub agent_id: Option<String>,
    pub kind: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub cost_micros: i64,
    pub cost_cents: i64,
    pub trace_id: Option<String>,
    /// The personal API key that made the call, if one did.
    pub api_key_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub agent_id: Option<String>,
    pub api_key_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Up to `limit` entries after `cursor`, newest first.
pub async fn ledger_page(
    db: impl PgExecutor<'_>,
    user_id: &str,
    filter: &LedgerFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, created_at, agent_id, kind, meta->>'provider' AS provider, meta->>'model' AS model,
                input_tokens, output_tokens, cost_micros, cost_cents, meta->>'trace_id' AS trace_id,
                api_key_id
         FROM usage_ledger
         WHERE user_id = $1
           AND ($2::text IS NULL OR agent_id = $2)
           AND ($3::timestamptz IS NULL OR created_at >= $3)
           AND ($4::timestamptz IS NULL OR created_at < $4)
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
           AND ($8::text IS NULL OR api_key_id = $8)
         ORDER BY created_at DESC, id DESC
         LIMIT $7",
    )
    .bind(user_id)
    .bind(&filter.agent_id)
    .bind(filter.from)
    .bind(filter.to)
    .bind(cursor.map(|c| c.created_at))
    .bind(cursor.map(|c| c.id.as_str()))
    .bind(limit)
    .bind(&filter.api_key_id)
    .fetch_all(db)
    .await
}
