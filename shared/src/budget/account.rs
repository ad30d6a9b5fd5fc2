//! The read side of a user's budget: balance, this month's spend, open holds and ledger pages
//! (newest first, filterable by agent and time, each row's personality named).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgExecutor};

use crate::pagination::Cursor;
use crate::personality::Presets;

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
    /// The preset or persona the call ran under; `None` for a call made without one (such as an
    /// OpenAI-compatible call that names none).
    pub personality_id: Option<String>,
    /// Its display name ([`Presets::display_name`]); `None` exactly when `personality_id` is.
    pub personality_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub agent_id: Option<String>,
    pub api_key_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Up to `limit` entries after `cursor`, newest first. Personas are named in the same statement
/// (a join on the user's own, by primary key), presets from `presets`.
pub async fn ledger_page(
    db: impl PgExecutor<'_>,
    presets: &Presets,
    user_id: &str,
    filter: &LedgerFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    let mut entries: Vec<LedgerEntry> = sqlx::query_as(
        "SELECT l.id, l.created_at, l.agent_id, l.kind, l.meta->>'provider' AS provider,
                l.meta->>'model' AS model, l.input_tokens, l.output_tokens, l.cost_micros,
                l.cost_cents, l.meta->>'trace_id' AS trace_id, l.api_key_id, l.personality_id,
                p.name AS personality_name
         FROM usage_ledger l
         LEFT JOIN personas p ON p.id = l.personality_id AND p.user_id = l.user_id
         WHERE l.user_id = $1
           AND ($2::text IS NULL OR l.agent_id = $2)
           AND ($3::timestamptz IS NULL OR l.created_at >= $3)
           AND ($4::timestamptz IS NULL OR l.created_at < $4)
           AND ($5::timestamptz IS NULL OR (l.created_at, l.id) < ($5, $6))
           AND ($8::text IS NULL OR l.api_key_id = $8)
         ORDER BY l.created_at DESC, l.id DESC
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
    .await?;
    // The query fills `personality_name` with the persona's name; presets and deleted ones are named here.
    for entry in &mut entries {
        let persona_name = entry.personality_name.take();
        entry.personality_name = entry
            .personality_id
            .as_deref()
            .map(|id| presets.display_name(id, persona_name));
    }
    Ok(entries)
}
