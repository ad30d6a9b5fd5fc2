//! Usage views: the caller's spend aggregated by day, model, engine or personality
//! (GET /v1/budget/summary) and their filtered ledger as CSV (GET /v1/budget/export.csv).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use helix_shared::auth::AuthUser;
use helix_shared::budget::period;
use helix_shared::budget::policy as budget_policy;
use helix_shared::budget::usage::{self, Group, GroupBy, StackBy};
use helix_shared::http::ApiQuery;
use helix_shared::money::cost_cents;
use helix_shared::pagination;
use helix_shared::{ApiError, AppState};
use serde::{Deserialize, Serialize};

use crate::{BudgetQuery, ledger_filter};

/// The widest window one summary covers.
pub const MAX_SUMMARY_DAYS: i64 = 400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Inclusive start (RFC 3339); the current period's start when absent.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end (RFC 3339); the current period's end when absent.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    pub group_by: GroupBy,
    /// With `group_by=day`: each day split by model or engine (stacked bars).
    #[serde(default)]
    pub stack_by: Option<StackBy>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: GroupBy,
    pub stack_by: Option<StackBy>,
    /// The time zone the days are in: the user's policy's (UTC without one).
    pub time_zone: String,
    pub groups: Vec<Group>,
    pub total: Total,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Total {
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub cost_cents: i64,
}

pub async fn get_summary(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> Result<Json<SummaryResponse>, ApiError> {
    if query.stack_by.is_some() && query.group_by != GroupBy::Day {
        return Err(ApiError::bad_request(
            "stack_by: applies only to group_by=day",
        ));
    }
    for (field, at) in [("from", query.from), ("to", query.to)] {
        if at.is_some_and(|at| !pagination::is_storable(&at)) {
            return Err(ApiError::bad_request(format!(
                "{field}: must be a time in the years 1 to 9999"
            )));
        }
    }
    let policy = budget_policy::effective(&state.db, &user.id).await?;
    let now = Utc::now();
    let window = policy
        .as_ref()
        .and_then(|p| p.window(now))
        .unwrap_or_else(|| period::default_window(now));
    let from = query.from.unwrap_or(window.start);
    let to = query.to.unwrap_or(window.end);
    if from >= to {
        return Err(ApiError::bad_request("from: must be before to"));
    }
    if to - from > TimeDelta::days(MAX_SUMMARY_DAYS) {
        return Err(ApiError::bad_request(format!(
            "to: at most {MAX_SUMMARY_DAYS} days after from"
        )));
    }
    let time_zone = policy.map_or_else(|| "UTC".to_owned(), |p| p.time_zone);
    let groups = usage::summarise(
        &state.db,
        &state.presets,
        &user.id,
        from..to,
        query.group_by,
        query.stack_by,
        &time_zone,
    )
    .await?;
    let total = groups.iter().fold(
        Total {
            calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost_micros: 0,
            cost_cents: 0,
        },
        |mut total, group| {
            total.calls += group.calls;
            total.input_tokens += group.input_tokens;
            total.output_tokens += group.output_tokens;
            total.cost_micros += group.cost_micros;
            total
        },
    );
    Ok(Json(SummaryResponse {
        from,
        to,
        group_by: query.group_by,
        stack_by: query.stack_by,
        time_zone,
        groups,
        total: Total {
            cost_cents: cost_cents(total.cost_micros),
            ..total
        },
    }))
}

/// The filtered ledger (the filters of `GET /v1/budget`) as a CSV download.
pub async fn export_csv(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<BudgetQuery>,
) -> Result<Response, ApiError> {
    if query.limit.is_some() || query.cursor.is_some() {
        return Err(ApiError::bad_request(
            "limit, cursor: the export holds the whole filtered ledger; narrow it with from, to and agent_id",
        ));
    }
    let filter = ledger_filter(&query)?;
    let (csv, truncated) = usage::export_csv(&state.db, &state.presets, &user.id, &filter).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"helix-ledger.csv\"",
            ),
            (
                header::HeaderName::from_static("helix-export-truncated"),
                if truncated { "true" } else { "false" },
            ),
        ],
        csv,
    )
        .into_response())
}
