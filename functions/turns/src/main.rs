//! Lambda entry point: POST /v1/turns, GET /v1/personalities.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = helix_shared::startup::init().await?;
    lambda_http::run(turns::app(state)).await
}
