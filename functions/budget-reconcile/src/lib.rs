//! `budget-reconcile`: runs on an EventBridge schedule to release expired holds and check every
//! user's balance against grants, ledger and holds. The ledger arrives with the Turns release.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use helix_shared::AppState;
use lambda_runtime::LambdaEvent;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ReconcileSummary {
    pub users_checked: u64,
    pub holds_released: u64,
    pub drifts_found: u64,
    pub drifts_repaired: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Not retryable: there is nothing to reconcile until budget holds exist.
    #[error("budget reconciliation is not implemented yet (it needs the budget ledger)")]
    NotImplemented,
}

pub async fn handle(
    _state: &AppState,
    event: LambdaEvent<EventBridgeEvent>,
) -> Result<ReconcileSummary, ReconcileError> {
    tracing::warn!(
        request_id = %event.context.request_id,
        "budget reconciliation was invoked but is not implemented yet"
    );
    Err(ReconcileError::NotImplemented)
}

/// Lambda's error report: `error_type` says whether a retry can help.
impl From<ReconcileError> for lambda_runtime::Diagnostic {
    fn from(error: ReconcileError) -> Self {
        let error_type = match error {
            ReconcileError::NotImplemented => "Permanent.NotImplemented",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}
