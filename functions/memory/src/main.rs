//! Lambda entry point: /v1/memory/documents and /v1/memory/search.

use helix_shared::startup::{self, Services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let services = Services {
        memory: true,
        ..Services::default()
    };
    let state = startup::init(services).await?;
    lambda_http::run(memory::app(state)).await
}
