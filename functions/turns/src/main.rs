//! Lambda entry point: POST /v1/turns, GET /v1/personalities.

use helix_shared::startup::{self, Services};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // Avatars: the personality picker shows presigned avatar URLs.
    let services = Services {
        avatars: true,
        xray: true,
        memory: true,
    };
    let state = startup::init(services).await?;
    // Streamed: a turn's answer goes out as it is generated (the REST API's streaming integration).
    lambda_http::run_with_streaming_response(turns::app(state)).await
}
