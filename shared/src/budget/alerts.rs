//! Budget alerts: spend crossing a policy's threshold (raised inside the settlement statement),
//! reconciliation drift and repeated provider failures, each recorded once per key. Every alert
//! is a CloudWatch EMF metric line when raised; reconciliation publishes them to SNS (an outbox:
//! `published_at`), or only logs them when no topic is configured.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{FromRow, PgExecutor, PgPool};

use super::ledger::FiredAlert;
use crate::ids::new_id;

/// An alert as the API and the SNS message show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, FromRow)]
pub struct Alert {
    pub id: String,
    pub user_id: Option<String>,
    /// `allowance_threshold`, `cap_threshold`, `reconcile_drift` or `provider_failures`.
    pub kind: String,
    /// What makes it once-only: the period (`monthly:2026-12-01`), or the window of failures.
    pub alert_key: String,
    pub spent_micros: Option<i64>,
    pub limit_micros: Option<i64>,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

/// The metric line for one alert: printed alone on stdout, CloudWatch Logs makes it a metric.
pub fn emf_line(kind: &str, timestamp_ms: i64) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Helix",
                "Dimensions": [["AlertKind"]],
                "Metrics": [{"Name": "BudgetAlerts", "Unit": "Count"}],
            }],
        },
        "AlertKind": kind,
        "BudgetAlerts": 1,
    })
    .to_string()
}

fn emit_metric(kind: &str) {
    // EMF must be a line of its own, not nested in a log event.
    println!("{}", emf_line(kind, Utc::now().timestamp_millis()));
}

/// Logs and meters the spend alerts a settlement raised.
pub fn announce_spend(user_id: &str, alerts: &[FiredAlert]) {
    for alert in alerts {
        tracing::warn!(
            user_id,
            kind = %alert.kind,
            alert_key = %alert.alert_key,
            spent_micros = alert.spent_micros,
            limit_micros = alert.limit_micros,
            "budget alert"
        );
        emit_metric(&alert.kind);
    }
}

/// Records an alert unless one with this user, kind and key exists; `true` when it is new (and
/// then logged and metered).
pub async fn raise(
    db: impl PgExecutor<'_>,
    user_id: Option<&str>,
    kind: &str,
    alert_key: &str,
    details: Value,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO budget_alerts (id, user_id, kind, alert_key, details)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(kind)
    .bind(alert_key)
    .bind(&details)
    .execute(db)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        tracing::warn!(user_id, kind, alert_key, %details, "budget alert");
        emit_metric(kind);
    }
    Ok(inserted)
}

const ALERT_COLUMNS: &str =
    "id, user_id, kind, alert_key, spent_micros, limit_micros, details, created_at";

/// A user's alerts raised since `since`, newest first (the web banner shows this period's).
pub async fn for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Alert>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE user_id = $1 AND created_at >= $2
         ORDER BY created_at DESC, id DESC LIMIT 20"
    )))
    .bind(user_id)
    .bind(since)
    .fetch_all(db)
    .await
}

/// Provider failures within one window that raise a `provider_failures` alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRule {
    pub threshold: u32,
    pub window_secs: u32,
}

impl FailureRule {
    pub const DEFAULT: FailureRule = FailureRule {
        threshold: 5,
        window_secs: 300,
    };
}

/// Counts one failed provider call in its fixed window (one statement) and raises the alert when
/// the count reaches the threshold: once per provider and window. Only failures pay this write.
pub async fn note_provider_failure(
    db: &PgPool,
    provider: &str,
    rule: FailureRule,
) -> Result<(), sqlx::Error> {
    let row: Option<(i32, DateTime<Utc>)> = sqlx::query_as(
        "INSERT INTO provider_failure_windows (provider, window_start, failures)
         VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), 1)
         ON CONFLICT (provider, window_start) DO UPDATE
             SET failures = provider_failure_windows.failures + 1
         RETURNING failures, window_start",
    )
    .bind(provider)
    .bind(f64::from(rule.window_secs.max(1)))
    .fetch_optional(db)
    .await?;
    if let Some((failures, window_start)) = row
        && u32::try_from(failures).unwrap_or_default() == rule.threshold
    {
        let key = format!("{provider}:{}", window_start.to_rfc3339());
        raise(
            db,
            None,
            "provider_failures",
            &key,
            json!({ "provider": provider, "failures": failures, "window_secs": rule.window_secs }),
        )
        .await?;
    }
    Ok(())
}

/// Where alerts are published.
#[async_trait::async_trait]
pub trait AlertSink: Send + Sync {
    async fn publish(&self, alert: &Alert) -> Result<(), String>;
}

/// Amazon SNS: one message per alert, with its kind as a message attribute for subscriptions'
/// filter policies.
pub struct SnsSink {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl SnsSink {
    /// A client from the environment's AWS configuration (`AWS_ENDPOINT_URL` reaches moto in tests).
    pub async fn from_environment(topic_arn: String) -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        SnsSink {
            client: aws_sdk_sns::Client::new(&sdk),
            topic_arn,
        }
    }
}

#[async_trait::async_trait]
impl AlertSink for SnsSink {
    async fn publish(&self, alert: &Alert) -> Result<(), String> {
        let message = serde_json::to_string(alert).map_err(|e| e.to_string())?;
        let kind = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&alert.kind)
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(format!("Helix budget alert: {}", alert.kind))
            .message(message)
            .message_attributes("kind", kind)
            .send()
            .await
            .map_err(|e| crate::telemetry::cause_chain(&e))?;
        Ok(())
    }
}

/// Publishes every alert not yet published, oldest first, marking each when sent. With no sink
/// (local use) they are marked as logged. Returns how many were published.
pub async fn publish_pending(
    pool: &PgPool,
    sink: Option<&dyn AlertSink>,
) -> Result<u64, sqlx::Error> {
    let pending: Vec<Alert> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ALERT_COLUMNS} FROM budget_alerts WHERE published_at IS NULL
         ORDER BY created_at, id LIMIT 500"
    )))
    .fetch_all(pool)
    .await?;
    let mut published = 0;
    for alert in pending {
        match sink {
            Some(sink) => {
                if let Err(error) = sink.publish(&alert).await {
                    tracing::error!(alert_id = %alert.id, error = %error, "could not publish a budget alert; the next run retries");
                    continue;
                }
            }
            None => {
                tracing::info!(alert_id = %alert.id, kind = %alert.kind, "budget alert (no topic configured: logged only)")
            }
        }
        sqlx::query("UPDATE budget_alerts SET published_at = now() WHERE id = $1")
            .bind(&alert.id)
            .execute(pool)
            .await?;
        published += 1;
    }
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emf_line_declares_the_alert_metric_with_its_kind() {
        let line: Value = serde_json::from_str(&emf_line("cap_threshold", 1)).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "BudgetAlerts"
        );
        assert_eq!(line["AlertKind"], "cap_threshold");
        assert_eq!(line["BudgetAlerts"], 1);
    }
}
