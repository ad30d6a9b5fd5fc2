//! Lambda entry point: applies the database migrations (invoked by the deploy workflow, no route).

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let core = helix_shared::startup::init_core().await?;
    let handler = |event: LambdaEvent<_>| db_migrate::handle(&core, event);
    lambda_runtime::run(service_fn(handler)).await
}
