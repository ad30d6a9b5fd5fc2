//! Lambda entry point: /v1/conversations.

use helix_shared::startup::{self, Services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = startup::init(Services::default()).await?;
    lambda_http::run(conversations::app(state)).await
}
