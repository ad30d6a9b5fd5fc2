//! Lambda entry point: /v1/personas.

use helix_shared::startup::{self, Services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let services = Services {
        avatars: true,
        ..Services::default()
    };
    let state = startup::init(services).await?;
    lambda_http::run(personas::app(state)).await
}
