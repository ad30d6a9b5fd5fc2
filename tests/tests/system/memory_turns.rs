//! Retrieval in turns: a personality with memory enabled gets the most relevant chunks of the
//! user's memory in its context, the provider receives them, the response names their documents,
//! and the query embedding is charged on the ledger. Personas see their own documents too.

use axum::http::StatusCode;
use helix_shared::personality::MemorySettings;
use helix_tests::{OpenAiReply, Reply, add_agent, json_request, prepare_memory, send, state_with};
use serde_json::{Value, json};
use sqlx::PgPool;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

type World = helix_tests::World<MockServer>;

async fn world(pool: PgPool) -> World {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(OpenAiReply::text(
            "You get 25 days [leave-policy].",
            300,
            10,
        ))
        .mount(&provider)
        .await;
    let base = format!("{}/v1", provider.uri());
    let state = state_with(
        pool.clone(),
        &[
            ("OPENAI_API_KEY", "sk-test"),
            ("HELIX_OPENAI_BASE_URL", &base),
            ("HELIX_ENGINE_MAX_ATTEMPTS", "1"),
        ],
    );
    prepare_memory(&state).await;
    let world = World::with_provider(state, "recall@example.com", provider).await;
    world.fund(10_000_000).await;
    add_agent(&pool, &world.user.id, "openai", "gpt-4o-mini", "active").await;
    world
}

/// Memory's requests as the world's methods, so that the tests read as sentences.
trait Recall {
    async fn store(&self, body: Value);
    async fn turn(&self, personality: &str, question: &str) -> Reply;
    async fn last_sent(&self) -> Vec<Value>;
    async fn ledger_kinds(&self) -> Vec<(String, String)>;
}

