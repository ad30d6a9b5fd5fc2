//! Usage you can see: a user's ledger aggregated in SQL by day, model, engine or personality
//! (index-only over `usage_ledger_summary_idx`), and the ledger as CSV.

use std::fmt::Write;
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgExecutor, PgPool};

use super::account::{self, LedgerEntry, LedgerFilter};
use crate::money::cost_cents;
use crate::pagination::Cursor;
use crate::personality::Presets;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Calendar days in the user's policy time zone.
    Day,
    Model,
    Engine,
    Personality,
}

/// A second grouping under `day`, for bars stacked by model or engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackBy {
    Model,
    Engine,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow)]
pub struct Group {
    /// The day (`2026-12-01`), model, engine or personality id; `""` where a row has none.
    pub key: String,
    /// The model or engine within the day, with `stack_by`.
    pub stack: Option<String>,
    /// With `group_by=personality`: its display name (a preset's label, the persona's name,
    /// "Deleted persona (id)", or [`NO_PERSONALITY`] for the `""` key); `None` otherwise.
    pub name: Option<String>,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    #[sqlx(default)]
    pub cost_cents: i64,
}

fn column(group: GroupBy) -> &'static str {
    match group {
        GroupBy::Day => "to_char(created_at AT TIME ZONE $4, 'YYYY-MM-DD')",
        GroupBy::Model => "COALESCE(model, '')",
        GroupBy::Engine => "COALESCE(engine, '')",
        GroupBy::Personality => "COALESCE(personality_id, '')",
    }
}

/// How usage names the calls made without a personality.
pub const NO_PERSONALITY: &str = "No personality";

/// The user's ledger in `window` (from inclusive, to exclusive) grouped by `group_by` (and
/// `stack_by` under it): sums in exact micros, ordered by key. `time_zone` names the days.
/// Personality groups are named in the same statement (the user's personas joined to the summed
/// groups, so the scan stays index-only) and from `presets`.
pub async fn summarise(
    db: impl PgExecutor<'_>,
    presets: &Presets,
    user_id: &str,
    window: Range<DateTime<Utc>>,
    group_by: GroupBy,
    stack_by: Option<StackBy>,
    time_zone: &str,
) -> Result<Vec<Group>, sqlx::Error> {
    let stack = match stack_by {
        None => "NULL::text",
        Some(StackBy::Model) => column(GroupBy::Model),
        Some(StackBy::Engine) => column(GroupBy::Engine),
    };
    let (name, personas) = match group_by {
        GroupBy::Personality => (
            "p.name",
            "LEFT JOIN personas p ON p.id = g.key AND p.user_id = $1",
        ),
        _ => ("NULL::text", ""),
    };
    let mut groups: Vec<Group> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT g.key, g.stack, {name} AS name, g.calls, g.input_tokens, g.output_tokens,
                g.cost_micros
         FROM (SELECT {} AS key, {stack} AS stack, count(*) AS calls,
                      COALESCE(sum(input_tokens), 0)::bigint AS input_tokens,
                      COALESCE(sum(output_tokens), 0)::bigint AS output_tokens,
                      COALESCE(sum(cost_micros), 0)::bigint AS cost_micros
               FROM usage_ledger
               WHERE user_id = $1 AND created_at >= $2 AND created_at < $3 AND $4::text IS NOT NULL
               GROUP BY 1, 2) g
         {personas}
         ORDER BY g.key, g.stack",
        column(group_by)
    )))
    .bind(user_id)
    .bind(window.start)
    .bind(window.end)
    .bind(time_zone)
    .fetch_all(db)
    .await?;
    // The query fills `name` with the persona's name; presets, deleted personas and none are named here.
    for group in &mut groups {
        group.cost_cents = cost_cents(group.cost_micros);
        if group_by == GroupBy::Personality {
            let persona_name = group.name.take();
            group.name = Some(if group.key.is_empty() {
                NO_PERSONALITY.to_owned()
            } else {
                presets.display_name(&group.key, persona_name)
            });
        }
    }
    Ok(groups)
}

/// What the user was charged since `since` (exact micros).
pub async fn spent_since(
    db: impl PgExecutor<'_>,
    user_id: &str,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(cost_micros), 0)::bigint FROM usage_ledger
         WHERE user_id = $1 AND created_at >= $2",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(db)
    .await
}

/// The most rows one export holds: a buffered Lambda answer is at most 6 MB.
pub const MAX_EXPORT_ROWS: usize = 20_000;
const EXPORT_PAGE: i64 = 2_000;

pub const CSV_HEADER: &str = "id,created_at,kind,provider,model,agent_id,input_tokens,output_tokens,cost_micros,cost_usd,trace_id,personality_id,personality_name\n";

/// The filtered ledger as CSV, newest first; `true` when it stopped at [`MAX_EXPORT_ROWS`].
pub async fn export_csv(
    pool: &PgPool,
    presets: &Presets,
    user_id: &str,
    filter: &LedgerFilter,
) -> Result<(String, bool), sqlx::Error> {
    let mut csv = String::from(CSV_HEADER);
    let mut cursor: Option<Cursor> = None;
    let mut rows = 0;
    loop {
        let page =
            account::ledger_page(pool, presets, user_id, filter, cursor.as_ref(), EXPORT_PAGE)
                .await?;
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) == EXPORT_PAGE;
        for entry in &page {
            if rows == MAX_EXPORT_ROWS {
                return Ok((csv, true));
            }
            write_row(&mut csv, entry);
            rows += 1;
        }
        match page.last() {
            Some(last) if full => {
                cursor = Some(Cursor {
                    created_at: last.created_at,
                    id: last.id.clone(),
                });
            }
            _ => return Ok((csv, false)),
        }
    }
}

fn write_row(csv: &mut String, entry: &LedgerEntry) {
    let usd = format_usd(entry.cost_micros);
    let fields = [
        field(&entry.id),
        entry
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        field(&entry.kind),
        field(entry.provider.as_deref().unwrap_or("")),
        field(entry.model.as_deref().unwrap_or("")),
        field(entry.agent_id.as_deref().unwrap_or("")),
        entry.input_tokens.to_string(),
        entry.output_tokens.to_string(),
        entry.cost_micros.to_string(),
        usd,
        field(entry.trace_id.as_deref().unwrap_or("")),
        field(entry.personality_id.as_deref().unwrap_or("")),
        field(entry.personality_name.as_deref().unwrap_or("")),
    ];
    let _ = writeln!(csv, "{}", fields.join(","));
}

/// Exact dollars from micros: `1234567` → `1.234567`.
pub fn format_usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a leading
/// `= + - @` is defused with a `'` so spreadsheets never run it as a formula.
pub fn field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_exact_to_the_micro() {
        assert_eq!(format_usd(1_234_567), "1.234567");
        assert_eq!(format_usd(5), "0.000005");
        assert_eq!(format_usd(0), "0.000000");
        assert_eq!(format_usd(-2_500_000), "-2.500000");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("gpt-4o"), "gpt-4o");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-1,2"), "\"'-1,2\"");
    }
}
