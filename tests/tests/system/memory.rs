//! /v1/memory through the real router, a real database and the real local embedding model
//! (all-MiniLM-L6-v2): storing, replacing, listing, deleting, searching, isolation between users,
//! metering, and retrieval quality on a small corpus.

use axum::http::StatusCode;
use helix_shared::budget::ledger;
use helix_tests::{
    Reply, World, authorised, get, json_request, prepare_memory, send, signed_in_user, state_with,
};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A user with $1, memory prepared for the local model priced at $1 per million tokens.
async fn world(pool: PgPool, extra: &[(&str, &str)]) -> World {
    let mut pairs = vec![("HELIX_LOCAL_INPUT_PER_MTOK_MICROS", "1000000")];
    pairs.extend_from_slice(extra);
    let state = state_with(pool.clone(), &pairs);
    prepare_memory(&state).await;
    let world = World::new(state, "rememberer@example.com").await;
    world.fund(1_000_000).await;
    world
}

/// Memory's requests as the world's methods, so that the tests read as sentences.
trait Memory {
    async fn post(&self, path: &str, body: Value) -> Reply;
    async fn store(&self, doc_id: &str, text: &str) -> Reply;
    async fn search(&self, query: &str, k: u32) -> Vec<Value>;
    async fn ledger(&self) -> Vec<(String, i32, i64, Value)>;
}

impl Memory for World {
    async fn post(&self, path: &str, body: Value) -> Reply {
        send(&self.app, json_request("POST", path, &body, &self.token)).await
    }

