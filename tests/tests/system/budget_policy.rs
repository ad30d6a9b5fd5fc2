//! Budget policies: allowances refilled exactly once per period, spending caps and call/token
//! limits enforced by the reservation under 200 concurrent calls, alerts once per period (and to
//! SNS on moto), usage summaries equal to the ledger, the CSV export, and the admin routes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use helix_shared::AppState;
use helix_shared::budget::alerts::{self, SnsSink};
use helix_shared::budget::ledger::{self, CallLimit, Hold, HoldRequest, ReserveOutcome};
use helix_shared::budget::policy::{self, PolicyRequest, Scope};
use helix_shared::budget::refill::refill_due;
use helix_shared::budget::rules::CallLimits;
use helix_shared::db::personas;
use helix_shared::db::users::ensure_user;
use helix_shared::ids::new_id;
use helix_shared::pricing::Price;
use helix_shared::user::UserRole;
use helix_tests::{
    MotoServer, OpenAiReply, add_agent, assert_invariant, authorised, config_with, fake_aws_config,
    get, json_request, send, signed_in_user, state,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

/// $1 per million tokens in and out: a call's hold is its token count in micros.
const PRICE: Price = Price {
    input_per_mtok_micros: 1_000_000,
    cached_input_per_mtok_micros: 1_000_000,
    output_per_mtok_micros: 1_000_000,
};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

async fn admin(state: &AppState) -> (String, String) {
    let mut db = state.db.acquire().await.unwrap();
    let (user, _) = ensure_user(&mut db, "admin@example.com", UserRole::Admin)
        .await
        .unwrap();
    let token = state
        .tokens
        .issue(&user.id, Utc::now().timestamp())
        .unwrap()
        .token;
    (user.id, token)
}

async fn set_policy(pool: &PgPool, scope: Scope<'_>, request: Value, by: &str) {
    let request: PolicyRequest = serde_json::from_value(request).unwrap();
    policy::put(pool, scope, &request.parse().unwrap(), by)
        .await
        .unwrap();
}

async fn user(pool: &PgPool, email: &str) -> String {
    let mut db = pool.acquire().await.unwrap();
    ensure_user(&mut db, email, UserRole::User)
        .await
        .unwrap()
        .0
        .id
}

async fn grants(pool: &PgPool, user_id: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT amount_micros FROM budget_grants WHERE user_id = $1 AND reason LIKE 'allowance refill%'
         ORDER BY created_at, id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn hold_request(user_id: &str, input: u64, max_tokens: u32) -> HoldRequest<'_> {
    HoldRequest {
        user_id,
        agent_id: None,
        trace_id: "policy-test",
        price: PRICE,
        input_bound: input,
        requested_max_tokens: max_tokens,
        ttl: Duration::from_secs(120),
        limits: CallLimits::UNLIMITED,
        api_key_id: None,
    }
}

/// 200 reservations at once; the holds and every refusal.
async fn reserve_200(
    pool: &PgPool,
    user_id: &str,
    input: u64,
    max_tokens: u32,
) -> Vec<ReserveOutcome> {
    let calls = (0..200).map(|_| {
        let (pool, user_id) = (pool.clone(), user_id.to_owned());
        tokio::spawn(async move {
            ledger::reserve(&pool, &hold_request(&user_id, input, max_tokens))
                .await
                .unwrap()
        })
    });
    let mut outcomes = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        outcomes.push(call.await.unwrap());
    }
    outcomes
}

fn held(outcomes: &[ReserveOutcome]) -> Vec<Hold> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            ReserveOutcome::Held(hold) => Some(hold.clone()),
            _ => None,
        })
        .collect()
}

/// Waits out the end of a minute, so a per-minute test runs within one window.
async fn early_in_a_minute() {
    let second = Utc::now().timestamp() % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
}

