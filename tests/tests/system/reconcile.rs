//! Budget reconciliation: abandoned holds are refunded, drift is found (and repaired when asked),
//! a second run changes nothing, and running beside live turns never breaks the ledger.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::budget::ledger::{self, HoldRequest, ReserveOutcome};
use helix_shared::budget::reconcile::{self, Options};
use helix_shared::pricing::Price;
use helix_tests::{OpenAiReply, authorised, config_with, send, signed_in_user, state, state_with};
use serde_json::json;
use sqlx::PgPool;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const REPORT: Options = Options {
    repair: false,
    idempotency_retention: Duration::from_secs(86_400),
};
const REPAIR: Options = Options {
    repair: true,
    idempotency_retention: Duration::from_secs(86_400),
};

async fn expected_balance(pool: &PgPool, user_id: &str) -> i64 {
    reconcile::expected_balance_micros(pool, user_id)
        .await
        .unwrap()
}

/// A 200-micro hold that expires after 20 ms, as a call that crashed leaves one.
async fn hold_briefly(pool: &PgPool, user_id: &str) {
    let price = Price {
        input_per_mtok_micros: 1_000_000,
        cached_input_per_mtok_micros: 0,
        output_per_mtok_micros: 1_000_000,
    };
    let request = HoldRequest {
        user_id,
        agent_id: None,
        trace_id: "t",
        price,
        input_bound: 100,
        requested_max_tokens: 100,
        ttl: Duration::from_millis(20),
        limits: helix_shared::budget::rules::CallLimits::DEFAULT,
        api_key_id: None,
    };
    let ReserveOutcome::Held(_) = ledger::reserve(pool, &request).await.unwrap() else {
        panic!("not held")
    };
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_hold_past_its_expiry_is_refunded(pool: PgPool) {
    let state = state(pool.clone());
    let (user, _) = signed_in_user(&state, "crashed@example.com").await;
    ledger::grant(&pool, &user.id, 1_000_000, "test", None)
        .await
        .unwrap();
    hold_briefly(&pool, &user.id).await;
    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        1_000_000 - 200
    );
    tokio::time::sleep(Duration::from_millis(50)).await;

    let summary = reconcile::run(&pool, &REPORT).await.unwrap();

    assert_eq!(
        (summary.holds_released, summary.holds_released_micros),
        (1, 200)
    );
    assert_eq!(summary.drifts_found, 0);
    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        1_000_000
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_local_gateways_timer_refunds_an_expired_hold_without_being_asked(pool: PgPool) {
    let state = state(pool.clone());
    let (user, _) = signed_in_user(&state, "timer@example.com").await;
    ledger::grant(&pool, &user.id, 1_000_000, "test", None)
        .await
        .unwrap();
    hold_briefly(&pool, &user.id).await;

    let timer = tokio::spawn(reconcile::run_periodically(
        pool.clone(),
        REPORT,
        Duration::from_millis(100),
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    timer.abort();

    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        1_000_000,
        "the hold was refunded by the timer"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_calls_in_flight_counter_that_drifted_is_set_right(pool: PgPool) {
    let state = state(pool.clone());
    let (user, _) = signed_in_user(&state, "counted@example.com").await;
    sqlx::query("UPDATE users SET calls_in_flight = 7 WHERE id = $1")
        .bind(&user.id)
        .execute(&pool)
        .await
        .unwrap();

    reconcile::run(&pool, &REPORT).await.unwrap();

    let in_flight: i32 = sqlx::query_scalar("SELECT calls_in_flight FROM users WHERE id = $1")
        .bind(&user.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(in_flight, 0, "no open hold, so no call in flight");
}

#[test]
fn the_local_reconcile_interval_defaults_to_five_minutes_and_can_be_turned_off() {
    use helix_shared::budget::reconcile::ReconcileConfig;
    use helix_shared::settings::Sources;
    let default = ReconcileConfig::from_sources(&Sources::from_pairs(&[])).unwrap();
    assert_eq!(default.local_interval, Some(Duration::from_secs(300)));
    let off = Sources::from_pairs(&[("HELIX_LOCAL_RECONCILE_EVERY", "off")]);
    assert_eq!(
        ReconcileConfig::from_sources(&off).unwrap().local_interval,
        None
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_corrupted_balance_is_reported_then_repaired_and_a_second_run_is_a_no_op(pool: PgPool) {
    let state = state(pool.clone());
    let (user, _) = signed_in_user(&state, "drifted@example.com").await;
    let (other, _) = signed_in_user(&state, "fine@example.com").await;
    for id in [&user.id, &other.id] {
        ledger::grant(&pool, id, 500_000, "test", None)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE users SET balance_micros = balance_micros + 777 WHERE id = $1")
        .bind(&user.id)
        .execute(&pool)
        .await
        .unwrap();

    let reported = reconcile::run(&pool, &REPORT).await.unwrap();
    assert_eq!(
        (
            reported.users_checked,
            reported.drifts_found,
            reported.drifts_repaired
        ),
        (2, 1, 0)
    );
    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        500_777,
        "reporting changes nothing"
    );

    let repaired = reconcile::run(&pool, &REPAIR).await.unwrap();
    assert_eq!((repaired.drifts_found, repaired.drifts_repaired), (1, 1));
    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        500_000
    );
    let audit: (String, i64, i64) = sqlx::query_as(
        "SELECT user_id, balance_before_micros, balance_after_micros FROM budget_audit WHERE kind = 'drift_repaired'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audit, (user.id.clone(), 500_777, 500_000));

    let again = reconcile::run(&pool, &REPAIR).await.unwrap();
    assert_eq!(
        (
            again.holds_released,
            again.drifts_found,
            again.drifts_repaired
        ),
        (0, 0, 0)
    );
    let audits: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_audit")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(audits, 1);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn old_idempotency_keys_are_forgotten(pool: PgPool) {
    let state = state(pool.clone());
    let (user, _) = signed_in_user(&state, "keys@example.com").await;
    sqlx::query(
        "INSERT INTO turn_idempotency (user_id, key, request_hash, response, created_at) VALUES
         ($1, 'old', 'h', '{}', now() - interval '2 days'), ($1, 'new', 'h', '{}', now()),
         ($1, 'crashed', 'h', NULL, now() - interval '2 hours'), ($1, 'running', 'h', NULL, now())",
    )
    .bind(&user.id)
    .execute(&pool)
    .await
    .unwrap();
    let summary = reconcile::run(&pool, &REPORT).await.unwrap();
    assert_eq!(
        summary.idempotency_keys_pruned, 2,
        "the old key and the crashed turn's key"
    );
}

/// An answer 5 ms late, so turns overlap the reconciler.
struct DelayedReply(OpenAiReply);

impl Respond for DelayedReply {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        self.0.respond(request).set_delay(Duration::from_millis(5))
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn reconciling_beside_fifty_live_turns_finds_no_drift_and_keeps_the_invariant(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(DelayedReply(OpenAiReply::text("ok", 30, 10)))
        .mount(&provider)
        .await;
    let local = format!("{}/v1", provider.uri());
    let state = state_with(
        pool.clone(),
        &[
            ("HELIX_LOCAL_BASE_URL", &local),
            ("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000"),
            ("HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", "1000000"),
        ],
    );
    let (user, token) = signed_in_user(&state, "busy@example.com").await;
    ledger::grant(&pool, &user.id, 100_000_000, "test", None)
        .await
        .unwrap();
    sqlx::query("INSERT INTO agents (id, user_id, provider, model) VALUES ('agentbusy0001', $1, 'local', 'llama3.2')")
        .bind(&user.id)
        .execute(&pool)
        .await
        .unwrap();
    let app = local_gateway::app(state);
    let body = json!({"engine": "local", "personalityId": "helix-assistant", "messages": [{"role": "user", "content": "hi"}], "overrides": {"max_tokens": 50}});

    let turns: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let request = Request::post("/v1/turns")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let request = authorised(request, &token);
            tokio::spawn(async move { send(&app, request).await.status })
        })
        .collect();
    let reconciler = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut drifts = 0;
            for _ in 0..10 {
                drifts += reconcile::run(&pool, &REPAIR).await.unwrap().drifts_found;
            }
            drifts
        })
    };
    for turn in turns {
        assert_eq!(turn.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        reconciler.await.unwrap(),
        0,
        "a live turn was mistaken for drift"
    );
    assert_eq!(
        ledger::balance_micros(&pool, &user.id).await.unwrap(),
        expected_balance(&pool, &user.id).await
    );
    let ledger_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(ledger_rows, 50);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_lambda_handler_runs_one_reconciliation_per_event(pool: PgPool) {
    let state = helix_shared::AppState::new(config_with(&[]), pool).unwrap();
    let event = lambda_runtime::LambdaEvent::new(
        aws_lambda_events::eventbridge::EventBridgeEvent::default(),
        lambda_runtime::Context::default(),
    );
    let summary = budget_reconcile::handle(&state.core(), event)
        .await
        .unwrap();
    assert_eq!(summary.drifts_found, 0);
}
