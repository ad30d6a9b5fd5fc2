//! Demo data for a fresh database: one user per configured passcode (with an opening budget),
//! a persona, and an agent per provider. Idempotent: running it again changes nothing.

use sqlx::PgPool;

use crate::auth::settings::PasscodeEntry;
use crate::budget::ledger;
use crate::db::users;
use crate::ids::new_id;
use crate::money::MICROS_PER_CENT;
use crate::settings::{ConfigError, Sources, invalid, parse_or};

/// The agents every demo user starts with. `local` works with no API key (issue: embedded models).
const DEMO_AGENTS: [(&str, &str); 4] = [
    ("local", "smollm2-135m-instruct"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-haiku-4-5"),
    ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"),
];

const DEMO_PERSONA_NAME: &str = "Plain-spoken reviewer";
const DEMO_PERSONA_PROMPT: &str = "You review what the user shares (code, prose or a plan). \
Lead with the single most important problem, then list the rest in order of impact. \
Be specific, quote the exact line you mean, and suggest a concrete fix. Say so when it is good.";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub users_created: u64,
    pub personas_created: u64,
    pub agents_created: u64,
}

/// A user for each passcode (with the opening grant when new), a demo persona and agents.
pub async fn seed_demo_data(
    pool: &PgPool,
    passcodes: &[PasscodeEntry],
    seed: &SeedConfig,
) -> Result<SeedReport, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut report = SeedReport::default();
    for entry in passcodes {
        let (user, created) = users::ensure_user(&mut tx, &entry.email, entry.role).await?;
        if created && seed.opening_budget_cents > 0 {
            let micros = seed.opening_budget_cents.saturating_mul(MICROS_PER_CENT);
            ledger::grant(
                &mut *tx,
                &user.id,
                micros,
                "opening grant (demo seed)",
                None,
            )
            .await?;
        }
        report.users_created += u64::from(created);
        report.personas_created += insert_demo_persona(&mut tx, &user.id).await?;
        for (provider, model) in DEMO_AGENTS {
            report.agents_created += insert_agent(&mut tx, &user.id, provider, model).await?;
        }
    }
    tx.commit().await?;
    Ok(report)
}

async fn insert_demo_persona(
    tx: &mut sqlx::PgConnection,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO personas (id, user_id, name, prompt)
         SELECT $1, $2, $3, $4
         WHERE NOT EXISTS (SELECT 1 FROM personas WHERE user_id = $2 AND name = $3)",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(DEMO_PERSONA_NAME)
    .bind(DEMO_PERSONA_PROMPT)
    .execute(tx)
    .await?;
    Ok(result.rows_affected())
}

async fn insert_agent(
    tx: &mut sqlx::PgConnection,
    user_id: &str,
    provider: &str,
    model: &str,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO agents (id, user_id, provider, model)
         VALUES ($1, $2, $3::engine_provider, $4)
         ON CONFLICT ON CONSTRAINT agents_user_provider_model_key DO NOTHING",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(provider)
    .bind(model)
    .execute(tx)
    .await?;
    Ok(result.rows_affected())
}

#[derive(Debug, Clone)]
pub struct SeedConfig {
    pub opening_budget_cents: i64,
}

impl SeedConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let opening_budget_cents = parse_or(sources, "HELIX_SEED_BUDGET_CENTS", 1_000)?;
        if opening_budget_cents < 0 {
            return Err(invalid("HELIX_SEED_BUDGET_CENTS", "must not be negative"));
        }
        Ok(SeedConfig {
            opening_budget_cents,
        })
    }
}