async fn ledger_rows(pool: &PgPool, user_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_ledger WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

// ---------------------------------------------------------------- refills

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_refill_is_issued_once_per_period_across_repeated_and_concurrent_runs(pool: PgPool) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let users = [
        user(&pool, "a@example.com").await,
        user(&pool, "b@example.com").await,
    ];
    set_policy(
        &pool,
        Scope::Default,
        json!({"allowance_cents": 2000, "period": "monthly", "refill_rule": "add"}),
        &admin_id,
    )
    .await;
    let now = at("2026-12-10T12:00:00Z");

    for _ in 0..3 {
        refill_due(&pool, now).await.unwrap();
    }
    let concurrent: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { refill_due(&pool, now).await.unwrap() })
        })
        .collect();
    for run in concurrent {
        run.await.unwrap();
    }

    for user_id in &users {
        assert_eq!(grants(&pool, user_id).await, vec![20_000_000], "{user_id}");
        let (key, by): (String, Option<String>) = sqlx::query_as(
            "SELECT r.period_key, g.granted_by FROM budget_refills r JOIN budget_grants g ON g.id = r.grant_id
             WHERE r.user_id = $1",
        )
        .bind(user_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(key, "monthly:2026-12-01");
        assert_eq!(
            by.as_deref(),
            Some(admin_id.as_str()),
            "recorded with who configured it"
        );
    }
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn refills_follow_month_ends_leap_days_and_keep_their_period_across_a_time_zone_change(
    pool: PgPool,
) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let daily = user(&pool, "daily@example.com").await;
    let monthly = user(&pool, "monthly@example.com").await;
    let add_daily = json!({"allowance_cents": 1, "period": "daily", "refill_rule": "add"});
    set_policy(&pool, Scope::User(&daily), add_daily, &admin_id).await;
    let add_monthly = json!({"allowance_cents": 100, "period": "monthly", "refill_rule": "add"});
    set_policy(&pool, Scope::User(&monthly), add_monthly, &admin_id).await;

    for instant in [
        "2028-02-28T23:59:59Z",
        "2028-02-29T00:00:00Z",
        "2028-02-29T23:00:00Z",
        "2028-03-01T00:00:00Z",
    ] {
        refill_due(&pool, at(instant)).await.unwrap();
    }
    let keys = |user_id: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT period_key FROM budget_refills WHERE user_id = $1 ORDER BY period_key",
            )
            .bind(user_id)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(
        keys(daily.clone()).await,
        ["daily:2028-02-28", "daily:2028-02-29", "daily:2028-03-01"]
    );
    assert_eq!(
        keys(monthly.clone()).await,
        ["monthly:2028-02-01", "monthly:2028-03-01"]
    );

    // The same month in another zone is the same period: no second refill.
    let in_new_york = json!({"allowance_cents": 100, "period": "monthly", "refill_rule": "add",
                             "time_zone": "America/New_York"});
    set_policy(&pool, Scope::User(&monthly), in_new_york, &admin_id).await;
    refill_due(&pool, at("2028-03-15T12:00:00Z")).await.unwrap();
    assert_eq!(keys(monthly.clone()).await.len(), 2);
    // 02:00 UTC on 1 April is still March in New York.
    refill_due(&pool, at("2028-04-01T02:00:00Z")).await.unwrap();
    assert_eq!(keys(monthly.clone()).await.len(), 2);
    refill_due(&pool, at("2028-04-01T05:00:00Z")).await.unwrap();
    assert_eq!(keys(monthly).await.last().unwrap(), "monthly:2028-04-01");
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn top_up_add_and_a_rollover_cap_each_set_the_balance_their_way(pool: PgPool) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let top_up = user(&pool, "top@example.com").await;
    let add = user(&pool, "add@example.com").await;
    let capped = user(&pool, "capped@example.com").await;
    for id in [&top_up, &add, &capped] {
        ledger::grant(&pool, id, 3_000_000, "left over", None)
            .await
            .unwrap();
    }
    set_policy(
        &pool,
        Scope::User(&top_up),
        json!({"allowance_cents": 1000}),
        &admin_id,
    )
    .await;
    set_policy(
        &pool,
        Scope::User(&add),
        json!({"allowance_cents": 1000, "refill_rule": "add"}),
        &admin_id,
    )
    .await;
    set_policy(
        &pool,
        Scope::User(&capped),
        json!({"allowance_cents": 1000, "refill_rule": "add", "rollover_cap_cents": 100}),
        &admin_id,
    )
    .await;

    refill_due(&pool, at("2027-01-05T00:00:00Z")).await.unwrap();

    let balance = |id: String| {
        let pool = pool.clone();
        async move { ledger::balance_micros(&pool, &id).await.unwrap() }
    };
    assert_eq!(
        balance(top_up.clone()).await,
        10_000_000,
        "brought up to $10"
    );
    assert_eq!(balance(add.clone()).await, 13_000_000, "$3 left + $10");
    assert_eq!(
        balance(capped.clone()).await,
        11_000_000,
        "$1 carried over + $10"
    );
    assert_eq!(grants(&pool, &capped).await, vec![8_000_000]);

    // A top-up of a balance already at its allowance is a refill with no grant.
    refill_due(&pool, at("2027-02-05T00:00:00Z")).await.unwrap();
    assert_eq!(grants(&pool, &top_up).await, vec![7_000_000]);
    let refills: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_refills WHERE user_id = $1")
        .bind(&top_up)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(refills, 2);
    assert_invariant(&pool).await;
}

