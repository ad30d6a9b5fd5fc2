//! The demo seed: one user per configured passcode, a persona and agents; running it twice is a no-op.

use helix_shared::db::seed::{SeedReport, seed_demo_data};
use helix_tests::config_with;
use sqlx::PgPool;

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn seeding_creates_a_user_per_passcode_with_budget_persona_and_agents(pool: PgPool) {
    let config = config_with(&[("HELIX_SEED_BUDGET_CENTS", "2500")]);
    let report = seed_demo_data(&pool, &config.auth.passcodes, &config.seed)
        .await
        .unwrap();
    assert_eq!(report.users_created, 2);
    assert_eq!(report.personas_created, 2);
    assert_eq!(report.agents_created, 8);

    let users: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT email, budget_cents, role::text FROM users ORDER BY email")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        users,
        vec![
            ("fnbo@helix.local".to_owned(), 2500, "user".to_owned()),
            ("master@helix.local".to_owned(), 2500, "admin".to_owned()),
        ]
    );
    let providers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT provider::text FROM agents WHERE status = 'active' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(providers, ["anthropic", "bedrock", "local", "openai"]);

    let state = helix_tests::state(pool.clone());
    let agents: Vec<(String, String)> = sqlx::query_as("SELECT provider::text, model FROM agents")
        .fetch_all(&pool)
        .await
        .unwrap();
    for (provider, model) in agents {
        assert!(
            state.prices.price(&provider, &model).is_ok(),
            "seeded agent {provider}/{model} has no price"
        );
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn seeding_twice_changes_nothing_and_keeps_spent_budgets(pool: PgPool) {
    let config = config_with(&[]);
    seed_demo_data(&pool, &config.auth.passcodes, &config.seed)
        .await
        .unwrap();
    // As if the user had spent all but 7 cents of the opening grant.
    sqlx::query("UPDATE users SET balance_micros = 70000 WHERE email = 'fnbo@helix.local'")
        .execute(&pool)
        .await
        .unwrap();

    let second = seed_demo_data(&pool, &config.auth.passcodes, &config.seed)
        .await
        .unwrap();

    assert_eq!(second, SeedReport::default());
    let budget: i64 =
        sqlx::query_scalar("SELECT budget_cents FROM users WHERE email = 'fnbo@helix.local'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(budget, 7);
    let grants: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_grants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(grants, 2, "one opening grant per user, never a second");
}
