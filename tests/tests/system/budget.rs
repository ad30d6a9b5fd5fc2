//! /v1/budget: balance, spend, holds and a paginated, filterable ledger; admin-only grants.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::auth::settings::DEV_MASTER_PASSCODE;
use helix_shared::budget::ledger;
use helix_shared::ids::new_id;
use helix_tests::{authorised, get, post_json_from, send, signed_in_user, state};
use serde_json::json;
use sqlx::PgPool;

async fn insert_ledger_rows(
    pool: &PgPool,
    user_id: &str,
    agent_id: Option<&str>,
    count: usize,
    minutes_ago_start: i64,
) {
    for i in 0..count {
        sqlx::query(
            "INSERT INTO usage_ledger (id, user_id, agent_id, input_tokens, output_tokens, cost_micros, meta, created_at)
             VALUES ($1, $2, $3, 10, 5, 12345, '{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"trace_id\":\"t\"}',
                     now() - make_interval(mins => $4))",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(agent_id)
        .bind((minutes_ago_start + i as i64) as i32)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_budget_shows_balance_spend_holds_and_pages_the_ledger_newest_first(pool: PgPool) {
    let state = state(pool.clone());
    let (user, token) = signed_in_user(&state, "reader@example.com").await;
    ledger::grant(&pool, &user.id, 5_000_000, "test", None)
        .await
        .unwrap();
    insert_ledger_rows(&pool, &user.id, None, 25, 1).await;
    let app = local_gateway::app(state);

    let first = send(&app, authorised(get("/v1/budget?limit=10"), &token)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["balance_micros"], 5_000_000);
    assert_eq!(first.body["balance_cents"], 500);
    assert_eq!(
        first.body["spent_micros_this_month"].as_i64().unwrap() % 12_345,
        0
    );
    assert_eq!(first.body["open_holds"], json!({"count": 0, "micros": 0}));
    let mut seen = Vec::new();
    let mut page = first.body;
    loop {
        let rows = page["ledger"].as_array().unwrap().clone();
        seen.extend(rows.iter().map(|r| {
            (
                r["created_at"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        }));
        assert_eq!(
            rows[0]["cost_cents"], 1,
            "12,345 micros is a cent to the nearest cent"
        );
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = send(
            &app,
            authorised(get(&format!("/v1/budget?limit=10&cursor={cursor}")), &token),
        )
        .await
        .body;
    }
    assert_eq!(seen.len(), 25, "every row once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    sorted.dedup();
    assert_eq!(sorted.len(), 25, "no duplicates");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_ledger_filters_by_agent_and_time(pool: PgPool) {
    let state = state(pool.clone());
    let (user, token) = signed_in_user(&state, "filter@example.com").await;
    let agent = new_id();
    sqlx::query("INSERT INTO agents (id, user_id, provider, model) VALUES ($1, $2, 'openai', 'gpt-4o-mini')")
        .bind(&agent)
        .bind(&user.id)
        .execute(&pool)
        .await
        .unwrap();
    insert_ledger_rows(&pool, &user.id, Some(&agent), 3, 1).await;
    insert_ledger_rows(&pool, &user.id, None, 4, 120).await;
    let app = local_gateway::app(state);

    let by_agent = send(
        &app,
        authorised(get(&format!("/v1/budget?agent_id={agent}")), &token),
    )
    .await;
    assert_eq!(by_agent.body["ledger"].as_array().unwrap().len(), 3);
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::minutes(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let older = send(
        &app,
        authorised(get(&format!("/v1/budget?to={an_hour_ago}")), &token),
    )
    .await;
    assert_eq!(
        older.body["ledger"].as_array().unwrap().len(),
        4,
        "{}",
        older.body
    );
    let newer = send(
        &app,
        authorised(get(&format!("/v1/budget?from={an_hour_ago}")), &token),
    )
    .await;
    assert_eq!(newer.body["ledger"].as_array().unwrap().len(), 3);

    for bad in [
        "limit=0",
        "limit=abc",
        "cursor=nope",
        "from=yesterday",
        "colour=blue",
    ] {
        let reply = send(&app, authorised(get(&format!("/v1/budget?{bad}")), &token)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn only_an_admin_grants_budget(pool: PgPool) {
    let state = state(pool.clone());
    let app = local_gateway::app(state.clone());
    let master = send(
        &app,
        post_json_from(
            "/auth/verify",
            &json!({"passcode": DEV_MASTER_PASSCODE}),
            [10, 0, 0, 1],
        ),
    )
    .await;
    let admin_token = master.body["token"].as_str().unwrap().to_owned();
    let (user, user_token) = signed_in_user(&state, "recipient@example.com").await;
    let grant = |token: &str, body: serde_json::Value| {
        let request = Request::post("/v1/budget/grants")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        send(&app, authorised(request, token))
    };

    let refused = grant(
        &user_token,
        json!({"email": "recipient@example.com", "amount_cents": 500, "reason": "self-service"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("admin_only"))
    );

    let granted = grant(
        &admin_token,
        json!({"email": "Recipient@Example.com", "amount_cents": 500, "reason": "pilot budget"}),
    )
    .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);
    assert_eq!(granted.body["balance_cents"], 500);
    assert_eq!(granted.body["amount_micros"], 5_000_000);
    let (granted_by, reason): (Option<String>, String) =
        sqlx::query_as("SELECT granted_by, reason FROM budget_grants WHERE user_id = $1")
            .bind(&user.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (granted_by.as_deref(), reason.as_str()),
        (master.body["user"]["id"].as_str(), "pilot budget")
    );

    for (body, status) in [
        (
            json!({"email": "nobody@example.com", "amount_cents": 5, "reason": "x"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"email": "recipient@example.com", "amount_cents": 0, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"email": "recipient@example.com", "amount_cents": -5, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"email": "recipient@example.com", "amount_cents": 5, "reason": " "}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"email": "not-an-email", "amount_cents": 5, "reason": "x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(
            grant(&admin_token, body.clone()).await.status,
            status,
            "{body}"
        );
    }
    let balance = ledger::balance_micros(&pool, &user.id).await.unwrap();
    assert_eq!(balance, 5_000_000, "refused grants change nothing");
}
