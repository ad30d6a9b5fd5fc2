//! Lambda entry point: POST /auth/verify.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = helix_shared::startup::init().await?;
    lambda_http::run(auth_verify::app(state)).await
}
