//! `budget-reconcile`: on an EventBridge schedule, refunds abandoned holds, checks every user's
//! balance against grants, ledger and holds (repairing drift when configured), and reports one
//! JSON summary plus CloudWatch metrics (Embedded Metric Format); issues allowance refills and
//! publishes budget alerts to SNS (`HELIX_ALERT_TOPIC_ARN`).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use helix_shared::budget::alerts::{self, AlertSink, SnsSink};
use helix_shared::budget::reconcile::{self, Options, Summary};
use helix_shared::state::Core;
use helix_shared::telemetry::cause_chain;
use lambda_runtime::LambdaEvent;

pub const FUNCTION_NAME: &str = "budget-reconcile";

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The database was unreachable or a statement failed: the next scheduled run can succeed.
    #[error("reconciliation failed against the database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The Lambda handler: one reconciliation run per scheduled event.
pub async fn handle(
    core: &Core,
    event: LambdaEvent<EventBridgeEvent>,
) -> Result<Summary, ReconcileError> {
    tracing::info!(request_id = %event.context.request_id, "budget reconciliation started");
    run_once(core).await
}

/// One run, as the schedule (or `helix-admin reconcile`) triggers it.
pub async fn run_once(core: &Core) -> Result<Summary, ReconcileError> {
    let options = Options {
        repair: core.config.reconcile.repair,
        idempotency_retention: core.config.reconcile.idempotency_retention,
    };
    let mut summary = reconcile::run(&core.db, &options)
        .await
        .inspect_err(|error| {
            tracing::error!(error.chain = %cause_chain(error), "budget reconciliation failed");
        })?;
    let sink = match &core.config.reconcile.alert_topic_arn {
        Some(arn) => Some(SnsSink::from_environment(arn.clone()).await),
        None => None,
    };
    summary.alerts_published =
        alerts::publish_pending(&core.db, sink.as_ref().map(|sink| sink as &dyn AlertSink))
            .await
            .inspect_err(|error| {
                tracing::error!(error.chain = %cause_chain(error), "budget alerts not published");
            })?;
    tracing::info!(
        users_checked = summary.users_checked,
        holds_released = summary.holds_released,
        holds_released_micros = summary.holds_released_micros,
        drifts_found = summary.drifts_found,
        drifts_repaired = summary.drifts_repaired,
        idempotency_keys_pruned = summary.idempotency_keys_pruned,
        idempotency_keys_freed = summary.idempotency_keys_freed,
        spend_locks_cleared = summary.spend_locks_cleared,
        refills_issued = summary.refills_issued,
        refilled_micros = summary.refilled_micros,
        alerts_published = summary.alerts_published,
        duration_ms = summary.duration_ms,
        "budget reconciliation finished"
    );
    // EMF must be a line of its own, not nested in a log event.
    println!(
        "{}",
        reconcile::emf_line(
            &summary,
            FUNCTION_NAME,
            chrono::Utc::now().timestamp_millis()
        )
    );
    Ok(summary)
}

/// Lambda's error report: `error_type` says whether a retry can help.
impl From<ReconcileError> for lambda_runtime::Diagnostic {
    fn from(error: ReconcileError) -> Self {
        let error_type = match error {
            ReconcileError::Database(_) => "Retryable.Database",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}
