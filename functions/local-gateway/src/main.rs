//! Runs the whole Helix API locally on HELIX_PORT (default 3001). Not deployed.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let state = helix_shared::startup::init().await?;
    helix_shared::startup::check_memory(&state).await?;
    local_gateway::serve(state).await?;
    Ok(())
}