impl Recall for World {
    async fn store(&self, body: Value) {
        let reply = send(
            &self.app,
            json_request("POST", "/v1/memory/documents", &body, &self.token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    async fn turn(&self, personality: &str, question: &str) -> Reply {
        let body = json!({
            "engine": "openai",
            "personalityId": personality,
            "messages": [{"role": "user", "content": question}]
        });
        let reply = send(
            &self.app,
            json_request("POST", "/v1/turns", &body, &self.token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
    }

    /// The messages of the provider's last request.
    async fn last_sent(&self) -> Vec<Value> {
        let requests = self.provider.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&requests.last().unwrap().body).unwrap();
        body["messages"].as_array().unwrap().clone()
    }

    async fn ledger_kinds(&self) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT kind, COALESCE(meta->>'purpose', '') FROM usage_ledger WHERE user_id = $1
             ORDER BY created_at, id",
        )
        .bind(&self.user.id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_turn_with_memory_sends_the_relevant_chunks_and_names_their_documents(pool: PgPool) {
    let world = world(pool).await;
    world
        .store(json!({"doc_id": "leave-policy", "text": "Employees receive twenty-five days of paid holiday each year."}))
        .await;
    world
        .store(json!({"doc_id": "pension", "text": "The company matches pension contributions up to six percent of salary."}))
        .await;

    // research-helper enables memory (k 4, min_score 0.3).
    let reply = world
        .turn(
            "research-helper",
            "How much vacation time do I get annually?",
        )
        .await;
    assert_eq!(reply.body["memory_doc_ids"], json!(["leave-policy"]));

    let sent = world.last_sent().await;
    assert_eq!(sent[0]["role"], "system", "the personality's prompt first");
    assert_eq!(sent[1]["role"], "system");
    let context = sent[1]["content"].as_str().unwrap();
    assert!(
        context.contains("<chunk doc_id=\"leave-policy\""),
        "{context}"
    );
    assert!(
        context.contains("twenty-five days of paid holiday"),
        "{context}"
    );
    assert!(!context.contains("pension"), "below min_score: {context}");
    assert_eq!(
        sent[2]["content"],
        "How much vacation time do I get annually?"
    );

    let kinds = world.ledger_kinds().await;
    assert_eq!(
        kinds[2..],
        [
            ("embedding".into(), "turn_retrieval".into()),
            ("completion".into(), String::new())
        ]
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn without_memory_enabled_or_stored_no_embedding_is_made_or_charged(pool: PgPool) {
    let world = world(pool).await;
    let reply = world.turn("research-helper", "Anything stored?").await;
    assert_eq!(reply.body["memory_doc_ids"], json!([]));
    assert_eq!(
        world.ledger_kinds().await,
        [("completion".into(), String::new())]
    );

    world
        .store(json!({"doc_id": "notes", "text": "Standup is at half past nine."}))
        .await;
    let reply = world.turn("helix-assistant", "When is standup?").await;
    assert_eq!(
        reply.body["memory_doc_ids"],
        json!([]),
        "helix-assistant has no memory"
    );
    let sent = world.last_sent().await;
    assert!(
        sent.iter()
            .all(|m| !m["content"].as_str().unwrap().contains("<memory>"))
    );
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_persona_sees_its_own_documents_and_the_shared_ones_presets_only_the_shared(
    pool: PgPool,
) {
    let world = world(pool.clone()).await;
    let memory = MemorySettings {
        enabled: true,
        k: 4,
        min_score: 0.2,
    };
    let persona = helix_shared::db::personas::create(
        &pool,
        &world.user.id,
        "Gardener",
        "You help with the garden.",
        Some(&memory),
        200,
    )
    .await
    .unwrap()
    .unwrap();
    world
        .store(json!({"doc_id": "tomatoes", "persona_id": persona.id,
                      "text": "Water the tomato plants every morning and feed them weekly."}))
        .await;
    world
        .store(json!({"doc_id": "hose", "text": "The garden hose is kept in the shed behind the house."}))
        .await;

    let reply = world
        .turn(&persona.id, "How often should I water my tomatoes?")
        .await;
    let ids = reply.body["memory_doc_ids"].as_array().unwrap();
    assert_eq!(ids[0], "tomatoes");

    let reply = world
        .turn("research-helper", "How often should I water my tomatoes?")
        .await;
    assert!(
        !reply.body["memory_doc_ids"]
            .as_array()
            .unwrap()
            .contains(&json!("tomatoes")),
        "a preset never sees a persona's documents: {}",
        reply.body
    );
}

/// A world with a document to recall, whose provider refuses the next completion (a 429).
async fn world_whose_next_answer_is_refused(pool: PgPool) -> World {
    let world = world(pool).await;
    world
        .store(json!({"doc_id": "leave-policy", "text": "Employees receive twenty-five days of paid holiday each year."}))
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(wiremock::ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&world.provider)
        .await;
    world
}

const VACATION: &str = "How much vacation time do I get annually?";

/// A keyed turn's request asking `question`, as a client would retry it.
fn keyed_turn(world: &World, key: &str, question: &str) -> axum::http::Request<axum::body::Body> {
    let body = json!({
        "engine": "openai",
        "personalityId": "research-helper",
        "messages": [{"role": "user", "content": question}]
    });
    let mut request = json_request("POST", "/v1/turns", &body, &world.token);
    request
        .headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_keyed_retry_after_a_provider_failure_reuses_the_recall_it_paid_for(pool: PgPool) {
    let world = world_whose_next_answer_is_refused(pool).await;

    let refused = send(&world.app, keyed_turn(&world, "retry-1", VACATION)).await;
    let retried = send(&world.app, keyed_turn(&world, "retry-1", VACATION)).await;

    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["memory_doc_ids"], json!(["leave-policy"]));
    let kinds = world.ledger_kinds().await;
    assert_eq!(
        kinds[1..],
        [
            ("embedding".into(), "turn_retrieval".into()),
            ("completion".into(), String::new())
        ],
        "the query was embedded and charged once, for both attempts"
    );
    let replay = send(&world.app, keyed_turn(&world, "retry-1", VACATION)).await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(world.ledger_kinds().await.len(), kinds.len());
    helix_tests::assert_invariant(&world.pool).await;
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_released_key_reused_for_another_question_embeds_that_question(pool: PgPool) {
    let world = world_whose_next_answer_is_refused(pool).await;
    let refused = send(&world.app, keyed_turn(&world, "retry-2", VACATION)).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);

    let other = keyed_turn(&world, "retry-2", "What is the pension match?");
    let answered = send(&world.app, other).await;

    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    let embeddings = world
        .ledger_kinds()
        .await
        .iter()
        .filter(|(_, purpose)| purpose == "turn_retrieval")
        .count();
    assert_eq!(embeddings, 2, "another question is another embedding");
    helix_tests::assert_invariant(&world.pool).await;
}