    async fn store(&self, doc_id: &str, text: &str) -> Reply {
        let reply = self
            .post(
                "/v1/memory/documents",
                json!({"doc_id": doc_id, "title": doc_id, "text": text}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply
    }

    async fn search(&self, query: &str, k: u32) -> Vec<Value> {
        let reply = self
            .post("/v1/memory/search", json!({"query": query, "k": k}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["results"].as_array().unwrap().clone()
    }

    async fn ledger(&self) -> Vec<(String, i32, i64, Value)> {
        sqlx::query_as(
            "SELECT kind, input_tokens, cost_micros, meta FROM usage_ledger
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(&self.user.id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

const HANDBOOK: &str = "Annual leave. Every employee gets 25 days of paid annual leave per year. \
Unused days carry over until the end of March.\n\nSick leave. Tell your manager before 10am on \
the first day you are ill. A doctor's note is needed after five days.";

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_document_is_chunked_embedded_charged_and_stored(pool: PgPool) {
    let world = world(
        pool,
        &[
            ("HELIX_MEMORY_CHUNK_TOKENS", "32"),
            ("HELIX_MEMORY_CHUNK_OVERLAP", "8"),
        ],
    )
    .await;
    let reply = world.store("handbook", HANDBOOK).await;
    let body = &reply.body;
    assert_eq!(body["doc_id"], "handbook");
    assert_eq!(body["title"], "handbook");
    assert_eq!(body["chars"], HANDBOOK.chars().count());
    let chunk_count = body["chunk_count"].as_i64().unwrap();
    assert!(chunk_count >= 2, "small chunks split the handbook: {body}");

    let ledger = world.ledger().await;
    assert_eq!(ledger.len(), 1);
    let (kind, tokens, cost, meta) = &ledger[0];
    assert_eq!(kind, "embedding");
    assert!(*tokens > 0);
    assert_eq!(
        *cost,
        i64::from(*tokens),
        "$1 per million tokens is 1 micro-dollar each"
    );
    assert_eq!(body["cost"]["micros"], *cost);
    assert_eq!(body["budget"]["remaining_micros"], 1_000_000 - cost);
    assert_eq!(meta["purpose"], "memory_document");
    assert_eq!(meta["model"], "all-minilm-l6-v2");
    assert_eq!(meta["texts"], chunk_count);

    let stored: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT content, char_start, char_end FROM embeddings WHERE doc_id = 'handbook' ORDER BY chunk_index",
    )
    .fetch_all(&world.pool)
    .await
    .unwrap();
    assert_eq!(stored.len() as i64, chunk_count);
    for (content, start, end) in &stored {
        assert_eq!(
            content,
            &HANDBOOK[*start as usize..*end as usize],
            "chunks are slices"
        );
    }
    assert!(stored.iter().any(|(c, _, _)| c.contains("25 days")));
    assert!(stored.iter().any(|(c, _, _)| c.contains("doctor's note")));
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn reposting_a_doc_id_replaces_its_chunks_and_listing_and_deleting_work(pool: PgPool) {
    let world = world(pool, &[]).await;
    let first = world.store("policy", HANDBOOK).await;
    let second = world
        .store("policy", "Expenses. Submit receipts within 30 days.")
        .await;
    assert_eq!(second.body["created_at"], first.body["created_at"]);
    assert_eq!(second.body["chunk_count"], 1);
    let contents: Vec<String> =
        sqlx::query_scalar("SELECT content FROM embeddings WHERE doc_id = 'policy'")
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(contents, vec!["Expenses. Submit receipts within 30 days."]);

    world.store("notes", "Standup is at 9:30.").await;
    let list = send(
        &world.app,
        authorised(get("/v1/memory/documents"), &world.token),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    let ids: Vec<&str> = list.body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["doc_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["notes", "policy"], "most recently changed first");

    let delete = || {
        authorised(
            axum::http::Request::delete("/v1/memory/documents/policy")
                .body(axum::body::Body::empty())
                .unwrap(),
            &world.token,
        )
    };
    assert_eq!(
        send(&world.app, delete()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&world.app, delete()).await.status,
        StatusCode::NOT_FOUND
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM embeddings WHERE doc_id = 'policy'")
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "a document's chunks go with it");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn a_replacement_is_atomic_readers_never_see_a_mix_or_nothing(pool: PgPool) {
    let world = world(
        pool,
        &[
            ("HELIX_MEMORY_CHUNK_TOKENS", "16"),
            ("HELIX_MEMORY_CHUNK_OVERLAP", "0"),
        ],
    )
    .await;
    let version = |v: usize| {
        (0..12)
            .map(|i| format!("Version {v} sentence number {i} says something."))
            .collect::<Vec<_>>()
            .join(" ")
    };
    world.store("doc", &version(0)).await;
    let reader = {
        let pool = world.pool.clone();
        tokio::spawn(async move {
            let mut snapshots = 0;
            for _ in 0..200 {
                let contents: Vec<String> =
                    sqlx::query_scalar("SELECT content FROM embeddings WHERE doc_id = 'doc'")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                assert!(!contents.is_empty(), "a reader saw the document empty");
                let versions: std::collections::BTreeSet<&str> = contents
                    .iter()
                    .map(|c| c.split(' ').nth(1).unwrap())
                    .collect();
                assert_eq!(
                    versions.len(),
                    1,
                    "a reader saw two versions at once: {versions:?}"
                );
                snapshots += 1;
                tokio::task::yield_now().await;
            }
            snapshots
        })
    };
    for v in 1..=6 {
        world.store("doc", &version(v)).await;
    }
    assert_eq!(reader.await.unwrap(), 200);
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn another_users_documents_are_never_listed_found_searched_or_deleted(pool: PgPool) {
    let world = world(pool.clone(), &[]).await;
    world
        .store("secret-plan", "The launch date is the fourth of May.")
        .await;
    let (stranger, token) = signed_in_user(&world.state, "stranger@example.com").await;
    ledger::grant(&pool, &stranger.id, 1_000_000, "test grant", None)
        .await
        .unwrap();

    let list = send(&world.app, authorised(get("/v1/memory/documents"), &token)).await;
    assert_eq!(list.body["documents"], json!([]));
    let search = send(
        &world.app,
        json_request(
            "POST",
            "/v1/memory/search",
            &json!({"query": "When is the launch?"}),
            &token,
        ),
    )
    .await;
    assert_eq!(search.status, StatusCode::OK);
    assert_eq!(search.body["results"], json!([]));
    let delete = send(
        &world.app,
        authorised(
            axum::http::Request::delete("/v1/memory/documents/secret-plan")
                .body(axum::body::Body::empty())
                .unwrap(),
            &token,
        ),
    )
    .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    // The same doc_id is free for the stranger: ids are per user.
    let mine = send(
        &world.app,
        json_request(
            "POST",
            "/v1/memory/documents",
            &json!({"doc_id": "secret-plan", "text": "My own plan."}),
            &token,
        ),
    )
    .await;
    assert_eq!(mine.status, StatusCode::CREATED);
    assert_eq!(
        world.search("launch date", 5).await.len(),
        1,
        "the owner still has theirs"
    );

    // A persona of someone else's is as absent as none.
    let persona = helix_shared::db::personas::create(&pool, &world.user.id, "Mine", "p", None, 200)
        .await
        .unwrap()
        .unwrap();
    let foreign = send(
        &world.app,
        json_request(
            "POST",
            "/v1/memory/documents",
            &json!({"text": "x", "persona_id": persona.id}),
            &token,
        ),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.body["error"]["code"], "not_found");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn bad_input_and_an_empty_budget_change_nothing(pool: PgPool) {
    let world = world(pool.clone(), &[("HELIX_MEMORY_MAX_DOCUMENT_BYTES", "1000")]).await;
    let cases = [
        (
            json!({"text": "x".repeat(1001)}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (json!({"text": "   "}), StatusCode::BAD_REQUEST),
        (
            json!({"text": "a", "doc_id": "no spaces please"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"text": "a", "metadata": "not an object"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"text": "a", "colour": "blue"}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, status) in cases {
        let reply = world.post("/v1/memory/documents", body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.body["error"]["trace_id"].is_string());
    }
    let search = world
        .post("/v1/memory/search", json!({"query": "x", "k": 0}))
        .await;
    assert_eq!(search.status, StatusCode::BAD_REQUEST);

    let (broke, token) = signed_in_user(&world.state, "broke@example.com").await;
    let reply = send(
        &world.app,
        json_request(
            "POST",
            "/v1/memory/documents",
            &json!({"text": "Remember me."}),
            &token,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "budget_exhausted");

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_documents")
        .fetch_one(&pool)
        .await
        .unwrap();
    let charged: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((stored, charged), (0, 0));
    let holds: i64 = sqlx::query_scalar("SELECT count(*) FROM budget_holds WHERE user_id = $1")
        .bind(&broke.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(holds, 0);
}

/// A small corpus on distinct topics, and questions that paraphrase one document each without
/// reusing its key words.
const CORPUS: [(&str, &str); 8] = [
    (
        "leave-policy",
        "Employees receive twenty-five days of paid holiday each year. Unused vacation days can be carried over until the end of March.",
    ),
    (
        "expenses",
        "Travel costs are reimbursed when receipts are submitted through the finance portal within thirty days of the trip.",
    ),
    (
        "security",
        "Laptops must use full-disk encryption, and passwords are rotated every ninety days. Report phishing emails to the security team.",
    ),
    (
        "onboarding",
        "New starters meet their buddy on the first morning, receive their equipment from IT, and complete compliance training in week one.",
    ),
    (
        "office",
        "The office opens at seven and closes at eight. Visitors sign in at reception and wear a badge at all times.",
    ),
    (
        "parental",
        "Parents may take up to twenty weeks of paid leave after the birth or adoption of a child, shared between both parents.",
    ),
    (
        "remote-work",
        "Staff may work from home up to three days a week, provided their manager agrees and they keep core hours from ten to four.",
    ),
    (
        "pension",
        "The company matches pension contributions up to six percent of salary, and employees can change their rate every April.",
    ),
];

const QUESTIONS: [(&str, &str); 8] = [
    ("How much vacation time do I get annually?", "leave-policy"),
    (
        "How do I get my money back for a business trip?",
        "expenses",
    ),
    ("What should I do with a suspicious email?", "security"),
    (
        "What happens during my first week at the company?",
        "onboarding",
    ),
    ("When is the building open?", "office"),
    ("How long can I stay home after having a baby?", "parental"),
    ("Can I do my job from my house?", "remote-work"),
    (
        "Does my employer contribute to my retirement savings?",
        "pension",
    ),
];

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_right_document_ranks_first_for_paraphrased_questions(pool: PgPool) {
    let world = world(pool, &[]).await;
    for (doc_id, text) in CORPUS {
        world.store(doc_id, text).await;
    }
    for (question, expected) in QUESTIONS {
        let results = world.search(question, 3).await;
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["doc_id"], expected, "{question}: {results:#?}");
        let scores: Vec<f64> = results
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "best first: {scores:?}"
        );
    }
    let floor = world
        .post(
            "/v1/memory/search",
            json!({"query": "How much vacation time do I get annually?", "k": 8, "min_score": 0.4}),
        )
        .await;
    let kept = floor.body["results"].as_array().unwrap();
    assert!(
        !kept.is_empty() && kept.len() < 8,
        "min_score drops the unrelated: {kept:?}"
    );
}