// ---------------------------------------------------------------- caps and rate limits

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_spending_cap_admits_no_more_than_it_allows_under_200_concurrent_calls(pool: PgPool) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let payer = user(&pool, "payer@example.com").await;
    ledger::grant(&pool, &payer, 100_000_000, "plenty", None)
        .await
        .unwrap();
    // Each call holds 1,000 micros; the cap ($0.0105) admits ten of them.
    set_policy(
        &pool,
        Scope::User(&payer),
        json!({"spend_cap_cents": 1, "max_calls_in_flight": 1000, "max_calls_per_minute": 1000}),
        &admin_id,
    )
    .await;
    sqlx::query("UPDATE budget_policies SET spend_cap_micros = 10_500")
        .execute(&pool)
        .await
        .unwrap();

    let outcomes = reserve_200(&pool, &payer, 500, 500).await;

    let holds = held(&outcomes);
    assert_eq!(holds.len(), 10, "never more than the cap allows");
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                ReserveOutcome::Held(_)
                    | ReserveOutcome::CapReached {
                        cap_micros: 10_500,
                        ..
                    }
            ),
            "{outcome:?}"
        );
    }
    for hold in &holds {
        ledger::release(&pool, hold).await.unwrap();
    }
    assert_eq!(ledger_rows(&pool, &payer).await, 0, "nothing charged");
    assert_eq!(
        ledger::balance_micros(&pool, &payer).await.unwrap(),
        100_000_000
    );
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn calls_in_flight_per_minute_and_tokens_per_minute_each_hold_under_200_concurrent_calls(
    pool: PgPool,
) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let cases = [
        (
            "in_flight",
            json!({"max_calls_in_flight": 5}),
            5,
            CallLimit::InFlight,
        ),
        (
            "per_minute",
            json!({"max_calls_per_minute": 7}),
            7,
            CallLimit::PerMinute,
        ),
        (
            "tokens",
            json!({"max_tokens_per_minute": 9_999, "max_calls_in_flight": 1000}),
            9,
            CallLimit::TokensPerMinute,
        ),
    ];
    early_in_a_minute().await;
    for (name, limits, admitted, limit) in cases {
        let payer = user(&pool, &format!("{name}@example.com")).await;
        ledger::grant(&pool, &payer, 100_000_000, "plenty", None)
            .await
            .unwrap();
        set_policy(&pool, Scope::User(&payer), limits, &admin_id).await;

        let outcomes = reserve_200(&pool, &payer, 500, 500).await;

        let holds = held(&outcomes);
        assert_eq!(holds.len(), admitted, "{name}: exactly the limit admitted");
        for outcome in &outcomes {
            match outcome {
                ReserveOutcome::Held(_) => {}
                ReserveOutcome::Limited {
                    limit: refused,
                    retry_after_secs,
                } => {
                    assert_eq!(*refused, limit, "{name}");
                    assert!(
                        (1..=60).contains(retry_after_secs),
                        "{name}: {retry_after_secs}"
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        for hold in &holds {
            ledger::release(&pool, hold).await.unwrap();
        }
        assert_eq!(
            ledger_rows(&pool, &payer).await,
            0,
            "{name}: nothing charged"
        );
        assert_eq!(
            ledger::balance_micros(&pool, &payer).await.unwrap(),
            100_000_000
        );
    }
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn tokens_per_minute_count_the_worst_case_and_settle_to_what_was_used(pool: PgPool) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let payer = user(&pool, "tpm@example.com").await;
    ledger::grant(&pool, &payer, 100_000_000, "plenty", None)
        .await
        .unwrap();
    set_policy(
        &pool,
        Scope::User(&payer),
        json!({"max_tokens_per_minute": 1500}),
        &admin_id,
    )
    .await;
    early_in_a_minute().await;

    let ReserveOutcome::Held(first) = ledger::reserve(&pool, &hold_request(&payer, 100, 900))
        .await
        .unwrap()
    else {
        panic!("the first call fits");
    };
    let refused = ledger::reserve(&pool, &hold_request(&payer, 100, 900))
        .await
        .unwrap();
    assert!(
        matches!(
            refused,
            ReserveOutcome::Limited {
                limit: CallLimit::TokensPerMinute,
                ..
            }
        ),
        "{refused:?}"
    );
    // The first call used 150 tokens of its 1,000: the minute has room again.
    let charge = ledger::Charge {
        hold: &first,
        agent_id: None,
        input_tokens: 100,
        output_tokens: 50,
        cost_micros: 150,
        kind: "completion",
        meta: json!({}),
    };
    ledger::settle(&pool, &charge).await.unwrap();
    let second = ledger::reserve(&pool, &hold_request(&payer, 100, 900))
        .await
        .unwrap();
    assert!(matches!(second, ReserveOutcome::Held(_)), "{second:?}");
    let too_big = ledger::reserve(&pool, &hold_request(&payer, 100, 5_000))
        .await
        .unwrap();
    assert!(
        matches!(
            too_big,
            ReserveOutcome::Limited {
                limit: CallLimit::TokensPerMinuteExceededByCall,
                retry_after_secs: 60
            }
        ),
        "{too_big:?}"
    );
    let tokens: i64 = sqlx::query_scalar("SELECT token_window_tokens FROM users WHERE id = $1")
        .bind(&payer)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tokens, 150 + 1000);
}

type ProviderWorld = helix_tests::World<String>;

async fn turn_world(pool: PgPool, uri: &str) -> ProviderWorld {
    let openai = format!("{uri}/v1");
    let pairs = [
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
    ];
    let config = config_with(&pairs);
    let mut state = AppState::new(config.clone(), pool.clone()).unwrap();
    state.engines = Arc::new(
        helix_shared::engine::registry::EngineRegistry::new(config.engines)
            .with_aws_config(fake_aws_config(None).await),
    );
    let world = ProviderWorld::with_provider(state, "turner@example.com", uri.to_owned()).await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world.fund(10_000_000).await;
    world
}

fn ask() -> Value {
    json!({
        "engine": "openai",
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": "Say hello."}],
        "overrides": {"max_tokens": 50}
    })
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn turns_over_a_limit_are_429_with_retry_after_and_over_the_cap_402_with_no_provider_call(
    pool: PgPool,
) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("Hello!", 20, 5))
        .expect(5)
        .mount(&provider)
        .await;
    let world = turn_world(pool.clone(), &provider.uri()).await;
    let (admin_id, _) = admin(&world.state).await;
    set_policy(
        &pool,
        Scope::User(&world.user.id),
        json!({"max_calls_per_minute": 5}),
        &admin_id,
    )
    .await;
    early_in_a_minute().await;

    let turns: Vec<_> = (0..200)
        .map(|_| {
            let (app, request) = (
                world.app.clone(),
                json_request("POST", "/v1/turns", &ask(), &world.token),
            );
            tokio::spawn(async move { send(&app, request).await })
        })
        .collect();
    let mut replies = Vec::new();
    for turn in turns {
        replies.push(turn.await.unwrap());
    }

    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 5, "never more admitted than the limit");
    for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["error"]["code"], "rate_limited");
        let retry: u64 = reply.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
    }
    assert_eq!(
        ledger_rows(&pool, &world.user.id).await,
        5,
        "nothing charged for the refused"
    );

    set_policy(
        &pool,
        Scope::User(&world.user.id),
        json!({"spend_cap_cents": 0}),
        &admin_id,
    )
    .await;
    let capped = send(
        &world.app,
        json_request("POST", "/v1/turns", &ask(), &world.token),
    )
    .await;
    assert_eq!(
        capped.status,
        StatusCode::PAYMENT_REQUIRED,
        "{}",
        capped.body
    );
    assert_eq!(capped.body["error"]["code"], "spend_cap_reached");
    assert_eq!(capped.body["error"]["cap_cents"], 0);
    assert_eq!(ledger_rows(&pool, &world.user.id).await, 5);
    assert_invariant(&pool).await;
}

