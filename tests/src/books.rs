//! The money checks every money-moving test ends with: the invariant and the holds left open.

use helix_shared::budget::ledger;
use helix_shared::budget::reconcile::expected_balance_micros;
use sqlx::PgPool;

/// Σ grants − Σ ledger − Σ open holds = balance, for every user.
pub async fn assert_invariant(pool: &PgPool) {
    let users: Vec<String> = sqlx::query_scalar("SELECT id FROM users")
        .fetch_all(pool)
        .await
        .unwrap();
    for user in users {
        let balance = ledger::balance_micros(pool, &user).await.unwrap();
        let expected = expected_balance_micros(pool, &user).await.unwrap();
        assert_eq!(balance, expected, "ledger invariant broken for {user}");
    }
}

/// Holds not yet settled or released, of every user.
pub async fn open_holds(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM budget_holds")
        .fetch_one(pool)
        .await
        .unwrap()
}
