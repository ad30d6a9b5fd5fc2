//! Operator commands: `helix-admin migrate` applies the migrations, `helix-admin seed` adds the
//! demo users, persona and agents. Both are idempotent.

use std::process::ExitCode;

use helix_shared::db::{MIGRATOR, seed};
use helix_shared::error::cause_chain;
use helix_shared::startup;

const USAGE: &str = "usage: helix-admin <migrate|seed>";

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    if !matches!(command.as_str(), "migrate" | "seed") {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match run(&command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(command, error.chain = %cause_chain(error.as_ref()), "command failed");
            eprintln!("helix-admin {command}: {}", cause_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str) -> Result<(), Box<dyn std::error::Error>> {
    let state = startup::init().await?;
    match command {
        "migrate" => {
            MIGRATOR.run(&state.db).await?;
            tracing::info!(migrations = MIGRATOR.iter().count(), "database migrated");
        }
        _ => {
            let report = seed::seed_demo_data(&state.db, &state.config).await?;
            tracing::info!(
                users_created = report.users_created,
                personas_created = report.personas_created,
                agents_created = report.agents_created,
                "demo data seeded"
            );
        }
    }
    Ok(())
}
