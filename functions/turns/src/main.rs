//! Lambda entry point: POST /v1/turns, GET /v1/personalities.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = helix_shared::startup::init().await?;
    helix_shared::startup::check_memory(&state).await?;
    lambda_http::run(turns::app(state)).await
}
