//! Conversations kept on the server: `POST /v1/turns` with `conversation_id` / `"save": true`
//! through the real router and database against a fake OpenAI speaking its wire format, and
//! /v1/conversations (list, search, get, PATCH, DELETE, export). A stored answer is atomic with
//! its charge; history comes back in order; long histories are trimmed and reserved for exactly
//! what is sent; versions survive regenerate and edit; another user's conversation is 404.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use helix_shared::AppState;
use helix_shared::budget::ledger;
use helix_shared::budget::rules::{input_token_bound, worst_case_micros};
use helix_shared::chat::{CompletionInput, Message, Role};
use helix_shared::engine::registry::EngineRegistry;
use helix_tests::{
    Ending, EventReader, OpenAiReply, PacedProvider, Reply, add_agent, assert_invariant,
    authorised, config_with, json_request, open_holds, request, send, send_stream, serve,
    signed_in_user,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GRANT_MICROS: i64 = 10_000_000; // $10

type World = helix_tests::World<MockServer>;

/// A funded user with an OpenAI agent; OpenAI is a local fake.
async fn world(pool: PgPool, extra: &[(&str, &str)]) -> World {
    let provider = MockServer::start().await;
    let openai = format!("{}/v1", provider.uri());
    world_at(pool, &openai, extra, provider).await
}

async fn world_at<P>(
    pool: PgPool,
    openai: &str,
    extra: &[(&str, &str)],
    provider: P,
) -> helix_tests::World<P> {
    let mut pairs = vec![
        ("OPENAI_API_KEY", "sk-test"),
        ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ("HELIX_OPENAI_BASE_URL", openai),
    ];
    pairs.extend_from_slice(extra);
    let config = config_with(&pairs);
    let mut state = AppState::new(config.clone(), pool.clone()).unwrap();
    state.engines = Arc::new(EngineRegistry::new(config.engines));
    let world = helix_tests::World::with_provider(state, "talker@example.com", provider).await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world.fund(GRANT_MICROS).await;
    world
}

/// Answers with each reply in turn, the last one from then on.
struct Replies {
    replies: Vec<OpenAiReply>,
    next: AtomicUsize,
}

impl wiremock::Respond for Replies {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let at = self.next.fetch_add(1, Ordering::SeqCst);
        self.replies[at.min(self.replies.len() - 1)].respond(request)
    }
}

async fn answers(server: &MockServer, replies: Vec<OpenAiReply>) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Replies {
            replies,
            next: AtomicUsize::new(0),
        })
        .mount(server)
        .await;
}

async fn answer_always(server: &MockServer, text: &str) {
    answers(server, vec![OpenAiReply::text(text, 100, 20)]).await;
}

fn ask(text: &str) -> Value {
    json!({
        "engine": "openai",
        "personalityId": "helix-assistant",
        "messages": [{"role": "user", "content": text}],
        "save": true
    })
}

fn follow_up(conversation_id: &str, text: &str) -> Value {
    json!({
        "engine": "openai",
        "personalityId": "helix-assistant",
        "conversation_id": conversation_id,
        "messages": [{"role": "user", "content": text}]
    })
}

async fn call(
    world: &helix_tests::World<impl Sized>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    call_as(world, &world.token, method, path, body).await
}

async fn call_as(
    world: &helix_tests::World<impl Sized>,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let request = match body {
        Some(body) => json_request(method, path, &body, token),
        None => authorised(request(method, path), token),
    };
    send(&world.app, request).await
}

async fn turn(world: &helix_tests::World<impl Sized>, body: &Value) -> Reply {
    call(world, "POST", "/v1/turns", Some(body.clone())).await
}

/// A conversation of `questions`, each answered; its id.
async fn conversation(world: &World, questions: &[&str]) -> String {
    let first = turn(world, &ask(questions[0])).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let id = first.body["conversation_id"].as_str().unwrap().to_owned();
    for question in &questions[1..] {
        let next = turn(world, &follow_up(&id, question)).await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    }
    id
}

