//! Lambda entry point: /v1/personas.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = helix_shared::startup::init().await?;
    lambda_http::run(personas::app(state)).await
}
