//! The pool lends a connection used moments ago without pinging it (one round trip less per
//! query), and pings, and replaces, one that sat idle past `HELIX_DB_PING_AFTER_IDLE`.

use helix_shared::db;
use helix_tests::config_with;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A one-connection pool built by Helix's own pool settings, whose connection the server has
/// since killed (as a failover or an idle timeout would).
async fn helix_pool_with_a_dead_connection(
    ping_after_idle: &str,
    options: PgPoolOptions,
    connect: PgConnectOptions,
) -> PgPool {
    let admin = options.connect_with(connect.clone()).await.unwrap();
    let config = config_with(&[
        ("HELIX_DB_PING_AFTER_IDLE", ping_after_idle),
        ("HELIX_DB_MAX_CONNECTIONS", "1"),
    ]);
    let pool = db::pool_options(&config.database).connect_lazy_with(connect);
    kill_pooled_connection(&pool, &admin).await;
    pool
}

/// Kills the server side of the pool's one connection.
async fn kill_pooled_connection(pool: &PgPool, admin: &PgPool) {
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .unwrap();
    // sqlx pings a connection as it goes back to the pool; let that finish first.
    while pool.num_idle() < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(terminated, "backend {pid} did not exit");
}

async fn select_one(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT 1").fetch_one(pool).await
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_connection_idle_past_the_threshold_is_pinged_and_a_dead_one_replaced_unseen(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = helix_pool_with_a_dead_connection("0s", options, connect).await;

    assert_eq!(select_one(&pool).await.unwrap(), 1);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_recently_used_connection_is_lent_without_a_ping(
    options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = helix_pool_with_a_dead_connection("1h", options, connect).await;

    // Not pinged, so the dead connection reaches the query (this is the round trip saved)...
    assert!(select_one(&pool).await.is_err());
    // ...and is dropped for it: the next query gets a fresh one.
    assert_eq!(select_one(&pool).await.unwrap(), 1);
}

#[test]
fn the_ping_threshold_is_configurable_and_defaults_to_ten_seconds() {
    assert_eq!(
        config_with(&[]).database.ping_after_idle,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(
        config_with(&[("HELIX_DB_PING_AFTER_IDLE", "250ms")])
            .database
            .ping_after_idle,
        std::time::Duration::from_millis(250)
    );
}
