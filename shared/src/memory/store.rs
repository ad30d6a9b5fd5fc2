//! Memory in Postgres: documents and their embedded chunks, always scoped to one user. Replacing a
//! document swaps all its chunks in one transaction, so a search sees the old set or the new one.

use chrono::{DateTime, Utc};
use pgvector::Vector;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::Hit;
use super::chunking::Chunk;
use crate::ids::new_id;

/// A stored document, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Document {
    pub doc_id: String,
    pub persona_id: Option<String>,
    pub title: Option<String>,
    pub metadata: Value,
    pub chars: i32,
    pub chunk_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A document with its chunks and their vectors (one per chunk, in order), ready to store.
pub struct NewDocument<'a> {
    pub user_id: &'a str,
    pub doc_id: &'a str,
    pub persona_id: Option<&'a str>,
    pub title: Option<&'a str>,
    pub metadata: &'a Value,
    pub text: &'a str,
    pub chunks: &'a [Chunk],
    pub vectors: Vec<Vec<f32>>,
}

/// Which of a user's documents a search may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Everything the user stored.
    All,
    /// The user's shared documents (no persona) and this persona's.
    Persona(&'a str),
    /// Only the shared documents: what a preset's turns may see.
    Shared,
}

/// Stores the document in `tx`, replacing any earlier one with the same `doc_id` (atomically, once
/// `tx` commits).
pub async fn replace(
    tx: &mut sqlx::PgConnection,
    document: NewDocument<'_>,
) -> Result<Document, sqlx::Error> {
    let (id, stored): (String, Document) = upsert_document(tx, &document).await?;
    sqlx::query("DELETE FROM embeddings WHERE document_id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    insert_chunks(tx, &id, &document).await?;
    Ok(stored)
}

/// The upserted row: its internal id, for the chunks, and what the client sees.
#[derive(sqlx::FromRow)]
struct Upserted {
    id: String,
    #[sqlx(flatten)]
    document: Document,
}

async fn upsert_document(
    tx: &mut sqlx::PgConnection,
    document: &NewDocument<'_>,
) -> Result<(String, Document), sqlx::Error> {
    let row: Upserted = sqlx::query_as(
        "INSERT INTO memory_documents (id, user_id, doc_id, persona_id, title, metadata, chars, chunk_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT memory_documents_user_doc_key DO UPDATE
           SET persona_id = EXCLUDED.persona_id, title = EXCLUDED.title,
               metadata = EXCLUDED.metadata, chars = EXCLUDED.chars,
               chunk_count = EXCLUDED.chunk_count
         RETURNING id, doc_id, persona_id, title, metadata, chars, chunk_count, created_at, updated_at",
    )
    .bind(new_id())
    .bind(document.user_id)
    .bind(document.doc_id)
    .bind(document.persona_id)
    .bind(document.title)
    .bind(document.metadata)
    .bind(i32::try_from(document.text.chars().count()).unwrap_or(i32::MAX))
    .bind(i32::try_from(document.chunks.len()).unwrap_or(i32::MAX))
    .fetch_one(&mut *tx)
    .await?;
    Ok((row.id, row.document))
}

/// All chunks in one statement: arrays unnested server-side.
async fn insert_chunks(
    tx: &mut sqlx::PgConnection,
    document_id: &str,
    document: &NewDocument<'_>,
) -> Result<(), sqlx::Error> {
    let count = document.chunks.len();
    let ids: Vec<String> = (0..count).map(|_| new_id()).collect();
    let indexes: Vec<i32> = (0..count)
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let contents: Vec<&str> = document
        .chunks
        .iter()
        .map(|c| c.text(document.text))
        .collect();
    let to_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let starts: Vec<i32> = document.chunks.iter().map(|c| to_i32(c.start)).collect();
    let ends: Vec<i32> = document.chunks.iter().map(|c| to_i32(c.end)).collect();
    let tokens: Vec<i32> = document.chunks.iter().map(|c| to_i32(c.tokens)).collect();
    let vectors: Vec<Vector> = document.vectors.iter().cloned().map(Vector::from).collect();
    sqlx::query(
        "INSERT INTO embeddings (id, user_id, doc_id, document_id, persona_id, chunk_index, content,
                                 char_start, char_end, tokens, vector)
         SELECT id, $2, $3, $4, $5, chunk_index, content, char_start, char_end, tokens, vector
         FROM UNNEST($1::text[], $6::int[], $7::text[], $8::int[], $9::int[], $10::int[], $11::vector[])
              AS c(id, chunk_index, content, char_start, char_end, tokens, vector)",
    )
    .bind(&ids)
    .bind(document.user_id)
    .bind(document.doc_id)
    .bind(document_id)
    .bind(document.persona_id)
    .bind(&indexes)
    .bind(&contents)
    .bind(&starts)
    .bind(&ends)
    .bind(&tokens)
    .bind(&vectors)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The user's documents, most recently changed first (at most `limit`).
pub async fn list(pool: &PgPool, user_id: &str, limit: i64) -> Result<Vec<Document>, sqlx::Error> {
    sqlx::query_as(
        "SELECT doc_id, persona_id, title, metadata, chars, chunk_count, created_at, updated_at
         FROM memory_documents WHERE user_id = $1
         ORDER BY updated_at DESC, id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Deletes one of the user's documents and its chunks; false when the user has no such document.
pub async fn delete(pool: &PgPool, user_id: &str, doc_id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM memory_documents WHERE user_id = $1 AND doc_id = $2")
        .bind(user_id)
        .bind(doc_id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Whether `scope` holds any chunk at all: an empty memory costs no embedding call.
pub async fn has_chunks(
    pool: &PgPool,
    user_id: &str,
    scope: Scope<'_>,
) -> Result<bool, sqlx::Error> {
    let (all, persona_id) = scope_filter(scope);
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM embeddings WHERE user_id = $1
                        AND ($2 OR persona_id IS NULL OR persona_id = $3))",
    )
    .bind(user_id)
    .bind(all)
    .bind(persona_id)
    .fetch_one(pool)
    .await
}

/// `(everything, persona)` for the `($all OR persona_id IS NULL OR persona_id = $persona)` filter.
fn scope_filter(scope: Scope<'_>) -> (bool, Option<&str>) {
    match scope {
        Scope::All => (true, None),
        Scope::Persona(id) => (false, Some(id)),
        Scope::Shared => (false, None),
    }
}

/// The `k` chunks closest to `query` by cosine distance among what `scope` lets the user see, with
/// a similarity of at least `min_score`.
pub async fn search(
    pool: &PgPool,
    user_id: &str,
    scope: Scope<'_>,
    query: Vec<f32>,
    k: u32,
    min_score: f32,
) -> Result<Vec<Hit>, sqlx::Error> {
    let (all, persona_id) = scope_filter(scope);
    let mut tx = pool.begin().await?;
    // With a filter on the user, a plain HNSW scan may stop before finding k of theirs; the
    // iterative scan keeps walking the graph until it has them (pgvector 0.8).
    sqlx::query("SET LOCAL hnsw.iterative_scan = strict_order")
        .execute(&mut *tx)
        .await?;
    let hits: Vec<(String, Option<String>, i32, String, f64)> = sqlx::query_as(
        "SELECT doc_id, title, chunk_index, content, score FROM (
             SELECT e.doc_id, d.title, e.chunk_index, e.content,
                    1 - (e.vector <=> $2) AS score, e.vector <=> $2 AS distance
             FROM embeddings e JOIN memory_documents d ON d.id = e.document_id
             WHERE e.user_id = $1
               AND ($3 OR e.persona_id IS NULL OR e.persona_id = $4)
             ORDER BY e.vector <=> $2
             LIMIT $5
         ) nearest
         WHERE score >= $6
         ORDER BY distance",
    )
    .bind(user_id)
    .bind(Vector::from(query))
    .bind(all)
    .bind(persona_id)
    .bind(i64::from(k))
    .bind(f64::from(min_score))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(hits
        .into_iter()
        .map(|(doc_id, title, chunk_index, content, score)| Hit {
            doc_id,
            title,
            chunk_index,
            content,
            score,
        })
        .collect())
}