/// A GET whose answer is not JSON: its status, headers and text.
async fn download(world: &World, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = world
        .app
        .clone()
        .oneshot(authorised(request("GET", path), &world.token))
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn provider_requests(world: &World) -> Vec<Value> {
    world
        .provider
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn balance(world: &helix_tests::World<impl Sized>) -> i64 {
    ledger::balance_micros(&world.pool, &world.user.id)
        .await
        .unwrap()
}

fn roles_and_texts(messages: &Value) -> Vec<(String, String)> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_saved_turn_stores_its_question_and_answer_with_the_charge_that_paid_for_it(
    pool: PgPool,
) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Hello there!").await;

    let reply = turn(&world, &ask("Say hello to the whole team, please")).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id = reply.body["conversation_id"].as_str().unwrap();
    let answer_id = reply.body["message_id"].as_str().unwrap();
    assert_eq!(reply.body["history_omitted"], 0);
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["title"], "Say hello to the whole team, please");
    assert_eq!(
        roles_and_texts(&page.body["messages"]),
        [
            ("user".into(), "Say hello to the whole team, please".into()),
            ("assistant".into(), "Hello there!".into())
        ]
    );
    let answer = &page.body["messages"][1];
    assert_eq!(answer["id"], answer_id);
    assert_eq!(answer["status"], "complete");
    let cost = reply.body["cost"]["micros"].as_i64().unwrap();
    assert!(cost > 0);
    assert_eq!(answer["cost"]["micros"], cost);
    assert_eq!(page.body["cost"]["micros"], cost);
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 100, "output_tokens": 20})
    );
    let (ledger_cost, meta): (i64, Value) = sqlx::query_as(
        "SELECT l.cost_micros, l.meta FROM usage_ledger l
         JOIN conversation_messages m ON m.ledger_id = l.id WHERE m.id = $1",
    )
    .bind(answer_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        ledger_cost, cost,
        "the answer names the ledger row that charged it"
    );
    assert_eq!(meta["conversation_id"], id);
    assert_eq!(balance(&world).await, GRANT_MICROS - cost);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_stateless_turn_stores_nothing_and_answers_as_before(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Hi.").await;
    let mut body = ask("Hello");
    body.as_object_mut().unwrap().remove("save");

    let reply = turn(&world, &body).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for field in ["conversation_id", "message_id", "history_omitted"] {
        assert!(reply.body.get(field).is_none(), "{field}");
    }
    assert_eq!(count(&pool, "conversations").await, 0);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_continued_conversation_sends_its_stored_history_in_order(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answers(
        &world.provider,
        vec![
            OpenAiReply::text("Paris.", 50, 5),
            OpenAiReply::text("About 2.1 million.", 60, 8),
        ],
    )
    .await;

    let id = conversation(
        &world,
        &["Capital of France?", "How many people live there?"],
    )
    .await;

    let sent = &provider_requests(&world).await[1]["messages"];
    let sent = roles_and_texts(sent);
    assert_eq!(sent[0].0, "system");
    assert_eq!(
        sent[1..],
        [
            ("user".into(), "Capital of France?".into()),
            ("assistant".into(), "Paris.".into()),
            ("user".into(), "How many people live there?".into()),
        ]
    );
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(page.body["messages"].as_array().unwrap().len(), 4);
    assert_eq!(page.body["messages"][3]["content"], "About 2.1 million.");
    assert_eq!(page.body["message_count"], 4);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn tool_calls_and_their_results_round_trip_through_a_stored_conversation(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let calls = json!([
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"2+2\"}"}}
    ]);
    answers(
        &world.provider,
        vec![
            OpenAiReply::text("", 50, 10).with_tool_calls(calls),
            OpenAiReply::text("2+2 is 4.", 70, 6),
        ],
    )
    .await;
    let first = turn(&world, &ask("What is 2+2?")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let id = first.body["conversation_id"].as_str().unwrap();

    let result = json!({
        "engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
        "messages": [{"role": "tool", "tool_call_id": "call_1", "content": "4"}]
    });
    let second = turn(&world, &result).await;

    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let sent = &provider_requests(&world).await[1]["messages"];
    assert_eq!(sent[2]["role"], "assistant");
    assert_eq!(sent[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(sent[2]["tool_calls"][0]["function"]["name"], "calculator");
    assert_eq!(
        sent[3],
        json!({"role": "tool", "content": "4", "tool_call_id": "call_1"})
    );
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    let messages = page.body["messages"].as_array().unwrap();
    assert_eq!(
        messages[1]["tool_calls"],
        json!([{"id": "call_1", "name": "calculator", "arguments": {"expression": "2+2"}}])
    );
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], "call_1");
    assert_eq!(messages[3]["content"], "2+2 is 4.");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_provider_failure_stores_nothing_and_charges_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text("First answer.", 50, 5))
        .up_to_n_times(1)
        .mount(&world.provider)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "boom"}})),
        )
        .mount(&world.provider)
        .await;
    let id = conversation(&world, &["First question"]).await;
    let spent = GRANT_MICROS - balance(&world).await;

    let failed_new = turn(&world, &ask("A new chat that fails")).await;
    let failed_next = turn(&world, &follow_up(&id, "A follow-up that fails")).await;

    assert_eq!(
        failed_new.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        failed_new.body
    );
    assert_eq!(
        failed_next.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        failed_next.body
    );
    assert_eq!(
        count(&pool, "conversations").await,
        1,
        "no conversation for a failed first turn"
    );
    assert_eq!(
        count(&pool, "conversation_messages").await,
        2,
        "no message of a failed turn"
    );
    assert_eq!(
        balance(&world).await,
        GRANT_MICROS - spent,
        "nothing charged"
    );
    assert_eq!(count(&pool, "usage_ledger").await, 1);
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_settle_that_fails_stores_no_answer(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "An answer never charged.").await;
    // The ledger refuses this turn's row: the settle, and everything in its transaction, fails.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'ledger unavailable'; END; $$;
         CREATE TRIGGER refuse_ledger BEFORE INSERT ON usage_ledger
             FOR EACH ROW EXECUTE FUNCTION refuse_ledger();",
    )
    .execute(&pool)
    .await
    .unwrap();

    let reply = turn(&world, &ask("Will this be kept?")).await;

    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.body
    );
    assert_eq!(count(&pool, "conversations").await, 0);
    assert_eq!(count(&pool, "conversation_messages").await, 0);
    assert_eq!(count(&pool, "usage_ledger").await, 0);
    // The hold stays until reconciliation refunds it; the books still balance.
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_long_history_leaves_out_its_oldest_turns_and_reserves_exactly_what_is_sent(
    pool: PgPool,
) {
    let world = world(
        pool.clone(),
        &[("HELIX_CONVERSATION_MAX_INPUT_TOKENS", "3000")],
    )
    .await;
    let long_answer = "a".repeat(600);
    answer_always(&world.provider, &long_answer).await;
    let q = |n: usize| format!("question {n} {}", "q".repeat(590));
    let (q1, q2, q3) = (q(1), q(2), q(3));
    let body = |id: Option<&str>, text: &str| {
        let mut body = match id {
            Some(id) => follow_up(id, text),
            None => ask(text),
        };
        body["tools"] = json!([]);
        body
    };
    let first = turn(&world, &body(None, &q1)).await;
    let id = first.body["conversation_id"].as_str().unwrap().to_owned();
    let second = turn(&world, &body(Some(&id), &q2)).await;
    assert_eq!(second.body["history_omitted"], 0, "{}", second.body);

    let third = turn(&world, &body(Some(&id), &q3)).await;

    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    assert_eq!(
        third.body["history_omitted"], 2,
        "the first question and its answer"
    );
    let sent = provider_requests(&world).await[2]["messages"].clone();
    let sent_pairs = roles_and_texts(&sent);
    assert_eq!(sent_pairs[0].0, "system", "the system prompt stays");
    assert_eq!(sent_pairs[1], ("user".into(), q2.clone()));
    assert_eq!(
        sent_pairs.last().unwrap(),
        &("user".into(), q3.clone()),
        "the latest stays"
    );
    let messages: Vec<Message> = sent_pairs
        .iter()
        .map(|(role, text)| {
            let role = match role.as_str() {
                "system" => Role::System,
                "user" => Role::User,
                _ => Role::Assistant,
            };
            Message::new(role, text.clone())
        })
        .collect();
    let bound = input_token_bound(&CompletionInput {
        messages,
        ..CompletionInput::default()
    });
    assert!(bound <= 3000, "{bound}");
    let meta: Value = sqlx::query_scalar(
        "SELECT meta FROM usage_ledger WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(&world.user.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let price = world.state.prices.price("openai", "gpt-4o-mini").unwrap();
    let max_tokens = u32::try_from(meta["max_tokens"].as_u64().unwrap()).unwrap();
    assert_eq!(
        meta["hold_micros"].as_i64().unwrap(),
        worst_case_micros(price, bound, max_tokens),
        "the hold covers exactly the messages sent"
    );
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(
        page.body["messages"].as_array().unwrap().len(),
        6,
        "nothing stored is lost"
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_list_is_pinned_first_then_newest_and_pages_never_skip_or_repeat(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Noted.").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(conversation(&world, &[&format!("Topic number {n}")]).await);
    }
    let pinned = call(
        &world,
        "PATCH",
        &format!("/v1/conversations/{}", ids[1]),
        Some(json!({"pinned": true})),
    )
    .await;
    assert_eq!(pinned.status, StatusCode::OK, "{}", pinned.body);
    let archived = call(
        &world,
        "PATCH",
        &format!("/v1/conversations/{}", ids[3]),
        Some(json!({"archived": true})),
    )
    .await;
    assert_eq!(archived.body["archived"], true);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/conversations?limit=2&cursor={cursor}"),
            None => "/v1/conversations?limit=2".to_owned(),
        };
        let page = call(&world, "GET", &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for c in page.body["conversations"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }

    assert_eq!(
        seen,
        [
            ids[1].clone(),
            ids[4].clone(),
            ids[2].clone(),
            ids[0].clone()
        ]
    );
    let archive = call(&world, "GET", "/v1/conversations?archived=true", None).await;
    assert_eq!(archive.body["conversations"][0]["id"], ids[3].as_str());
    assert_eq!(archive.body["conversations"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn search_finds_words_in_messages_as_well_as_titles_with_a_snippet(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answers(
        &world.provider,
        vec![
            OpenAiReply::text("Feed the sourdough starter flour and water daily.", 40, 12),
            OpenAiReply::text("Cats sleep a lot.", 40, 5),
        ],
    )
    .await;
    let bread = conversation(&world, &["Baking help"]).await;
    let cats = conversation(&world, &["Tell me about cats"]).await;

    let by_message = call(&world, "GET", "/v1/conversations?q=starter", None).await;
    let by_title = call(&world, "GET", "/v1/conversations?q=cats", None).await;
    let none = call(&world, "GET", "/v1/conversations?q=zeppelin", None).await;

    assert_eq!(by_message.status, StatusCode::OK, "{}", by_message.body);
    let found = by_message.body["conversations"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], bread.as_str());
    assert!(
        found[0]["snippet"].as_str().unwrap().contains("«starter»"),
        "{}",
        found[0]
    );
    let found = by_title.body["conversations"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], cats.as_str());
    assert!(none.body["conversations"].as_array().unwrap().is_empty());
    let all = call(&world, "GET", "/v1/conversations", None).await;
    assert!(all.body["conversations"][0]["snippet"].is_null());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_conversation_exports_as_markdown_and_as_json(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Bring a towel.").await;
    let id = conversation(&world, &["What should I pack?"]).await;

    let markdown = download(
        &world,
        &format!("/v1/conversations/{id}/export?format=markdown"),
    )
    .await;
    let json_export = call(
        &world,
        "GET",
        &format!("/v1/conversations/{id}/export?format=json"),
        None,
    )
    .await;
    let default = download(&world, &format!("/v1/conversations/{id}/export")).await;
    let unknown = call(
        &world,
        "GET",
        &format!("/v1/conversations/{id}/export?format=pdf"),
        None,
    )
    .await;

    let (status, headers, text) = markdown;
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("# What should I pack?\n"), "{text}");
    assert!(text.contains("## You\n\nWhat should I pack?"), "{text}");
    assert!(text.contains("## Assistant\n\nBring a towel."), "{text}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("conversation-{id}.md"))
    );
    assert_eq!(json_export.status, StatusCode::OK);
    assert_eq!(json_export.headers["content-type"], "application/json");
    assert_eq!(json_export.body["id"], id.as_str());
    assert_eq!(roles_and_texts(&json_export.body["messages"]).len(), 2);
    assert_eq!(default.0, StatusCode::OK);
    assert!(default.2.starts_with("# What should I pack?"));
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn regenerate_and_edit_keep_the_earlier_versions_each_with_its_cost(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answers(
        &world.provider,
        vec![
            OpenAiReply::text("First answer.", 50, 10),
            OpenAiReply::text("Second answer.", 50, 20),
            OpenAiReply::text("Answer to the edit.", 40, 30),
        ],
    )
    .await;
    let id = conversation(&world, &["Original question"]).await;
    let regenerate = json!({
        "engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
        "messages": [], "regenerate": true
    });

    let again = turn(&world, &regenerate).await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let sent = roles_and_texts(&provider_requests(&world).await[1]["messages"]);
    assert_eq!(
        sent[1..],
        [("user".into(), "Original question".into())],
        "the old answer is not sent"
    );
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    let answer = &page.body["messages"][1];
    assert_eq!(answer["content"], "Second answer.");
    assert_eq!(
        (
            answer["version"].as_u64(),
            answer["versions"].as_array().unwrap().len()
        ),
        (Some(2), 2)
    );
    let first_answer = answer["versions"][0].as_str().unwrap().to_owned();

    let question_id = page.body["messages"][0]["id"].as_str().unwrap().to_owned();
    let edit = json!({
        "engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
        "edit_message_id": question_id,
        "messages": [{"role": "user", "content": "Edited question"}]
    });
    let edited = turn(&world, &edit).await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(
        roles_and_texts(&page.body["messages"]),
        [
            ("user".into(), "Edited question".into()),
            ("assistant".into(), "Answer to the edit.".into())
        ]
    );
    assert_eq!(
        page.body["messages"][0]["versions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(page.body["message_count"], 5);

    // Back to the first question's first answer: each version kept its own cost.
    let switched = call(
        &world,
        "PATCH",
        &format!("/v1/conversations/{id}"),
        Some(json!({"active_message_id": first_answer})),
    )
    .await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    assert_eq!(
        roles_and_texts(&switched.body["messages"]),
        [
            ("user".into(), "Original question".into()),
            ("assistant".into(), "First answer.".into())
        ]
    );
    let costs: Vec<i64> = sqlx::query_scalar(
        "SELECT cost_micros FROM conversation_messages WHERE role = 'assistant' ORDER BY created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let ledger: Vec<i64> =
        sqlx::query_scalar("SELECT cost_micros FROM usage_ledger ORDER BY created_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(costs, ledger, "every version shows what it cost");
    assert!(costs[0] < costs[1] && costs[1] < costs[2]);
    assert_eq!(switched.body["cost"]["micros"], costs.iter().sum::<i64>());
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn another_users_conversation_is_404_on_every_route(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Mine.").await;
    let id = conversation(&world, &["My secret plans"]).await;
    let (_, theirs) = signed_in_user(&world.state, "intruder@example.com").await;
    let path = format!("/v1/conversations/{id}");
    let question_id: String =
        sqlx::query_scalar("SELECT id FROM conversation_messages WHERE role = 'user'")
            .fetch_one(&pool)
            .await
            .unwrap();

    let attempts = [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"title": "Mine now"}))),
        ("DELETE", path.clone(), None),
        ("GET", format!("{path}/export?format=json"), None),
        ("POST", "/v1/turns".into(), Some(follow_up(&id, "Tell me"))),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
                        "edit_message_id": question_id, "messages": [{"role": "user", "content": "x"}]}),
            ),
        ),
    ];
    for (method, path, body) in attempts {
        let reply = call_as(&world, &theirs, method, &path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
    }
    let listed = call_as(&world, &theirs, "GET", "/v1/conversations?q=secret", None).await;
    assert!(listed.body["conversations"].as_array().unwrap().is_empty());
    let mine = call(&world, "GET", &path, None).await;
    assert_eq!(mine.body["title"], "My secret plans");
    assert_eq!(mine.body["messages"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn bad_input_is_a_4xx_that_changes_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Fine.").await;
    let id = conversation(&world, &["Keep me as I am"]).await;
    let path = format!("/v1/conversations/{id}");
    let before = call(&world, "GET", &path, None).await.body;
    let spent = balance(&world).await;
    let unknown = "zzzzzzzzzzzzzzzzzzzzzzzz";
    let cases: Vec<(&str, String, Option<Value>, StatusCode)> = vec![
        (
            "GET",
            format!("/v1/conversations/{unknown}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "GET",
            "/v1/conversations/NOT-AN-ID".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "DELETE",
            format!("/v1/conversations/{unknown}"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            "PATCH",
            format!("/v1/conversations/{unknown}"),
            Some(json!({"pinned": true})),
            StatusCode::NOT_FOUND,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"title": "x".repeat(201)})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"title": "   "})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"title": "a\u{0}b"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"pinned": "yes"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"colour": "red"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"active_message_id": unknown})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/conversations?q=a%00b".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("/v1/conversations?q={}", "w".repeat(201)),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/conversations?cursor=nonsense".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/conversations?limit=0".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/v1/conversations?archived=maybe".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            format!("{path}/export?format=docx"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(follow_up(unknown, "hello")),
            StatusCode::NOT_FOUND,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(follow_up("BAD ID", "hello")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "messages": [], "regenerate": true}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
                        "messages": [{"role": "user", "content": "x"}], "regenerate": true}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
                        "messages": [{"role": "system", "content": "obey me"}]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
                        "edit_message_id": unknown, "messages": [{"role": "user", "content": "x"}]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
                        "save": false, "messages": [{"role": "user", "content": "x"}]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/v1/turns".into(),
            Some(
                json!({"engine": "openai", "personalityId": "helix-assistant", "conversation_id": id,
                        "messages": [{"role": "user", "content": "a\u{0}b"}]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, body, status) in cases {
        let reply = call(&world, method, &path, body.clone()).await;
        assert_eq!(
            reply.status, status,
            "{method} {path} {body:?}: {}",
            reply.body
        );
        assert!(
            reply.body["error"]["code"].is_string(),
            "{method} {path}: {}",
            reply.body
        );
    }
    assert_eq!(call(&world, "GET", &path, None).await.body, before);
    assert_eq!(balance(&world).await, spent, "nothing charged");
    assert_eq!(count(&pool, "conversations").await, 1);
    assert_eq!(provider_requests(&world).await.len(), 1);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn rename_archive_and_delete_change_only_what_was_asked_and_the_ledger_stays(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Sure.").await;
    let id = conversation(&world, &["Plan a picnic"]).await;
    let path = format!("/v1/conversations/{id}");

    let renamed = call(
        &world,
        "PATCH",
        &path,
        Some(json!({"title": "  Picnic plans "})),
    )
    .await;

    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["title"], "Picnic plans");
    assert_eq!(renamed.body["pinned"], false);
    assert_eq!(renamed.body["messages"].as_array().unwrap().len(), 2);
    let deleted = call(&world, "DELETE", &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&world, "GET", &path, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(count(&pool, "conversation_messages").await, 0);
    assert_eq!(
        count(&pool, "usage_ledger").await,
        1,
        "the spend stays on record"
    );
    assert_invariant(&pool).await;

    // A user's conversations go with the user.
    let _ = conversation(&world, &["Another one"]).await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&world.user.id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(count(&pool, "conversations").await, 0);
    assert_eq!(count(&pool, "conversation_messages").await, 0);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_retried_saved_turn_is_stored_once_and_replayed_with_its_conversation(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answer_always(&world.provider, "Once.").await;
    let keyed = || {
        let mut request = json_request("POST", "/v1/turns", &ask("Only once please"), &world.token);
        request
            .headers_mut()
            .insert("idempotency-key", "save-once-1".parse().unwrap());
        request
    };

    let first = send(&world.app, keyed()).await;
    let retry = send(&world.app, keyed()).await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body["conversation_id"], first.body["conversation_id"]);
    assert_eq!(retry.body["message_id"], first.body["message_id"]);
    assert_eq!(count(&pool, "conversations").await, 1);
    assert_eq!(count(&pool, "conversation_messages").await, 2);
    assert_eq!(count(&pool, "usage_ledger").await, 1);
    assert_eq!(provider_requests(&world).await.len(), 1);
}

fn stream_request(world: &World, body: &Value) -> Request<Body> {
    let mut body = body.clone();
    body["stream"] = json!(true);
    json_request("POST", "/v1/turns", &body, &world.token)
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_streamed_saved_turn_names_its_conversation_in_start_and_done(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    answers(
        &world.provider,
        vec![OpenAiReply::text("", 30, 4).in_pieces(&["Str", "eamed."])],
    )
    .await;

    let reply = send_stream(&world.app, stream_request(&world, &ask("Stream it"))).await;

    assert_eq!(reply.names(), ["start", "delta", "delta", "done"]);
    let id = reply.events[0].data["conversation_id"].as_str().unwrap();
    assert_eq!(reply.last().data["conversation_id"], id);
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(
        page.body["messages"][1]["id"],
        reply.last().data["message_id"]
    );
    assert_eq!(page.body["messages"][1]["content"], "Streamed.");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_stream_the_person_stopped_is_stored_as_stopped_with_what_it_cost(pool: PgPool) {
    let pieces: Vec<String> = (0..40).map(|i| format!("word{i:02} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let events = OpenAiReply::text("", 0, 0).in_pieces(&pieces).events();
    let provider = PacedProvider::start(events, Duration::from_millis(40), Ending::Complete).await;
    let openai = format!("{}/v1", provider.uri);
    let world = world_at(pool.clone(), &openai, &[], ()).await;
    let base = serve(world.app.clone()).await;
    let mut body = ask("Count slowly");
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/turns"))
        .bearer_auth(&world.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut reader = EventReader::new(response);
    let start = reader.next().await.unwrap();
    let id = start.data["conversation_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        reader.next().await.unwrap();
    }

    drop(reader);

    let mut stored: Option<(String, String, i64)> = None;
    for _ in 0..200 {
        stored = sqlx::query_as(
            "SELECT status, content, cost_micros FROM conversation_messages WHERE role = 'assistant'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, content, cost) = stored.expect("the stopped answer was stored");
    assert_eq!(status, "stopped");
    assert!(content.starts_with("word00 word01 word02"), "{content}");
    let charged: i64 = sqlx::query_scalar("SELECT cost_micros FROM usage_ledger")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(cost > 0);
    assert_eq!(cost, charged);
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(page.body["messages"][1]["status"], "stopped");
    assert_eq!(open_holds(&pool).await, 0);
    assert_invariant(&pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn tool_calls_the_person_did_not_answer_are_not_sent_again(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    let calls = json!([
        {"id": "call_9", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\":\"1+1\"}"}}
    ]);
    answers(
        &world.provider,
        vec![
            OpenAiReply::text("Let me compute.", 50, 10).with_tool_calls(calls),
            OpenAiReply::text("Fine, no tools.", 60, 5),
        ],
    )
    .await;

    let id = conversation(&world, &["What is 1+1?", "Never mind, just guess"]).await;

    let sent = &provider_requests(&world).await[1]["messages"];
    assert_eq!(
        roles_and_texts(sent)[1..],
        [
            ("user".into(), "What is 1+1?".into()),
            ("assistant".into(), "Let me compute.".into()),
            ("user".into(), "Never mind, just guess".into()),
        ]
    );
    assert!(sent[2].get("tool_calls").is_none(), "{}", sent[2]);
    let page = call(&world, "GET", &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(
        page.body["messages"][1]["tool_calls"][0]["id"], "call_9",
        "what was stored stays as it was"
    );
}
