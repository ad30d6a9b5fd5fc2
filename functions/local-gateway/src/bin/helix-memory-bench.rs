//! helix-memory-bench: how long memory search takes as memory grows. In a scratch database on the
//! server DATABASE_URL names, it stores chunks with 384-dimensional unit vectors (the local
//! embedder's size) for one user, then times `memory::store::search` (the code path turns and
//! /v1/memory/search use, k = 5) for random queries at each size, with the HNSW index and with an
//! exact scan (index dropped). It also times the local embedder on a query, the other half of a
//! retrieval.
//!
//! Run: `make bench-memory`. Knobs: HELIX_BENCH_SIZES (default `10000,100000`),
//! HELIX_BENCH_QUERIES (default 200). A benchmark, not a test: it prints figures, never judges them.

use std::time::{Duration, Instant};

use helix_shared::config::Config;
use helix_shared::db::MIGRATOR;
use helix_shared::embedding::Embedder;
use helix_shared::embedding::local::MiniLmEmbedder;
use helix_shared::ids::new_id;
use helix_shared::memory::schema;
use helix_shared::memory::store::{self, Scope};
use pgvector::Vector;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

type BoxError = Box<dyn std::error::Error>;

const DIMENSIONS: usize = 384;
const SCRATCH_DB: &str = "helix_memory_bench";
const INSERT_BATCH: usize = 2_000;
const K: u32 = 5;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let config = Config::load().await?;
    let pool = scratch_database(&config).await?;
    let outcome = measure(&config, &pool).await;
    pool.close().await;
    // Hundreds of MB of vectors left behind would slow every later fsync on this server.
    drop_scratch_database(&config).await?;
    outcome
}

async fn measure(config: &Config, pool: &PgPool) -> Result<(), BoxError> {
    let queries: usize = env_or("HELIX_BENCH_QUERIES", 200)?;
    let sizes = sizes()?;
    schema::prepare(pool, &config.embeddings).await?;
    let user_id = bench_user(pool).await?;
    let document_id = bench_document(pool, &user_id).await?;
    let mut rng = fastrand::Rng::with_seed(7);
    let probes: Vec<Vec<f32>> = (0..queries).map(|_| unit_vector(&mut rng)).collect();

    println!("memory search, k = {K}, {DIMENSIONS} dimensions, {queries} queries per row");
    println!(
        "{:>9}  {:<11} {:>9} {:>9} {:>9}  {:>10}",
        "chunks", "scan", "p50 ms", "p99 ms", "max ms", "build s"
    );
    let mut stored = 0;
    for size in sizes {
        drop_index(pool).await?;
        insert_chunks(
            pool,
            &user_id,
            &document_id,
            stored,
            size - stored,
            &mut rng,
        )
        .await?;
        stored = size;
        sqlx::query("ANALYZE embeddings").execute(pool).await?;
        let exact = time_searches(pool, &user_id, &probes).await?;
        print_row(size, "exact", &exact, None);
        let build = build_index(pool).await?;
        let indexed = time_searches(pool, &user_id, &probes).await?;
        print_row(size, "hnsw", &indexed, Some(build));
    }
    embedder_latency(config).await?;
    Ok(())
}

fn sizes() -> Result<Vec<usize>, BoxError> {
    let raw = std::env::var("HELIX_BENCH_SIZES").unwrap_or_else(|_| "10000,100000".into());
    let mut sizes = raw
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("HELIX_BENCH_SIZES: {e}"))?;
    sizes.sort_unstable();
    Ok(sizes)
}

fn env_or(key: &str, default: usize) -> Result<usize, BoxError> {
    match std::env::var(key) {
        Ok(raw) => Ok(raw.parse().map_err(|e| format!("{key}: {e}"))?),
        Err(_) => Ok(default),
    }
}

