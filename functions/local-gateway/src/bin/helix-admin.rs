//! Operator commands:
//!   helix-admin migrate         apply the database migrations (idempotent)
//!   helix-admin seed            add the demo users, persona and agents (idempotent)
//!   helix-admin reconcile       run the scheduled budget reconciliation once
//!   helix-admin hash-passcode   read a passcode (1 to 72 bytes) from stdin, print its bcrypt hash
//!                               (for MASTER_PASS_HASH, FNBO_PASS_HASH or HELIX_PASSCODES)

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use helix_shared::auth::passcode::hash_passcode;
use helix_shared::db::{MIGRATOR, seed};
use helix_shared::startup;
use helix_shared::telemetry::cause_chain;

const USAGE: &str = "usage: helix-admin <migrate|seed|reconcile|hash-passcode [--cost N]>";
/// bcrypt cost for new passcode hashes: ~250 ms per check on a Lambda vCPU.
const DEFAULT_BCRYPT_COST: u32 = 12;

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["migrate"] => migrate().await,
        ["seed"] => seed().await,
        ["reconcile"] => reconcile().await,
        ["hash-passcode"] => print_passcode_hash(DEFAULT_BCRYPT_COST),
        ["hash-passcode", "--cost", cost] => match cost.parse() {
            Ok(cost) => print_passcode_hash(cost),
            Err(_) => Err("--cost must be a number from 4 to 31".into()),
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("helix-admin: {}", cause_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn migrate() -> Result<(), BoxError> {
    let state = startup::init_core().await?;
    MIGRATOR.run(&state.db).await?;
    helix_shared::memory::schema::prepare(&state.db, &state.config.embeddings).await?;
    tracing::info!(migrations = MIGRATOR.iter().count(), "database migrated");
    Ok(())
}

async fn seed() -> Result<(), BoxError> {
    let state = startup::init_core().await?;
    let report =
        seed::seed_demo_data(&state.db, &state.config.auth.passcodes, &state.config.seed).await?;
    tracing::info!(
        users_created = report.users_created,
        personas_created = report.personas_created,
        agents_created = report.agents_created,
        "demo data seeded"
    );
    Ok(())
}

async fn reconcile() -> Result<(), BoxError> {
    let state = startup::init_core().await?;
    budget_reconcile::run_once(&state).await?;
    Ok(())
}

/// The passcode comes from stdin (never argv, which other users can see in `ps`); at a terminal
/// it is read without echo.
fn print_passcode_hash(cost: u32) -> Result<(), BoxError> {
    let passcode = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Passcode: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    // Refuses a passcode over bcrypt's 72 bytes, which it would otherwise cut without a word.
    println!("{}", hash_passcode(&passcode, cost)?);
    Ok(())
}