// ---------------------------------------------------------------- alerts

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn crossing_the_alert_threshold_raises_one_alert_per_period_shown_by_the_budget(
    pool: PgPool,
) {
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let (payer, token) = signed_in_user(&state, "spender@example.com").await;
    ledger::grant(&pool, &payer.id, 100_000_000, "plenty", None)
        .await
        .unwrap();
    // Allowance $0.10, cap $0.20: 80 % are 80,000 and 160,000 micros.
    set_policy(
        &pool,
        Scope::User(&payer.id),
        json!({"allowance_cents": 10, "spend_cap_cents": 20, "refill_rule": "add"}),
        &admin_id,
    )
    .await;
    let mut raised = Vec::new();
    for _ in 0..6 {
        let ReserveOutcome::Held(hold) =
            ledger::reserve(&pool, &hold_request(&payer.id, 15_000, 15_000))
                .await
                .unwrap()
        else {
            panic!("within the cap");
        };
        let charge = ledger::Charge {
            hold: &hold,
            agent_id: None,
            input_tokens: 15_000,
            output_tokens: 15_000,
            cost_micros: 30_000,
            kind: "completion",
            meta: json!({}),
        };
        raised.push(ledger::settle(&pool, &charge).await.unwrap().alerts.len());
    }

    // 30k, 60k, 90k (allowance crossed), 120k, 150k, 180k (cap crossed).
    assert_eq!(raised, [0, 0, 1, 0, 0, 1]);
    let app = local_gateway::app(state);
    let budget = send(&app, authorised(get("/v1/budget"), &token)).await;
    assert_eq!(budget.status, StatusCode::OK, "{}", budget.body);
    let kinds: Vec<&str> = budget.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cap_threshold", "allowance_threshold"]);
    for alert in budget.body["alerts"].as_array().unwrap() {
        assert_eq!(
            alert["alert_key"], budget.body["period"]["key"],
            "SQL and Rust name the period alike"
        );
    }
    assert_eq!(budget.body["spent_micros_this_period"], 180_000);
    assert_eq!(budget.body["allowance"]["amount_cents"], 10);
    assert_eq!(budget.body["spend_cap_cents"], 20);
    assert!(budget.body["next_refill_at"].is_string());
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn alerts_are_published_to_sns_once_and_kept_for_a_retry_when_the_topic_fails(pool: PgPool) {
    let moto = MotoServer::start().await;
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_sns::Client::new(&sdk);
    let topic = client
        .create_topic()
        .name("helix-budget-alerts")
        .send()
        .await
        .unwrap();
    let payer = user(&pool, "alerted@example.com").await;
    alerts::raise(
        &pool,
        Some(&payer),
        "reconcile_drift",
        "drift:2026-12-01",
        json!({}),
    )
    .await
    .unwrap();
    assert!(
        !alerts::raise(
            &pool,
            Some(&payer),
            "reconcile_drift",
            "drift:2026-12-01",
            json!({})
        )
        .await
        .unwrap(),
        "once per key"
    );

    let missing = SnsSink {
        client: client.clone(),
        topic_arn: "arn:aws:sns:us-east-1:123456789012:no-such-topic".into(),
    };
    let failed = alerts::publish_pending(&pool, Some(&missing))
        .await
        .unwrap();
    let sink = SnsSink {
        client,
        topic_arn: topic.topic_arn().unwrap().to_owned(),
    };
    let published = alerts::publish_pending(&pool, Some(&sink)).await.unwrap();
    let again = alerts::publish_pending(&pool, Some(&sink)).await.unwrap();

    assert_eq!((failed, published, again), (0, 1, 0));
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn repeated_provider_failures_raise_one_alert_per_window(pool: PgPool) {
    let rule = alerts::FailureRule {
        threshold: 3,
        window_secs: 3600,
    };
    for _ in 0..5 {
        alerts::note_provider_failure(&pool, "openai", rule)
            .await
            .unwrap();
    }
    let alerts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM budget_alerts WHERE kind = 'provider_failures'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(alerts, 1);
}

// ---------------------------------------------------------------- usage views

/// Ledger rows of `(model, engine, personality, cost_micros, created_at)`; an empty personality
/// is a call made without one.
async fn insert_usage(
    pool: &PgPool,
    user_id: &str,
    agent_id: Option<&str>,
    rows: &[(&str, &str, &str, i64, &str)],
) {
    for (model, engine, personality, cost, created_at) in rows {
        sqlx::query(
            "INSERT INTO usage_ledger (id, user_id, agent_id, input_tokens, output_tokens, cost_micros, meta, created_at)
             VALUES ($1, $2, $3, 7, 3, $4,
                     jsonb_build_object('model', $5::text, 'engine', $6::text, 'provider', $6::text,
                                        'personality_id', NULLIF($7::text, ''), 'trace_id', 't'),
                     $8::timestamptz)",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(agent_id)
        .bind(cost)
        .bind(model)
        .bind(engine)
        .bind(personality)
        .bind(created_at)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_summary_groups_equal_the_ledger_exactly(pool: PgPool) {
    let state = state(pool.clone());
    let (payer, token) = signed_in_user(&state, "summed@example.com").await;
    insert_usage(
        &pool,
        &payer.id,
        None,
        &[
            (
                "gpt-4o-mini",
                "openai",
                "helix-assistant",
                1_234_567,
                "2026-11-02T10:00:00Z",
            ),
            ("gpt-4o-mini", "openai", "pirate", 3, "2026-11-02T23:59:59Z"),
            (
                "claude",
                "anthropic",
                "pirate",
                999_999,
                "2026-11-03T00:00:00Z",
            ),
            (
                "claude",
                "anthropic",
                "helix-assistant",
                5_001,
                "2026-11-30T23:59:59.999Z",
            ),
            ("ignored", "openai", "x", 77, "2026-12-01T00:00:00Z"),
        ],
    )
    .await;
    let app = local_gateway::app(state);
    let window = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
    let total_in_window = 1_234_567 + 3 + 999_999 + 5_001;

    for group_by in ["day", "model", "engine", "personality"] {
        let reply = send(
            &app,
            authorised(
                get(&format!("/v1/budget/summary?{window}&group_by={group_by}")),
                &token,
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let sum: i64 = reply.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["cost_micros"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, total_in_window, "{group_by}");
        assert_eq!(reply.body["total"]["cost_micros"], total_in_window);
        assert_eq!(reply.body["total"]["calls"], 4);
    }
    let by_model = send(
        &app,
        authorised(
            get(&format!("/v1/budget/summary?{window}&group_by=model")),
            &token,
        ),
    )
    .await;
    assert_eq!(
        by_model.body["groups"],
        json!([
            {"key": "claude", "stack": null, "name": null, "calls": 2, "input_tokens": 14,
             "output_tokens": 6, "cost_micros": 1_005_000, "cost_cents": 101},
            {"key": "gpt-4o-mini", "stack": null, "name": null, "calls": 2, "input_tokens": 14,
             "output_tokens": 6, "cost_micros": 1_234_570, "cost_cents": 123},
        ])
    );
    let stacked = send(
        &app,
        authorised(
            get(&format!(
                "/v1/budget/summary?{window}&group_by=day&stack_by=engine"
            )),
            &token,
        ),
    )
    .await;
    let days: Vec<(String, String, i64)> = stacked.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["stack"].as_str().unwrap().to_owned(),
                g["cost_micros"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-02".into(), "openai".into(), 1_234_570),
            ("2026-11-03".into(), "anthropic".into(), 999_999),
            ("2026-11-30".into(), "anthropic".into(), 5_001),
        ]
    );
    for bad in [
        "group_by=year",
        "group_by=model&stack_by=engine",
        "group_by=day&from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z",
        "group_by=day&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "group_by=day%00",
    ] {
        let reply = send(
            &app,
            authorised(get(&format!("/v1/budget/summary?{bad}")), &token),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_summary_and_the_ledger_name_presets_personas_deleted_personas_and_none(pool: PgPool) {
    let state = state(pool.clone());
    let (payer, token) = signed_in_user(&state, "named@example.com").await;
    let (_, admin_token) = admin(&state).await;
    let someone_else = user(&pool, "someone-else@example.com").await;
    let persona = |owner: String, name: &'static str| {
        let pool = pool.clone();
        async move {
            personas::create(&pool, &owner, name, "Be brief.", None, 200)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let pirate = persona(payer.id.clone(), "Pirate").await;
    let gone = persona(payer.id.clone(), "Gone").await;
    personas::delete(&pool, &payer.id, &gone).await.unwrap();
    let theirs = persona(someone_else, "Theirs").await;
    insert_usage(
        &pool,
        &payer.id,
        None,
        &[
            ("m", "openai", "helix-assistant", 1, "2026-11-02T10:00:01Z"),
            ("m", "openai", &pirate, 20, "2026-11-02T10:00:02Z"),
            ("m", "openai", &pirate, 300, "2026-11-02T10:00:03Z"),
            ("m", "openai", &gone, 4_000, "2026-11-02T10:00:04Z"),
            ("m", "openai", &theirs, 50_000, "2026-11-02T10:00:05Z"),
            ("m", "openai", "", 600_000, "2026-11-02T10:00:06Z"),
        ],
    )
    .await;
    let app = local_gateway::app(state);

    let summary = send(
        &app,
        authorised(
            get("/v1/budget/summary?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=personality"),
            &token,
        ),
    )
    .await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.body);
    let mut named: Vec<(String, String, i64)> = summary.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["name"].as_str().unwrap().to_owned(),
                g["cost_micros"].as_i64().unwrap(),
            )
        })
        .collect();
    named.sort();
    let mut expected = vec![
        ("".to_owned(), "No personality".to_owned(), 600_000),
        ("helix-assistant".into(), "Helix assistant".into(), 1),
        (pirate.clone(), "Pirate".into(), 320),
        (gone.clone(), format!("Deleted persona ({gone})"), 4_000),
        // Another user's persona is never named to this one.
        (
            theirs.clone(),
            format!("Deleted persona ({theirs})"),
            50_000,
        ),
    ];
    expected.sort();
    assert_eq!(named, expected);

    let expected_ledger = json!([
        [null, null],
        [theirs, format!("Deleted persona ({theirs})")],
        [gone, format!("Deleted persona ({gone})")],
        [pirate, "Pirate"],
        [pirate, "Pirate"],
        ["helix-assistant", "Helix assistant"],
    ]);
    for (route, token) in [
        ("/v1/budget?limit=10".to_owned(), &token),
        (
            format!("/v1/admin/users/{}/budget?limit=10", payer.id),
            &admin_token,
        ),
    ] {
        let budget = send(&app, authorised(get(&route), token)).await;
        assert_eq!(budget.status, StatusCode::OK, "{route}: {}", budget.body);
        let ledger: Vec<Value> = budget.body["ledger"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| json!([entry["personality_id"], entry["personality_name"]]))
            .collect();
        assert_eq!(Value::from(ledger), expected_ledger, "{route}");
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_csv_export_holds_exactly_the_filtered_ledger(pool: PgPool) {
    let state = state(pool.clone());
    let (payer, token) = signed_in_user(&state, "exporter@example.com").await;
    let wanted = add_agent(&pool, &payer.id, "openai", "gpt-4o-mini", "active").await;
    let other = add_agent(&pool, &payer.id, "openai", "gpt-4o", "active").await;
    let row = ("=cmd()", "openai", "p", 1_500_000, "2026-11-05T00:00:00Z");
    insert_usage(&pool, &payer.id, Some(&wanted), &[row, row, row]).await;
    insert_usage(&pool, &payer.id, Some(&other), &[row, row]).await;
    insert_usage(
        &pool,
        &payer.id,
        Some(&wanted),
        &[("m", "openai", "p", 1, "2026-10-05T00:00:00Z")],
    )
    .await;
    let app = local_gateway::app(state);

    let request = authorised(
        get(&format!(
            "/v1/budget/export.csv?agent_id={wanted}&from=2026-11-01T00:00:00Z"
        )),
        &token,
    );
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], helix_shared::budget::usage::CSV_HEADER.trim_end());
    assert_eq!(lines.len(), 1 + 3, "{csv}");
    for line in &lines[1..] {
        assert!(line.contains(&wanted), "{line}");
        assert!(line.contains(",'=cmd(),"), "formulas are defused: {line}");
        assert!(line.contains(",1500000,1.500000,"), "{line}");
        assert!(line.ends_with(",p,Deleted persona (p)"), "{line}");
    }
    let bad = Request::get("/v1/budget/export.csv?limit=5")
        .body(Body::empty())
        .unwrap();
    let bad = send(&app, authorised(bad, &token)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- admin routes

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn only_admins_list_users_and_set_policies_and_bad_policies_change_nothing(pool: PgPool) {
    let state = state(pool.clone());
    let (_, admin_token) = admin(&state).await;
    let (member, member_token) = signed_in_user(&state, "member@example.com").await;
    let app = local_gateway::app(state);
    let put = |id: &str, body: Value, token: &str| {
        json_request("PUT", &format!("/v1/admin/users/{id}/policy"), &body, token)
    };
    let good = json!({"allowance_cents": 2000, "period": "weekly", "time_zone": "Europe/Paris",
                      "spend_cap_cents": 5000, "max_tokens_per_minute": 100000});

    for request in [
        authorised(get("/v1/admin/users"), &member_token),
        put(&member.id, good.clone(), &member_token),
        authorised(
            get(&format!("/v1/admin/users/{}/budget", member.id)),
            &member_token,
        ),
    ] {
        let reply = send(&app, request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert_eq!(reply.body["error"]["code"], "admin_only");
    }
    for bad in [
        json!({"allowance_cents": -1}),
        json!({"spend_cap_cents": -500}),
        json!({"period": "yearly"}),
        json!({"time_zone": "Mars/Olympus"}),
        json!({"time_zone": "Europe/Paris\u{0}"}),
        json!({"refill_rule": "double"}),
        json!({"rollover_cap_cents": 10}),
        json!({"max_calls_in_flight": 0}),
        json!({"max_tokens_per_minute": -5}),
        json!({"alert_threshold_percent": 101}),
        json!({"allowance_cents": "ten"}),
        json!({"surprise": true}),
    ] {
        let reply = send(&app, put(&member.id, bad.clone(), &admin_token)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
    let missing = send(&app, put("no-such-user", good.clone(), &admin_token)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let policies: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_policies")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(policies, 0, "nothing changed");

    let set = send(&app, put(&member.id, good, &admin_token)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["period"], "weekly");
    assert_eq!(set.body["allowance_micros"], 20_000_000);
    let default = send(
        &app,
        put("default", json!({"allowance_cents": 500}), &admin_token),
    )
    .await;
    assert_eq!(default.status, StatusCode::OK, "{}", default.body);
    assert!(default.body["user_id"].is_null());

    let listed = send(&app, authorised(get("/v1/admin/users"), &admin_token)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let users = listed.body["users"].as_array().unwrap();
    let row = |email: &str| users.iter().find(|u| u["email"] == email).unwrap().clone();
    assert_eq!(row("member@example.com")["policy_source"], "user");
    assert_eq!(row("member@example.com")["spend_cap_micros"], 50_000_000);
    assert_eq!(row("member@example.com")["time_zone"], "Europe/Paris");
    assert_eq!(row("admin@example.com")["policy_source"], "default");
    assert_eq!(row("admin@example.com")["allowance_micros"], 5_000_000);
    assert_eq!(listed.body["default_policy"]["allowance_micros"], 5_000_000);
    let budget = send(
        &app,
        authorised(
            get(&format!("/v1/admin/users/{}/budget", member.id)),
            &admin_token,
        ),
    )
    .await;
    assert_eq!(budget.status, StatusCode::OK, "{}", budget.body);
    assert_eq!(budget.body["period"]["kind"], "weekly");
    assert_eq!(budget.body["limits"]["max_tokens_per_minute"], 100_000);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_reservations_sql_periods_agree_with_the_refills_rust_periods(pool: PgPool) {
    use helix_shared::budget::period::{Period, parse_time_zone, window};
    let zones = [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
        "Australia/Sydney",
        "Asia/Kolkata",
    ];
    let instants = [
        "2026-12-31T20:00:00Z",
        "2027-01-01T00:00:00Z",
        "2028-02-29T12:00:00Z",
        "2026-03-29T01:30:00Z",
        "2026-10-25T00:30:00Z",
        "2026-11-30T23:59:59Z",
    ];
    for zone in zones {
        for instant in instants {
            for period in [Period::Daily, Period::Weekly, Period::Monthly] {
                let rust = window(period, parse_time_zone(zone).unwrap(), at(instant));
                let sql: DateTime<Utc> =
                    sqlx::query_scalar("SELECT helix_period_start($1, $2, $3::timestamptz)")
                        .bind(period.as_str())
                        .bind(zone)
                        .bind(at(instant))
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                assert_eq!(sql, rust.start, "{period} {zone} {instant}");
            }
        }
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn memory_embeddings_meet_the_same_cap_and_token_limit_and_store_nothing_when_refused(
    pool: PgPool,
) {
    let state = helix_tests::state_with(
        pool.clone(),
        &[("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000")],
    );
    helix_tests::prepare_memory(&state).await;
    let (admin_id, _) = admin(&state).await;
    let (payer, token) = signed_in_user(&state, "memo@example.com").await;
    ledger::grant(&pool, &payer.id, 1_000_000, "plenty", None)
        .await
        .unwrap();
    let app = local_gateway::app(state);
    let store = |text: &str| {
        json_request(
            "POST",
            "/v1/memory/documents",
            &json!({"text": text}),
            &token,
        )
    };

    set_policy(
        &pool,
        Scope::User(&payer.id),
        json!({"max_tokens_per_minute": 10}),
        &admin_id,
    )
    .await;
    let limited = send(&app, store("Remember that the office opens at nine.")).await;
    set_policy(
        &pool,
        Scope::User(&payer.id),
        json!({"spend_cap_cents": 0}),
        &admin_id,
    )
    .await;
    let capped = send(&app, store("Remember that the office opens at nine.")).await;

    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.body["error"]["code"], "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(
        capped.status,
        StatusCode::PAYMENT_REQUIRED,
        "{}",
        capped.body
    );
    assert_eq!(capped.body["error"]["code"], "spend_cap_reached");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_documents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        (stored, ledger_rows(&pool, &payer.id).await),
        (0, 0),
        "nothing stored or charged"
    );
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_scheduled_reconciliation_refills_once_and_sets_counters_right(pool: PgPool) {
    use helix_shared::budget::reconcile::{self, Options};
    let options = Options {
        repair: false,
        idempotency_retention: Duration::from_secs(24 * 3600),
    };
    let state = state(pool.clone());
    let (admin_id, _) = admin(&state).await;
    let payer = user(&pool, "counted@example.com").await;
    set_policy(
        &pool,
        Scope::User(&payer),
        json!({"allowance_cents": 500, "spend_cap_cents": 400}),
        &admin_id,
    )
    .await;
    insert_usage(
        &pool,
        &payer,
        None,
        &[("m", "openai", "p", 1_234, "2000-01-01T00:00:00Z")],
    )
    .await;
    sqlx::query(
        "INSERT INTO usage_ledger (id, user_id, input_tokens, output_tokens, cost_micros, meta)
         VALUES ('ledger-now', $1, 1, 1, 4321, '{}')",
    )
    .bind(&payer)
    .execute(&pool)
    .await
    .unwrap();
    // Counters knocked off by hand (a crash, a restore): reconciliation re-derives them. The ledger
    // rows written behind the balance's back are a drift it reports.
    sqlx::query("UPDATE users SET held_micros = 999, spend_period_micros = 0 WHERE id = $1")
        .bind(&payer)
        .execute(&pool)
        .await
        .unwrap();

    let first = reconcile::run(&pool, &options).await.unwrap();
    let second = reconcile::run(&pool, &options).await.unwrap();

    assert_eq!((first.refills_issued, second.refills_issued), (1, 0));
    assert_eq!(first.refilled_micros, 5_000_000);
    let (held, spent): (i64, i64) =
        sqlx::query_as("SELECT held_micros, spend_period_micros FROM users WHERE id = $1")
            .bind(&payer)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((held, spent), (0, 4321), "only this period's spend counts");
    assert_eq!(
        first.drifts_found, 1,
        "the balance edited by hand is reported"
    );
    let drift_alerts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM budget_alerts WHERE kind = 'reconcile_drift'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(drift_alerts, 1, "once per user and day, however many runs");
}
