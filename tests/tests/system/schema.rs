//! The migrations build the seed schema, with the constraints a DBA would expect.
//! Each test gets its own freshly migrated database.

use helix_shared::ids::new_id;
use pgvector::Vector;
use sqlx::{PgPool, Row};

async fn insert_user(pool: &PgPool, email: &str) -> String {
    let id = new_id();
    sqlx::query("INSERT INTO users (id, email) VALUES ($1, $2)")
        .bind(&id)
        .bind(email)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn insert_agent(pool: &PgPool, user_id: &str) -> String {
    let id = new_id();
    sqlx::query("INSERT INTO agents (id, user_id, provider, model) VALUES ($1, $2, 'openai', 'gpt-4o-mini')")
        .bind(&id)
        .bind(user_id)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn columns(pool: &PgPool, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn constraint_name(error: sqlx::Error) -> String {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .expect("a named constraint violation")
        .to_owned()
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn the_schema_has_every_table_and_column_of_the_seed(pool: PgPool) {
    let expected: [(&str, &[&str]); 5] = [
        (
            "users",
            &[
                "avatar_url",
                "budget_cents",
                "created_at",
                "email",
                "id",
                "name",
                "persona_prompt",
                "updated_at",
            ],
        ),
        (
            "personas",
            &[
                "avatar_url",
                "created_at",
                "id",
                "name",
                "prompt",
                "updated_at",
                "user_id",
            ],
        ),
        (
            "agents",
            &[
                "created_at",
                "id",
                "model",
                "provider",
                "status",
                "updated_at",
                "user_id",
            ],
        ),
        (
            "usage_ledger",
            &[
                "agent_id",
                "cost_cents",
                "created_at",
                "id",
                "input_tokens",
                "meta",
                "output_tokens",
                "user_id",
            ],
        ),
        (
            "embeddings",
            &[
                "doc_id",
                "id",
                "metadata",
                "user_id",
                "vector",
                "document_id",
                "persona_id",
                "chunk_index",
                "content",
            ],
        ),
    ];
    for (table, wanted) in expected {
        let have = columns(&pool, table).await;
        for column in wanted {
            assert!(
                have.iter().any(|c| c == column),
                "{table}.{column} missing; have {have:?}"
            );
        }
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn pgvector_round_trips_and_measures_cosine_distance(pool: PgPool) {
    let user = insert_user(&pool, "vec@example.com").await;
    for (doc, values) in [("near", vec![1.0, 0.0, 0.1]), ("far", vec![-1.0, 0.5, 0.0])] {
        let document = new_id();
        sqlx::query(
            "INSERT INTO memory_documents (id, user_id, doc_id, chars, chunk_count)
             VALUES ($1, $2, $3, 1, 1)",
        )
        .bind(&document)
        .bind(&user)
        .bind(doc)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO embeddings (id, user_id, doc_id, document_id, chunk_index, content,
                                     char_start, char_end, tokens, vector)
             VALUES ($1, $2, $3, $4, 0, 'x', 0, 1, 1, $5)",
        )
        .bind(new_id())
        .bind(&user)
        .bind(doc)
        .bind(&document)
        .bind(Vector::from(values))
        .execute(&pool)
        .await
        .unwrap();
    }
    let query = Vector::from(vec![1.0, 0.0, 0.0]);
    let rows = sqlx::query(
        "SELECT doc_id, vector, vector <=> $1 AS distance FROM embeddings ORDER BY vector <=> $1",
    )
    .bind(query)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows[0].get::<String, _>("doc_id"), "near");
    assert_eq!(
        rows[0].get::<Vector, _>("vector").to_vec(),
        vec![1.0, 0.0, 0.1]
    );
    assert!(rows[0].get::<f64, _>("distance") < rows[1].get::<f64, _>("distance"));
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn updated_at_is_maintained_by_the_database(pool: PgPool) {
    let user = insert_user(&pool, "clock@example.com").await;
    let before: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM users WHERE id = $1")
            .bind(&user)
            .fetch_one(&pool)
            .await
            .unwrap();
    // now() is the transaction start, so the update must run in a later transaction.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    sqlx::query("UPDATE users SET name = 'Clock' WHERE id = $1")
        .bind(&user)
        .execute(&pool)
        .await
        .unwrap();
    let after: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM users WHERE id = $1")
            .bind(&user)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(after > before, "{before} -> {after}");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn emails_are_unique_and_stored_normalised(pool: PgPool) {
    insert_user(&pool, "dup@example.com").await;
    let duplicate = sqlx::query("INSERT INTO users (id, email) VALUES ($1, 'dup@example.com')")
        .bind(new_id())
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_name(duplicate), "users_email_key");
    let shouting = sqlx::query("INSERT INTO users (id, email) VALUES ($1, 'Dup@Example.com')")
        .bind(new_id())
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_name(shouting), "users_email_normalised");
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn ledger_token_counts_and_costs_cannot_be_negative(pool: PgPool) {
    let user = insert_user(&pool, "ledger@example.com").await;
    let agent = insert_agent(&pool, &user).await;
    let cases = [
        ((-1, 0, 0), "usage_ledger_input_tokens_non_negative"),
        ((0, -1, 0), "usage_ledger_output_tokens_non_negative"),
        ((0, 0, -1), "usage_ledger_cost_micros_non_negative"),
    ];
    for ((input, output, cost), constraint) in cases {
        let error = sqlx::query(
            "INSERT INTO usage_ledger (id, user_id, agent_id, input_tokens, output_tokens, cost_micros)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(&user)
        .bind(&agent)
        .bind(input)
        .bind(output)
        .bind(cost as i64)
        .execute(&pool)
        .await
        .unwrap_err();
        assert_eq!(constraint_name(error), constraint);
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn one_agent_per_user_provider_and_model(pool: PgPool) {
    let user = insert_user(&pool, "agents@example.com").await;
    insert_agent(&pool, &user).await;
    let duplicate = sqlx::query("INSERT INTO agents (id, user_id, provider, model) VALUES ($1, $2, 'openai', 'gpt-4o-mini')")
        .bind(new_id())
        .bind(&user)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(constraint_name(duplicate), "agents_user_provider_model_key");
    let unknown_provider = sqlx::query(
        "INSERT INTO agents (id, user_id, provider, model) VALUES ($1, $2, 'acme', 'm')",
    )
    .bind(new_id())
    .bind(&user)
    .execute(&pool)
    .await;
    assert!(unknown_provider.is_err());
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn deleting_an_agent_keeps_its_spend_and_deleting_a_user_removes_their_data(pool: PgPool) {
    let user = insert_user(&pool, "gone@example.com").await;
    let agent = insert_agent(&pool, &user).await;
    sqlx::query(
        "INSERT INTO personas (id, user_id, name, prompt) VALUES ($1, $2, 'P', 'Be brief.')",
    )
    .bind(new_id())
    .bind(&user)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_ledger (id, user_id, agent_id, input_tokens, output_tokens, cost_micros)
         VALUES ($1, $2, $3, 10, 20, 1)",
    )
    .bind(new_id())
    .bind(&user)
    .bind(&agent)
    .execute(&pool)
    .await
    .unwrap();

    sqlx::query("DELETE FROM agents WHERE id = $1")
        .bind(&agent)
        .execute(&pool)
        .await
        .unwrap();
    let orphaned: Option<String> =
        sqlx::query_scalar("SELECT agent_id FROM usage_ledger WHERE user_id = $1")
            .bind(&user)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        orphaned, None,
        "the ledger row stays, detached from the deleted agent"
    );

    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&user)
        .execute(&pool)
        .await
        .unwrap();
    for table in ["personas", "agents", "usage_ledger", "embeddings"] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE user_id = $1"
        )))
        .bind(&user)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(left, 0, "{table}");
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn persona_names_and_prompts_have_length_limits(pool: PgPool) {
    let user = insert_user(&pool, "limits@example.com").await;
    let cases = [
        ("", "ok", "personas_name_length"),
        (&*"n".repeat(81), "ok", "personas_name_length"),
        ("ok", "", "personas_prompt_length"),
    ];
    for (name, prompt, constraint) in cases {
        let error =
            sqlx::query("INSERT INTO personas (id, user_id, name, prompt) VALUES ($1, $2, $3, $4)")
                .bind(new_id())
                .bind(&user)
                .bind(name)
                .bind(prompt)
                .execute(&pool)
                .await
                .unwrap_err();
        assert_eq!(constraint_name(error), constraint);
    }
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn cent_columns_follow_the_exact_micro_columns_by_the_documented_rules(pool: PgPool) {
    use helix_shared::money::{balance_cents, cost_cents};
    let user = insert_user(&pool, "cents@example.com").await;
    for micros in [0_i64, 1, 4_999, 5_000, 9_999, 10_000, 15_000, 123_456_789] {
        let (budget, cost): (i64, i64) = sqlx::query_as(
            "WITH u AS (UPDATE users SET balance_micros = $2 WHERE id = $1 RETURNING budget_cents),
                  l AS (INSERT INTO usage_ledger (id, user_id, input_tokens, output_tokens, cost_micros)
                        VALUES ($3, $1, 0, 0, $2) RETURNING cost_cents)
             SELECT u.budget_cents, l.cost_cents FROM u, l",
        )
        .bind(&user)
        .bind(micros)
        .bind(new_id())
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(budget, balance_cents(micros), "balance of {micros} micros");
        assert_eq!(cost, cost_cents(micros), "cost of {micros} micros");
    }
    let negative: i64 = sqlx::query_scalar(
        "UPDATE users SET balance_micros = -10001 WHERE id = $1 RETURNING budget_cents",
    )
    .bind(&user)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(negative, balance_cents(-10_001));
}

#[sqlx::test(migrator = "helix_shared::db::MIGRATOR")]
async fn memory_can_belong_only_to_a_persona_and_a_document_of_its_own_user(pool: PgPool) {
    let alice = insert_user(&pool, "alice@example.com").await;
    let bob = insert_user(&pool, "bob@example.com").await;
    let bobs_persona = new_id();
    sqlx::query("INSERT INTO personas (id, user_id, name, prompt) VALUES ($1, $2, 'Bob', 'Hi')")
        .bind(&bobs_persona)
        .bind(&bob)
        .execute(&pool)
        .await
        .unwrap();
    let document = |user: &str, persona: Option<&str>| {
        sqlx::query(
            "INSERT INTO memory_documents (id, user_id, doc_id, persona_id, chars, chunk_count)
             VALUES ($1, $2, $3, $4, 1, 1)",
        )
        .bind(new_id())
        .bind(user.to_owned())
        .bind(new_id())
        .bind(persona.map(str::to_owned))
    };

    let foreign = document(&alice, Some(&bobs_persona))
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(
        constraint_name(foreign),
        "memory_documents_persona_owner_fk"
    );
    document(&alice, None).execute(&pool).await.unwrap();
    document(&bob, Some(&bobs_persona))
        .execute(&pool)
        .await
        .unwrap();

    let bobs_document: String =
        sqlx::query_scalar("SELECT id FROM memory_documents WHERE user_id = $1")
            .bind(&bob)
            .fetch_one(&pool)
            .await
            .unwrap();
    let chunk = |user: &str, document: &str| {
        sqlx::query(
            "INSERT INTO embeddings (id, user_id, doc_id, vector, document_id, persona_id,
                                     chunk_index, content, char_start, char_end, tokens)
             VALUES ($1, $2, 'd', '[1,0,0]', $3, $4, 0, 'x', 0, 1, 1)",
        )
        .bind(new_id())
        .bind(user.to_owned())
        .bind(document.to_owned())
        .bind(bobs_persona.clone())
    };
    let foreign_chunk = chunk(&alice, &bobs_document)
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(
        [
            "embeddings_persona_owner_fk",
            "embeddings_document_owner_fk"
        ]
        .contains(&constraint_name(foreign_chunk).as_str())
    );
    chunk(&bob, &bobs_document).execute(&pool).await.unwrap();
    let alices_document: String =
        sqlx::query_scalar("SELECT id FROM memory_documents WHERE user_id = $1")
            .bind(&alice)
            .fetch_one(&pool)
            .await
            .unwrap();
    let into_alices = sqlx::query(
        "INSERT INTO embeddings (id, user_id, doc_id, vector, document_id, chunk_index, content,
                                 char_start, char_end, tokens)
         VALUES ($1, $2, 'd', '[1,0,0]', $3, 0, 'x', 0, 1, 1)",
    )
    .bind(new_id())
    .bind(&bob)
    .bind(&alices_document)
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(constraint_name(into_alices), "embeddings_document_owner_fk");

    sqlx::query("DELETE FROM personas WHERE id = $1")
        .bind(&bobs_persona)
        .execute(&pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM memory_documents WHERE user_id = $1")
        .bind(&bob)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "a persona's memory goes with the persona");
}
