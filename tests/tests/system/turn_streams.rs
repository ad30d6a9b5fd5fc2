//! `POST /v1/turns` with `"stream": true` through the real router and database, against fake
//! providers speaking each provider's streaming wire format: the events, and the charge for every
//! way a stream can end — finished, without usage, cut, an error event, a client that hangs up, a
//! provider that stalls past the deadline — plus 200 streams at once and idempotent replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::AppState;
use helix_shared::budget::ledger;
use helix_shared::engine::registry::EngineRegistry;
use helix_shared::money::{balance_cents, cost_cents};
use helix_shared::pricing::cost_micros;
use helix_shared::usage::Usage;
use helix_tests::{
    AnthropicReply, BedrockReply, Ending, EventReader, OpenAiReply, PacedProvider, StreamReply,
    add_agent, assert_invariant, config_with, fake_aws_config, json_request, open_holds,
    send_stream, serve,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GRANT_MICROS: i64 = 10_000_000; // $10

type World = helix_tests::World<String>;

/// A user with $10 and an agent per provider; every engine talks to the provider at `uri`.
async fn world(pool: PgPool, uri: &str, extra: &[(&str, &str)]) -> World {
    funded_world(pool, uri, extra, GRANT_MICROS).await
}

async fn funded_world(pool: PgPool, uri: &str, extra: &[(&str, &str)], grant: i64) -> World {
    let openai = format!("{uri}/v1");
    let mut pairs = vec![
        ("OPENAI_API_KEY", "sk-test"),
        ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_OPENAI_BASE_URL", openai.as_str()),
        ("HELIX_ANTHROPIC_BASE_URL", uri),
        ("HELIX_LOCAL_BASE_URL", openai.as_str()),
        ("HELIX_BEDROCK_ENDPOINT", uri),
    ];
    pairs.extend_from_slice(extra);
    let config = config_with(&pairs);
    let mut state = AppState::new(config.clone(), pool.clone()).unwrap();
    state.engines =
        Arc::new(EngineRegistry::new(config.engines).with_aws_config(fake_aws_config(None).await));
    let world = World::with_provider(state, "streamer@example.com", uri.to_owned()).await;
    for (provider, model) in [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("bedrock", "amazon.nova-micro-v1:0"),
        ("local", "llama3.2"),
    ] {
        add_agent(&pool, &world.user.id, provider, model, "active").await;
    }
    if grant > 0 {
        world.fund(grant).await;
    }
    world
}

fn ask_streamed(engine: &str) -> Value {
    json!({
        "engine": engine,
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": true
    })
}

fn turn_request(world: &World, body: &Value, key: Option<&str>) -> Request<Body> {
    let mut request = json_request("POST", "/v1/turns", body, &world.token);
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    request
}

async fn stream_turn(world: &World, body: &Value) -> StreamReply {
    send_stream(&world.app, turn_request(world, body, None)).await
}

/// Posts a streamed turn over a real socket and hands back its events as they come.
async fn open_stream(base: &str, world: &World, body: &Value, key: Option<&str>) -> EventReader {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/turns"))
        .bearer_auth(&world.token)
        .json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    EventReader::new(response)
}

async fn ledger_rows(world: &World) -> Vec<(i64, i64, i64, Value)> {
    sqlx::query_as(
        "SELECT cost_micros, input_tokens::bigint, output_tokens::bigint, meta FROM usage_ledger \
         WHERE user_id = $1 ORDER BY created_at",
    )
    .bind(&world.user.id)
    .fetch_all(&world.pool)
    .await
    .unwrap()
}

async fn balance(world: &World) -> i64 {
    ledger::balance_micros(&world.pool, &world.user.id)
        .await
        .unwrap()
}

/// Waits (up to 10 s) for a turn that settles on its own, after its client left.
async fn settled(world: &World) -> (i64, i64, i64, Value) {
    for _ in 0..200 {
        if open_holds(&world.pool).await == 0
            && let Some(row) = ledger_rows(world).await.pop()
        {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the turn never settled");
}

fn price_of(world: &World, engine: &str, model: &str, input: u64, output: u64) -> i64 {
    let price = world.state.prices.price(engine, model).unwrap();
    cost_micros(
        price,
        Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: 0,
        },
    )
}

async fn fake_provider() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("", 120, 30).in_pieces(&["Hel", "lo", "!"]))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(AnthropicReply {
            pieces: vec!["Hel".into(), "lo".into(), "!".into()],
            input: 120,
            output: 30,
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/model/.+/converse-stream$"))
        .respond_with(BedrockReply {
            pieces: vec!["Hel".into(), "lo".into(), "!".into()],
            input: 120,
            output: 30,
        })
        .mount(&server)
        .await;
    server
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_streamed_turn_sends_start_deltas_and_done_and_charges_the_exact_cost(pool: PgPool) {
    let provider = fake_provider().await;
    let world = world(pool.clone(), &provider.uri(), &[]).await;
    let mut spent = 0;
    for (engine, model) in [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("bedrock", "amazon.nova-micro-v1:0"),
        ("local", "llama3.2"),
    ] {
        let reply = stream_turn(&world, &ask_streamed(engine)).await;

        assert_eq!(reply.status, StatusCode::OK, "{engine}: {}", reply.json);
        assert_eq!(
            reply.headers["content-type"], "text/event-stream",
            "{engine}"
        );
        assert_eq!(
            reply.names(),
            ["start", "delta", "delta", "delta", "done"],
            "{engine}"
        );
        let start = &reply.events[0].data;
        assert_eq!(start["engine"], engine);
        assert_eq!(start["model"], model);
        assert_eq!(start["personality_id"], "helix-assistant");
        assert_eq!(start["max_tokens_reduced"], false);
        assert_eq!(
            start["trace_id"],
            reply.headers["x-trace-id"].to_str().unwrap()
        );
        assert_eq!(reply.text(), "Hello!");
        let done = &reply.last().data;
        let expected = price_of(&world, engine, model, 120, 30);
        spent += expected;
        assert_eq!(
            done["usage"],
            json!({"input_tokens": 120, "output_tokens": 30})
        );
        assert_eq!(
            done["cost"],
            json!({"micros": expected, "cents": cost_cents(expected)})
        );
        assert_eq!(
            done["budget"],
            json!({"remaining_micros": GRANT_MICROS - spent, "remaining_cents": balance_cents(GRANT_MICROS - spent)})
        );
        assert_eq!(done["usage_estimated"], false);
        assert_eq!(done["finish_reason"], "stop");
        assert_eq!(done["memory_doc_ids"], json!([]));
    }
    let requests = provider.received_requests().await.unwrap();
    for request in &requests {
        if request.url.path().ends_with("/converse-stream") {
            continue; // Bedrock streams by its path, not a body field.
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["stream"], true, "every provider call streams");
    }
    assert_eq!(balance(&world).await, GRANT_MICROS - spent);
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_stream_without_usage_is_charged_the_bound_and_says_it_is_estimated(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            OpenAiReply::text("", 0, 0)
                .in_pieces(&["twelve ", "bytes"])
                .without_usage(),
        )
        .mount(&provider)
        .await;
    let world = world(pool.clone(), &provider.uri(), &[]).await;

    let reply = stream_turn(&world, &ask_streamed("openai")).await;

    assert_eq!(reply.names().last(), Some(&"done"));
    let done = &reply.last().data;
    assert_eq!(done["usage_estimated"], true);
    assert_eq!(
        done["usage"]["output_tokens"], 12,
        "one token per byte received"
    );
    let (cost, _, output, meta) = ledger_rows(&world).await.pop().unwrap();
    assert_eq!(output, 12);
    assert!(cost > 0);
    assert_eq!(meta["usage_estimated"], true);
    assert_eq!(meta["usage_estimated_reason"], "usage_not_reported");
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_stream_cut_mid_answer_is_charged_for_what_came_and_ends_with_an_error(pool: PgPool) {
    let events = OpenAiReply::text("", 0, 0)
        .in_pieces(&["Once ", "upon ", "a time"])
        .events();
    // The role chunk and two pieces, then the connection breaks.
    let provider =
        PacedProvider::start(events[..3].to_vec(), Duration::from_millis(5), Ending::Cut).await;
    let world = world(pool.clone(), &provider.uri, &[]).await;

    let reply = stream_turn(&world, &ask_streamed("openai")).await;

    assert_eq!(reply.names(), ["start", "delta", "delta", "error"]);
    let error = &reply.last().data;
    assert_eq!(error["code"], "provider_stream_cut");
    assert!(error["trace_id"].is_string());
    let (cost, _, output, meta) = ledger_rows(&world).await.pop().unwrap();
    assert_eq!(error["charged"]["micros"], cost);
    assert!(cost > 0, "a stream that delivered text is never charged 0");
    assert_eq!(output, "Once upon ".len() as i64);
    assert_eq!(meta["usage_estimated_reason"], "provider_stream_cut");
    assert_eq!(error["budget"]["remaining_micros"], GRANT_MICROS - cost);
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn an_error_event_mid_stream_charges_what_came_before_it(pool: PgPool) {
    let provider = MockServer::start().await;
    let mut events = AnthropicReply::text("Hel", 120, 30).events();
    events.truncate(4); // message_start, content_block_start, ping, one delta
    events.push(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
            .into(),
    );
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(events.concat()),
        )
        .mount(&provider)
        .await;
    let world = world(pool.clone(), &provider.uri(), &[]).await;

    let reply = stream_turn(&world, &ask_streamed("anthropic")).await;

    assert_eq!(reply.names(), ["start", "delta", "error"]);
    let error = &reply.last().data;
    assert!(
        !error["message"].as_str().unwrap().contains("Overloaded"),
        "the provider's message stays inside: {error}"
    );
    let (cost, input, output, meta) = ledger_rows(&world).await.pop().unwrap();
    assert_eq!(input, 120, "the input the provider reported at the start");
    assert_eq!(output, 3);
    assert_eq!(error["charged"]["micros"], cost);
    assert_eq!(meta["usage_estimated_reason"], "provider_stream_cut");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn tool_calls_split_across_chunks_arrive_whole_and_only_whitelisted(pool: PgPool) {
    let provider = MockServer::start().await;
    let calls = json!([
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"2+2\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "web_search", "arguments": "{\"query\":\"x\"}"}}
    ]);
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("", 50, 10).with_tool_calls(calls))
        .mount(&provider)
        .await;
    let world = world(pool.clone(), &provider.uri(), &[]).await;

    let reply = stream_turn(&world, &ask_streamed("openai")).await;

    assert_eq!(reply.names(), ["start", "tool_call", "done"]);
    assert_eq!(
        reply.events[1].data,
        json!({"id": "call_1", "name": "calculator", "arguments": {"expression": "2+2"}})
    );
    assert_eq!(reply.last().data["finish_reason"], "tool_calls");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_client_that_hangs_up_stops_the_provider_and_is_charged_for_what_came(pool: PgPool) {
    let pieces: Vec<String> = (0..40).map(|i| format!("word{i:02} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let events = OpenAiReply::text("", 0, 0).in_pieces(&pieces).events();
    let total = events.len();
    let provider = PacedProvider::start(events, Duration::from_millis(40), Ending::Complete).await;
    let world = world(pool.clone(), &provider.uri, &[]).await;
    let base = serve(world.app.clone()).await;

    let mut reader = open_stream(&base, &world, &ask_streamed("openai"), Some("hang-up-1")).await;
    assert_eq!(reader.next().await.unwrap().name, "start");
    let mut received = String::new();
    for _ in 0..3 {
        let delta = reader.next().await.unwrap();
        received.push_str(delta.data["text"].as_str().unwrap());
    }
    drop(reader);

    let (cost, _, output, meta) = settled(&world).await;
    assert!(cost > 0);
    assert!(
        output >= received.len() as i64,
        "at least what reached the client: {output}"
    );
    assert_eq!(meta["usage_estimated_reason"], "client_disconnected");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(provider.hung_up(), "Helix closed the provider's stream");
    assert!(
        provider.sent() < total,
        "the provider stopped early: {} of {total}",
        provider.sent()
    );
    let key_left: i64 = sqlx::query_scalar("SELECT count(*) FROM turn_idempotency")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(key_left, 0, "the Idempotency-Key was given back");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_provider_that_stalls_is_stopped_at_the_deadline_and_charged_for_what_came(pool: PgPool) {
    let events = OpenAiReply::text("", 0, 0)
        .in_pieces(&["slow ", "and "])
        .events();
    let provider = PacedProvider::start(
        events[..3].to_vec(),
        Duration::from_millis(5),
        Ending::Stall,
    )
    .await;
    let world = world(
        pool.clone(),
        &provider.uri,
        &[
            ("HELIX_ENGINE_DEADLINE", "1s"),
            ("HELIX_ENGINE_TIMEOUT", "1s"),
            ("HELIX_STREAM_KEEP_ALIVE", "200ms"),
        ],
    )
    .await;
    let base = serve(world.app.clone()).await;

    let mut reader = open_stream(&base, &world, &ask_streamed("openai"), None).await;
    let mut names = Vec::new();
    let mut last = None;
    while let Some(event) = reader.next().await {
        names.push(event.name.clone());
        last = Some(event.data);
    }

    assert_eq!(names, ["start", "delta", "delta", "error"]);
    let error = last.unwrap();
    assert_eq!(error["code"], "provider_timeout");
    assert!(reader.comments >= 2, "keep-alives filled the silence");
    let (cost, _, output, meta) = ledger_rows(&world).await.pop().unwrap();
    assert_eq!(output, "slow and ".len() as i64);
    assert_eq!(error["charged"]["micros"], cost);
    assert_eq!(meta["usage_estimated_reason"], "deadline");
    assert!(provider.hung_up());
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_whole_turn_cut_mid_answer_is_a_502_charged_for_what_came(pool: PgPool) {
    let events = OpenAiReply::text("", 0, 0)
        .in_pieces(&["part", "ial"])
        .events();
    let provider =
        PacedProvider::start(events[..3].to_vec(), Duration::from_millis(5), Ending::Cut).await;
    let world = world(pool.clone(), &provider.uri, &[]).await;
    let mut body = ask_streamed("openai");
    body["stream"] = json!(false);

    let reply = stream_turn(&world, &body).await;

    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json["error"]["code"], "provider_stream_cut");
    let (cost, _, output, meta) = ledger_rows(&world).await.pop().unwrap();
    assert!(cost > 0);
    assert_eq!(output, 7);
    assert_eq!(meta["usage_estimated_reason"], "provider_stream_cut");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn failures_before_the_provider_answers_are_json_errors_and_charge_nothing(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({"error": {"message": "slow down", "type": "rate_limit_error", "code": null}}),
        ))
        .mount(&provider)
        .await;
    let world = world(pool.clone(), &provider.uri(), &[]).await;
    let mut invalid = ask_streamed("openai");
    invalid["messages"] = json!([]);

    let refused = stream_turn(&world, &ask_streamed("openai")).await;
    let bad = stream_turn(&world, &invalid).await;

    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json["error"]["code"], "provider_rate_limited");
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.events.is_empty() && refused.events.is_empty());
    assert!(ledger_rows(&world).await.is_empty(), "nothing was charged");
    assert_eq!(balance(&world).await, GRANT_MICROS);
    assert_eq!(open_holds(&pool).await, 0);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_stream_without_budget_is_a_402_json_error(pool: PgPool) {
    let provider = fake_provider().await;
    let world = funded_world(pool.clone(), &provider.uri(), &[], 0).await;

    let broke = stream_turn(&world, &ask_streamed("openai")).await;

    assert_eq!(broke.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(broke.json["error"]["code"], "budget_exhausted");
    assert!(provider.received_requests().await.unwrap().is_empty());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_finished_stream_is_replayed_to_a_retry_and_charged_once(pool: PgPool) {
    let provider = fake_provider().await;
    let world = world(pool.clone(), &provider.uri(), &[]).await;
    let body = ask_streamed("openai");

    let first = send_stream(&world.app, turn_request(&world, &body, Some("replay-1"))).await;
    let again = send_stream(&world.app, turn_request(&world, &body, Some("replay-1"))).await;
    let mut whole = body.clone();
    whole["stream"] = json!(false);
    let as_json = send_stream(&world.app, turn_request(&world, &whole, Some("replay-1"))).await;

    assert_eq!(first.names(), ["start", "delta", "delta", "delta", "done"]);
    assert_eq!(again.names(), ["start", "delta", "done"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.text(), "Hello!");
    assert_eq!(again.last().data, first.last().data);
    assert_eq!(again.events[0].data, first.events[0].data);
    assert_eq!(as_json.status, StatusCode::OK);
    assert_eq!(as_json.json["text"], "Hello!");
    assert_eq!(provider.received_requests().await.unwrap().len(), 1);
    assert_eq!(ledger_rows(&world).await.len(), 1, "charged once");
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_retry_while_the_stream_runs_is_409_and_the_first_finishes(pool: PgPool) {
    let events = OpenAiReply::text("", 20, 5)
        .in_pieces(&["a", "b", "c", "d"])
        .events();
    let provider = PacedProvider::start(events, Duration::from_millis(60), Ending::Complete).await;
    let world = world(pool.clone(), &provider.uri, &[]).await;
    let base = serve(world.app.clone()).await;
    let body = ask_streamed("openai");

    let mut first = open_stream(&base, &world, &body, Some("running-1")).await;
    assert_eq!(first.next().await.unwrap().name, "start");
    let retry = send_stream(&world.app, turn_request(&world, &body, Some("running-1"))).await;
    let mut names = Vec::new();
    while let Some(event) = first.next().await {
        names.push(event.name);
    }

    assert_eq!(retry.status, StatusCode::CONFLICT);
    assert_eq!(retry.json["error"]["code"], "idempotency_key_in_progress");
    assert_eq!(names.last().map(String::as_str), Some("done"));
    assert_eq!(ledger_rows(&world).await.len(), 1);
    assert_invariant(&pool).await;
}

/// 200 streams at once for a user whose budget pays for exactly 50 of them.
#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn two_hundred_streams_at_once_never_overspend(pool: PgPool) {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("", 40, 20).in_pieces(&["o", "k"]))
        .mount(&provider)
        .await;
    // Local model at $1 per million output tokens: 20 output tokens cost exactly 20 micros.
    let world = funded_world(
        pool.clone(),
        &provider.uri(),
        &[
            ("HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS", "1000000"),
            ("HELIX_DB_MAX_CONNECTIONS", "20"),
        ],
        50 * 20,
    )
    .await;
    let mut body = ask_streamed("local");
    body["overrides"] = json!({"max_tokens": 20});

    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (pool, user, watching) = (pool.clone(), world.user.id.clone(), watching.clone());
        tokio::spawn(async move {
            let mut lowest = i64::MAX;
            while watching.load(Ordering::SeqCst) {
                lowest = lowest.min(ledger::balance_micros(&pool, &user).await.unwrap());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            lowest
        })
    };
    let turns: Vec<_> = (0..200)
        .map(|_| {
            let (app, request) = (world.app.clone(), turn_request(&world, &body, None));
            tokio::spawn(async move { send_stream(&app, request).await })
        })
        .collect();
    let mut done = 0;
    let mut refused = 0;
    for turn in turns {
        let reply = turn.await.unwrap();
        match reply.status {
            StatusCode::OK if reply.last().name == "done" => done += 1,
            StatusCode::PAYMENT_REQUIRED => refused += 1,
            other => panic!("unexpected {other}: {:?}", reply.names()),
        }
    }
    watching.store(false, Ordering::SeqCst);
    let lowest_seen = watcher.await.unwrap();

    assert_eq!(done + refused, 200);
    assert_eq!(done, 50, "the budget pays for exactly 50 streams");
    assert!(
        lowest_seen >= 0,
        "the balance went below zero: {lowest_seen}"
    );
    assert_eq!(balance(&world).await, 0);
    let spent: i64 = ledger_rows(&world).await.iter().map(|r| r.0).sum();
    assert_eq!(spent, 50 * 20, "Σ ledger = spent, exactly");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

/// A Lambda invocation that ends in 11 s: the turn stops reading 10 s before (the settle margin),
/// long before the engine deadline, and is charged for what came.
#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_turn_stops_in_time_to_settle_before_its_lambda_invocation_ends(pool: PgPool) {
    let events = OpenAiReply::text("", 0, 0).in_pieces(&["early "]).events();
    let provider = PacedProvider::start(
        events[..2].to_vec(),
        Duration::from_millis(5),
        Ending::Stall,
    )
    .await;
    let world = world(pool.clone(), &provider.uri, &[]).await;
    let mut request = turn_request(&world, &ask_streamed("openai"), None);
    let mut invocation = lambda_runtime::Context::default();
    let ends_at = std::time::SystemTime::now() + Duration::from_secs(11);
    invocation.deadline = ends_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    request.extensions_mut().insert(invocation);

    let started = std::time::Instant::now();
    let reply = send_stream(&world.app, request).await;

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.names(), ["start", "delta", "error"]);
    assert_eq!(reply.last().data["code"], "provider_timeout");
    let (_, _, output, meta) = ledger_rows(&world).await.pop().unwrap();
    assert_eq!(output, "early ".len() as i64);
    assert_eq!(meta["usage_estimated_reason"], "deadline");
    assert_eq!(open_holds(&pool).await, 0);
}
