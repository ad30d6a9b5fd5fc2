//! Lambda entry point: the scheduled (EventBridge) budget reconciliation.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let core = helix_shared::startup::init_core().await?;
    let handler = |event: LambdaEvent<_>| budget_reconcile::handle(&core, event);
    lambda_runtime::run(service_fn(handler)).await
}
