//! Runs the whole Helix API locally on HELIX_PORT (default 3001). Not deployed.

use helix_shared::startup::{self, Services};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let state = startup::init(Services::ALL).await?;
    local_gateway::serve(state).await?;
    Ok(())
}
