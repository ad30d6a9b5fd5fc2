//! Lambda entry point: POST /v1/turns, GET /v1/personalities, and the OpenAI-compatible
//! POST /v1/chat/completions, GET /v1/models, POST /v1/embeddings.

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
