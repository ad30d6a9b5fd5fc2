//! Lambda entry point: /v1/memory/documents and /v1/memory/search.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = helix_shared::startup::init().await?;
    helix_shared::startup::check_memory(&state).await?;
    lambda_http::run(memory::app(state)).await
}