async fn drop_scratch_database(config: &Config) -> Result<(), BoxError> {
    use secrecy::ExposeSecret;
    let mut admin = PgConnection::connect(config.database.url.expose_secret()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    Ok(())
}

/// A fresh database beside the configured one, so the bench never touches real data.
async fn scratch_database(config: &Config) -> Result<PgPool, BoxError> {
    use secrecy::ExposeSecret;
    drop_scratch_database(config).await?;
    let url = config.database.url.expose_secret().to_owned();
    let mut admin = PgConnection::connect(&url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {SCRATCH_DB}")))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let scratch_url = with_database(&url, SCRATCH_DB);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&scratch_url)
        .await?;
    MIGRATOR.run(&pool).await?;
    // Index builds on 100k vectors want more than the 64 MB default to stay in memory.
    sqlx::query("SET maintenance_work_mem = '512MB'")
        .execute(&pool)
        .await?;
    Ok(pool)
}

/// The same URL with another database name (the path), keeping the query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

async fn bench_user(pool: &PgPool) -> Result<String, BoxError> {
    let id = new_id();
    sqlx::query("INSERT INTO users (id, email) VALUES ($1, 'memory-bench@helix.local')")
        .bind(&id)
        .execute(pool)
        .await?;
    Ok(id)
}

async fn bench_document(pool: &PgPool, user_id: &str) -> Result<String, BoxError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO memory_documents (id, user_id, doc_id, chars, chunk_count)
         VALUES ($1, $2, 'bench', 0, 0)",
    )
    .bind(&id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(id)
}

fn unit_vector(rng: &mut fastrand::Rng) -> Vec<f32> {
    let raw: Vec<f32> = (0..DIMENSIONS).map(|_| rng.f32() * 2.0 - 1.0).collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    raw.into_iter().map(|x| x / norm).collect()
}

async fn insert_chunks(
    pool: &PgPool,
    user_id: &str,
    document_id: &str,
    first_index: usize,
    count: usize,
    rng: &mut fastrand::Rng,
) -> Result<(), BoxError> {
    let mut done = 0;
    while done < count {
        let batch = INSERT_BATCH.min(count - done);
        let indexes: Vec<i32> = (0..batch)
            .map(|i| i32::try_from(first_index + done + i).unwrap_or(i32::MAX))
            .collect();
        let ids: Vec<String> = (0..batch).map(|_| new_id()).collect();
        let vectors: Vec<Vector> = (0..batch).map(|_| Vector::from(unit_vector(rng))).collect();
        sqlx::query(
            "INSERT INTO embeddings (id, user_id, doc_id, document_id, chunk_index, content,
                                     char_start, char_end, tokens, vector)
             SELECT id, $2, 'bench', $3, chunk_index, 'chunk ' || chunk_index, 0, 1, 1, vector
             FROM UNNEST($1::text[], $4::int[], $5::vector[]) AS c(id, chunk_index, vector)",
        )
        .bind(&ids)
        .bind(user_id)
        .bind(document_id)
        .bind(&indexes)
        .bind(&vectors)
        .execute(pool)
        .await?;
        done += batch;
    }
    Ok(())
}

async fn drop_index(pool: &PgPool) -> Result<(), BoxError> {
    sqlx::query("DROP INDEX IF EXISTS embeddings_vector_hnsw_idx")
        .execute(pool)
        .await?;
    Ok(())
}

/// The index `schema::prepare` creates, rebuilt over everything stored; returns the build time.
async fn build_index(pool: &PgPool) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let mut connection = pool.acquire().await?;
    sqlx::query("SET maintenance_work_mem = '512MB'")
        .execute(&mut *connection)
        .await?;
    sqlx::query(
        "CREATE INDEX embeddings_vector_hnsw_idx ON embeddings USING hnsw (vector vector_cosine_ops)",
    )
    .execute(&mut *connection)
    .await?;
    Ok(started.elapsed())
}

async fn time_searches(
    pool: &PgPool,
    user_id: &str,
    probes: &[Vec<f32>],
) -> Result<Vec<Duration>, BoxError> {
    // One untimed search warms the connection and the buffer cache.
    store::search(pool, user_id, Scope::All, probes[0].clone(), K, -1.0).await?;
    let mut latencies = Vec::with_capacity(probes.len());
    for probe in probes {
        let started = Instant::now();
        let hits = store::search(pool, user_id, Scope::All, probe.clone(), K, -1.0).await?;
        latencies.push(started.elapsed());
        if hits.len() != K as usize {
            return Err(format!("a search found {} chunks, not {K}", hits.len()).into());
        }
    }
    latencies.sort_unstable();
    Ok(latencies)
}

fn percentile(sorted: &[Duration], percent: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn print_row(size: usize, scan: &str, latencies: &[Duration], build: Option<Duration>) {
    let max = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let build = build.map_or(String::from("-"), |d| format!("{:.1}", d.as_secs_f64()));
    println!(
        "{size:>9}  {scan:<11} {:>9.2} {:>9.2} {max:>9.2}  {build:>10}",
        percentile(latencies, 50.0),
        percentile(latencies, 99.0),
    );
}

/// The query's embedding with the in-process model, one question at a time as turns do.
async fn embedder_latency(config: &Config) -> Result<(), BoxError> {
    let embedder = MiniLmEmbedder::open(
        &config.embeddings.model,
        config.embeddings.local_model_dir.clone(),
    )
    .await?;
    let question = "How many days of paid holiday do employees get each year?".to_owned();
    embedder.embed(std::slice::from_ref(&question)).await?;
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        embedder.embed(std::slice::from_ref(&question)).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    println!(
        "query embedding (all-minilm-l6-v2, in-process, 1 sentence): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    Ok(())
}
