//! helix-bench: what Helix adds to a model call. Drives `POST /v1/turns` open-loop at a fixed rate
//! against the release-built local gateway (a separate process, real PostgreSQL with fsync on) and
//! the same Chat Completions call made directly to an in-process fake provider, then prints
//! p50/p90/p99/max latency of both, the overhead, the achieved rate and the API's peak RSS. A third
//! phase times the turn's two durable ledger writes alone (`ledger::reserve` + `ledger::settle`,
//! straight to the database at the same rate, no HTTP), the floor under Helix's overhead that
//! belongs to the disk rather than to Helix's code. A fourth times one `SELECT 1` through the same
//! pool at the same rate: what each of the turn's four database round trips costs on this machine.
//! A second pass through Helix runs with a budget policy on every bench user (an allowance, a
//! spending cap and a tokens-per-minute limit, none of which refuses): the limits are checked in
//! the reservation's own statement, so the report shows policies on vs off with no extra round trip.
//! The streaming phases send streamed calls both ways (`"stream": true`) while the fake provider
//! streams `--chunks N` pieces, each written on its own, then 4N: time to the first token and to the end, direct
//! and through Helix, so the report shows the first-token overhead and whether the per-chunk cost
//! grows with the answer.
//!
//! Run: `make bench`. Knobs: `--rate N` / HELIX_BENCH_RATE (requests/s, default 200),
//! `--seconds N` / HELIX_BENCH_SECONDS (default 20), `--warmup N` / HELIX_BENCH_WARMUP_SECONDS
//! (default 3), `--users N` / HELIX_BENCH_USERS (default 1: every turn debits the same balance, the
//! worst case for the ledger's row lock; N spreads turns round-robin over N users, as a team would),
//! `--chunks N` / HELIX_BENCH_CHUNKS (pieces of a streamed answer, default 20),
//! HELIX_BENCH_API_BIN (default: `local-gateway` next to this binary).
//! It is a benchmark, not a test: it fails only when a request fails, never on the figures.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use axum::serve::ListenerExt;
use helix_shared::auth::jwt::TokenKeys;
use helix_shared::budget::ledger;
use helix_shared::budget::policy::{self, PolicyRequest, Scope};
use helix_shared::budget::rules::CallLimits;
use helix_shared::config::Config;
use helix_shared::db::{self, MIGRATOR, users};
use helix_shared::ids::new_id;
use helix_shared::personality::{DEFAULT_PRESET_ID, Presets};
use helix_shared::pipeline::{self, Billed, CallSpec, ChargeKind};
use helix_shared::pricing::{Price, PriceTable};
use helix_shared::provider::Provider;
use helix_shared::telemetry::cause_chain;
use helix_shared::tools::ToolCatalog;
use helix_shared::usage::Usage;
use helix_shared::user::UserRole;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error>;

/// The first bench user; the others are `bench+<n>@helix.local`.
const BENCH_EMAIL: &str = "bench@helix.local";
const BENCH_MODEL: &str = "bench-model";
/// Topped up to this before every run ($1,000), so the bench never meets `budget_exhausted`.
const BENCH_BALANCE_MICROS: i64 = 1_000_000_000;
const USER_MESSAGE: &str = "Say hello.";
/// The streaming phases' message: the fake provider streams it one piece per output token.
const STREAM_MESSAGE: &str = "Count slowly.";
const MAX_TOKENS: u32 = 20;
/// The issue's goal for streams, reported (never enforced): p99 time-to-first-token overhead.
const P99_FIRST_TOKEN_OVERHEAD_GOAL_MS: f64 = 2.0;
/// The token counts the fake provider reports, charged in the ledger-only phase too.
const FAKE_USAGE: Usage = Usage {
    input_tokens: 40,
    output_tokens: 20,
    cached_input_tokens: 0,
};
/// The deadline a ledger-only call is reserved under (each is settled within milliseconds).
const LEDGER_CALL_DEADLINE: Duration = Duration::from_secs(120);
/// The issue's goal, reported (never enforced): p99 overhead under this at 200 requests/s.
const P99_OVERHEAD_GOAL_MS: f64 = 3.0;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// A fixed Chat Completions reply, as an OpenAI-compatible server sends it.
const FAKE_COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":20,"total_tokens":60}}"#;
/// The same answer streamed, as OpenAI's Chat Completions stream sends it (usage last).
const FAKE_STREAM: &str = concat!(
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":null}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":20,"total_tokens":60}}"#,
    "\n\ndata: [DONE]\n\n",
);
/// What marks the first token of a streamed answer: the fake's first piece, Helix's first delta.
const DIRECT_FIRST_TOKEN: &[u8] = br#""content":"tok"#;
const HELIX_FIRST_TOKEN: &[u8] = b"event: delta";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let settings = Settings::from_args_and_env()?;
    let report = run(&settings).await?;
    print!("{}", report.render(&settings));
    let failed = report.failed_requests();
    if failed > 0 {
        return Err(
            format!("{failed} requests failed: the figures above are not trustworthy").into(),
        );
    }
    Ok(())
}

/// How hard and how long to drive, and which API binary to start.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    rate_per_sec: u32,
    users: u32,
    /// Pieces of the shorter streamed answer; the longer one has four times as many.
    chunks: u32,
    measure: Duration,
    warmup: Duration,
    api_binary: PathBuf,
}

impl Settings {
    fn from_args_and_env() -> Result<Self, BoxError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let api_binary = match std::env::var_os("HELIX_BENCH_API_BIN") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_exe()?.with_file_name("local-gateway"),
        };
        Ok(Settings {
            rate_per_sec: setting(&args, "--rate", "HELIX_BENCH_RATE", 200, 1)?,
            users: setting(&args, "--users", "HELIX_BENCH_USERS", 1, 1)?,
            chunks: setting(&args, "--chunks", "HELIX_BENCH_CHUNKS", 20, 2)?,
            measure: Duration::from_secs(setting(
                &args,
                "--seconds",
                "HELIX_BENCH_SECONDS",
                20,
                1,
            )?),
            warmup: Duration::from_secs(setting(
                &args,
                "--warmup",
                "HELIX_BENCH_WARMUP_SECONDS",
                3,
                0,
            )?),
            api_binary,
        })
    }
}

/// `--flag N` wins over the environment variable, which wins over the default.
fn setting<T>(args: &[String], flag: &str, env_key: &str, default: T, min: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let from_flag = args
        .iter()
        .position(|arg| arg == flag)
        .map(|index| args.get(index + 1).cloned().unwrap_or_default());
    let raw = from_flag.or_else(|| std::env::var(env_key).ok());
    let value = match raw {
        None => default,
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("{flag} / {env_key}: expected a whole number, got {raw:?}"))?,
    };
    if value < min {
        return Err(format!("{flag} / {env_key}: must be at least {min}"));
    }
    Ok(value)
}

/// Everything the bench measured.
struct Report {
    fsync: String,
    direct: PhaseResult,
    helix: PhaseResult,
    /// Through Helix again, every bench user under a budget policy (cap, tokens per minute).
    helix_policies: PhaseResult,
    ledger: PhaseResult,
    round_trip: PhaseResult,
    /// Streamed answers of `chunks` and of 4 × `chunks` pieces.
    streams: [StreamPhases; 2],
    warmup_errors: usize,
    api_peak_rss_kib: Option<u64>,
}

/// One answer length, streamed directly and through Helix.
struct StreamPhases {
    chunks: u32,
    direct: PhaseResult,
    helix: PhaseResult,
}

/// A signed-in bench user and the agent its turns run under.
#[derive(Debug, Clone)]
struct BenchUser {
    id: String,
    agent_id: String,
    token: String,
}

async fn run(settings: &Settings) -> Result<Report, BoxError> {
    let config = Config::load().await?;
    let pool = db::connect_lazy(&config.database)?;
    let fsync = require_durable_commits(&pool).await?;
    MIGRATOR.run(&pool).await?;
    let keys = TokenKeys::new(&config.auth);
    let emails = bench_emails(settings.users);
    let mut users = Vec::new();
    for email in &emails {
        let (user, agent_id) = prepare_bench_user(&pool, email).await?;
        let token = keys
            .issue(&user.id, user.issue_time(chrono::Utc::now().timestamp()))?
            .token;
        users.push(BenchUser {
            id: user.id,
            agent_id,
            token,
        });
    }
    let price = PriceTable::from_config(&config.pricing)?.price("local", BENCH_MODEL)?;

    let provider = start_fake_provider().await?;
    let mut api = ApiProcess::spawn(&settings.api_binary, provider, &bench_passcodes(&emails)?)?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    api.wait_until_healthy(&client).await?;

    let direct = Arc::new(direct_target(provider)?);
    let input_bound = u64::try_from(direct.body.len())?;
    let helix_turns = Arc::new(helix_target(
        api.address,
        users.iter().map(|user| user.token.clone()).collect(),
    ));
    let mut warmup_errors = 0;
    let direct = measure(
        "direct provider",
        settings,
        &mut warmup_errors,
        http_job(&client, &direct),
    )
    .await?;
    let helix = measure(
        "through Helix",
        settings,
        &mut warmup_errors,
        http_job(&client, &helix_turns),
    )
    .await?;
    set_bench_policies(&pool, &users, true).await?;
    let helix_policies = measure(
        "through Helix, policies on",
        settings,
        &mut warmup_errors,
        http_job(&client, &helix_turns),
    )
    .await;
    set_bench_policies(&pool, &users, false).await?;
    let helix_policies = helix_policies?;
    let tokens: Vec<String> = users.iter().map(|user| user.token.clone()).collect();
    let mut streams = Vec::new();
    for chunks in [settings.chunks, settings.chunks * 4] {
        let direct = Arc::new(direct_stream_target(provider, chunks)?);
        let helix = Arc::new(helix_stream_target(api.address, tokens.clone(), chunks));
        let name = format!("{chunks}-piece stream");
        let direct = measure(
            &format!("{name}, direct"),
            settings,
            &mut warmup_errors,
            stream_job(&client, &direct, DIRECT_FIRST_TOKEN),
        )
        .await?;
        let helix = measure(
            &format!("{name}, through Helix"),
            settings,
            &mut warmup_errors,
            stream_job(&client, &helix, HELIX_FIRST_TOKEN),
        )
        .await?;
        streams.push(StreamPhases {
            chunks,
            direct,
            helix,
        });
    }
    let streams: [StreamPhases; 2] = streams
        .try_into()
        .map_err(|_| "two stream lengths were measured")?;
    let api_peak_rss_kib = api.peak_rss_kib();
    drop(api);
    let ledger_writes = LedgerWrites {
        pool: pool.clone(),
        users: Arc::new(users),
        price,
        input_bound,
    };
    let ledger = measure(
        "ledger writes only",
        settings,
        &mut warmup_errors,
        ledger_writes.job(),
    )
    .await?;
    let round_trip = measure(
        "database round trip",
        settings,
        &mut warmup_errors,
        round_trip_job(&pool),
    )
    .await?;
    pool.close().await;
    Ok(Report {
        fsync,
        direct,
        helix,
        helix_policies,
        ledger,
        round_trip,
        streams,
        warmup_errors,
        api_peak_rss_kib,
    })
}

/// Puts every bench user under a budget policy that never refuses (`on`), or removes it: a cap
/// and tokens per minute far above what the bench spends, so only their checking is measured.
async fn set_bench_policies(pool: &PgPool, users: &[BenchUser], on: bool) -> Result<(), BoxError> {
    let ids: Vec<String> = users.iter().map(|user| user.id.clone()).collect();
    if !on {
        sqlx::query("DELETE FROM budget_policies WHERE user_id = ANY($1)")
            .bind(&ids)
            .execute(pool)
            .await?;
        return Ok(());
    }
    let request = PolicyRequest {
        allowance_cents: Some(policy::MAX_AMOUNT_CENTS),
        spend_cap_cents: Some(policy::MAX_AMOUNT_CENTS),
        max_tokens_per_minute: Some(1 << 40),
        ..PolicyRequest::default()
    };
    let parsed = request.parse().map_err(|e| e.to_string())?;
    for id in &ids {
        policy::put(pool, Scope::User(id), &parsed, id).await?;
    }
    Ok(())
}

/// Warms up, then measures one phase; warm-up failures are counted, not measured.
async fn measure(
    name: &str,
    settings: &Settings,
    warmup_errors: &mut usize,
    job: JobFactory,
) -> Result<PhaseResult, BoxError> {
    eprintln!("helix-bench: {name}: warming up, then measuring");
    let warmup = run_phase(Arc::clone(&job), settings.rate_per_sec, settings.warmup).await?;
    *warmup_errors += warmup.errors;
    report_first_error(&format!("{name} warm-up"), &warmup);
    let result = run_phase(job, settings.rate_per_sec, settings.measure).await?;
    report_first_error(name, &result);
    Ok(result)
}

fn report_first_error(phase: &str, result: &PhaseResult) {
    if let Some(error) = &result.first_error {
        eprintln!(
            "helix-bench: {phase}: {} failed, first: {error}",
            result.errors
        );
    }
}

// ---- database -----------------------------------------------------------------------------

/// The figures only mean something with durable commits: refuse to run without them.
async fn require_durable_commits(pool: &PgPool) -> Result<String, BoxError> {
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(pool).await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(pool)
        .await?;
    if fsync != "on" || synchronous_commit == "off" {
        return Err(format!(
            "the database runs with fsync={fsync}, synchronous_commit={synchronous_commit}: \
             ledger writes are not durable, so the figures would flatter Helix"
        )
        .into());
    }
    Ok(fsync)
}

/// `bench@helix.local`, then `bench+1@helix.local`, … : `count` addresses in all.
fn bench_emails(count: u32) -> Vec<String> {
    (0..count.max(1))
        .map(|index| match index {
            0 => BENCH_EMAIL.to_owned(),
            n => BENCH_EMAIL.replacen('@', &format!("+{n}@"), 1),
        })
        .collect()
}

/// A bench user, its `local` agent and a topped-up balance; idempotent. Returns (user, agent) ids.
/// `HELIX_PASSCODES` for the API: the caller's entries plus one per bench user, so the API's start
/// (which revokes the tokens of users without a passcode) keeps the bench users' tokens. Their
/// passcode is random and never used: the bench signs its tokens itself.
fn bench_passcodes(emails: &[String]) -> Result<String, BoxError> {
    let mut entries: Vec<Value> = match std::env::var("HELIX_PASSCODES") {
        Ok(raw) => serde_json::from_str(&raw)?,
        Err(_) => Vec::new(),
    };
    let hash = helix_shared::auth::passcode::hash_passcode(&new_id(), 4)?;
    entries.extend(
        emails
            .iter()
            .map(|email| json!({ "email": email, "hash": hash, "role": "user" })),
    );
    Ok(serde_json::to_string(&entries)?)
}

async fn prepare_bench_user(pool: &PgPool, email: &str) -> Result<(users::User, String), BoxError> {
    let mut conn = pool.acquire().await?;
    let (user, _created) = users::ensure_user(&mut conn, email, UserRole::User).await?;
    drop(conn);
    sqlx::query(
        "INSERT INTO agents (id, user_id, provider, model) VALUES ($1, $2, 'local', $3)
         ON CONFLICT ON CONSTRAINT agents_user_provider_model_key DO NOTHING",
    )
    .bind(new_id())
    .bind(&user.id)
    .bind(BENCH_MODEL)
    .execute(pool)
    .await?;
    let agent_id: String = sqlx::query_scalar(
        "SELECT id FROM agents WHERE user_id = $1 AND provider = 'local' AND model = $2",
    )
    .bind(&user.id)
    .bind(BENCH_MODEL)
    .fetch_one(pool)
    .await?;
    let balance_micros: i64 = sqlx::query_scalar("SELECT balance_micros FROM users WHERE id = $1")
        .bind(&user.id)
        .fetch_one(pool)
        .await?;
    if balance_micros < BENCH_BALANCE_MICROS {
        let top_up = BENCH_BALANCE_MICROS - balance_micros;
        ledger::grant(pool, &user.id, top_up, "bench grant", None).await?;
    }
    Ok((user, agent_id))
}

// ---- the fake provider --------------------------------------------------------------------

/// An OpenAI-compatible provider that answers every completion at once, in this process.
async fn start_fake_provider() -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let app = Router::new().route("/v1/chat/completions", post(fake_chat_completion));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("helix-bench: the fake provider stopped: {error}");
        }
    });
    Ok(address)
}

/// Reads the whole request body (as a real server must) and sends the fixed reply, streamed when
/// asked; the streaming phases' message gets `max_tokens` pieces, each its own write. No timer
/// paces them (tokio's millisecond timer would blur the figures): a yield lets each go out alone.
async fn fake_chat_completion(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    if request["stream"] != true {
        return ([(CONTENT_TYPE, "application/json")], FAKE_COMPLETION).into_response();
    }
    let in_pieces = request["messages"][1]["content"] == STREAM_MESSAGE
        || request["messages"][2]["content"] == STREAM_MESSAGE;
    if !in_pieces {
        return ([(CONTENT_TYPE, "text/event-stream")], FAKE_STREAM).into_response();
    }
    let pieces = request["max_tokens"].as_u64().unwrap_or(1);
    let body = futures_util::stream::unfold(0, move |sent| async move {
        if sent > pieces {
            return None;
        }
        if sent > 0 {
            tokio::task::yield_now().await;
        }
        let event = if sent < pieces {
            format!(
                "data: {}\n\n",
                json!({"object": "chat.completion.chunk", "model": BENCH_MODEL,
                    "choices": [{"index": 0, "delta": {"content": format!("tok{sent} ")}, "finish_reason": null}]})
            )
        } else {
            format!(
                "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
                json!({"object": "chat.completion.chunk", "model": BENCH_MODEL,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
                json!({"object": "chat.completion.chunk", "model": BENCH_MODEL, "choices": [],
                    "usage": {"prompt_tokens": 40, "completion_tokens": pieces, "total_tokens": 40 + pieces}})
            )
        };
        Some((Ok::<_, std::convert::Infallible>(event), sent + 1))
    });
    (
        [(CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

// ---- the API process ----------------------------------------------------------------------

/// The local gateway as a child process; killed when dropped, on success and on error alike.
struct ApiProcess {
    child: Child,
    address: SocketAddr,
}

impl ApiProcess {
    fn spawn(binary: &PathBuf, provider: SocketAddr, passcodes: &str) -> Result<Self, BoxError> {
        let port = free_port()?;
        let child = Command::new(binary)
            .env("HELIX_PASSCODES", passcodes)
            .env("HELIX_PORT", port.to_string())
            .env("HELIX_HOST", "127.0.0.1")
            .env("HELIX_LOCAL_BASE_URL", format!("http://{provider}/v1"))
            .env("HELIX_LOG", "warn")
            .env("HELIX_ENGINE_MAX_ATTEMPTS", "1")
            .env("HELIX_DB_MAX_CONNECTIONS", "20")
            // One user at 200 calls a second: far past the per-user limits a deployment sets.
            .env("HELIX_MAX_CALLS_IN_FLIGHT", "100000")
            .env("HELIX_MAX_CALLS_PER_MINUTE", "1000000")
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        Ok(ApiProcess {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    async fn wait_until_healthy(&mut self, client: &reqwest::Client) -> Result<(), BoxError> {
        let url = format!("http://{}/healthz", self.address);
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("the API exited before it was healthy ({status})").into());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("the API did not answer {url} within {HEALTH_TIMEOUT:?}").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        parse_vm_hwm_kib(&status)
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the kernel just called free (another program could take it first; unlikely here).
fn free_port() -> std::io::Result<u16> {
    Ok(StdTcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// `VmHWM:    24680 kB` → 24680.
fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

// ---- load ---------------------------------------------------------------------------------

/// One kind of request the bench sends, again and again, signed in as each bearer in turn.
struct Target {
    url: String,
    body: String,
    bearers: Vec<String>,
}

impl Target {
    /// The `sequence`-th request of a phase.
    fn request(&self, client: &reqwest::Client, sequence: usize) -> reqwest::RequestBuilder {
        let request = client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.clone());
        match self.bearer(sequence) {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Round-robin over the signed-in users; none for the unauthenticated direct target.
    fn bearer(&self, sequence: usize) -> Option<&str> {
        let index = sequence.checked_rem(self.bearers.len())?;
        self.bearers.get(index).map(String::as_str)
    }
}

/// The Chat Completions body Helix itself sends for the turn below: the preset's system prompt,
/// the user's message, its tools, temperature and the max_tokens override, streamed (Helix
/// streams every provider call).
fn direct_target(provider: SocketAddr) -> Result<Target, BoxError> {
    chat_target(provider, USER_MESSAGE, MAX_TOKENS)
}

/// The streaming phases' call, made directly: `chunks` pieces.
fn direct_stream_target(provider: SocketAddr, chunks: u32) -> Result<Target, BoxError> {
    chat_target(provider, STREAM_MESSAGE, chunks)
}

fn chat_target(provider: SocketAddr, message: &str, max_tokens: u32) -> Result<Target, BoxError> {
    let catalog = ToolCatalog::builtin();
    let presets = Presets::builtin(&catalog)?;
    let preset = presets
        .get(DEFAULT_PRESET_ID)
        .ok_or("the default preset is missing")?;
    let tools: Vec<Value> = preset
        .tool_whitelist
        .iter()
        .filter_map(|name| catalog.get(name))
        .map(|tool| {
            json!({"type": "function", "function": {
                "name": tool.name, "description": tool.description, "parameters": tool.parameters,
            }})
        })
        .collect();
    let body = json!({
        "model": BENCH_MODEL,
        "messages": [
            {"role": "system", "content": preset.system},
            {"role": "user", "content": message},
        ],
        "tools": tools,
        "temperature": preset.defaults.temperature,
        "max_tokens": max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    Ok(Target {
        url: format!("http://{provider}/v1/chat/completions"),
        body: body.to_string(),
        bearers: Vec::new(),
    })
}

/// The streaming phases' turn: `"stream": true`, answered in `chunks` pieces.
fn helix_stream_target(api: SocketAddr, tokens: Vec<String>, chunks: u32) -> Target {
    let body = json!({
        "engine": "local",
        "personalityId": DEFAULT_PRESET_ID,
        "messages": [{"role": "user", "content": STREAM_MESSAGE}],
        "overrides": {"max_tokens": chunks},
        "stream": true,
    });
    Target {
        url: format!("http://{api}/v1/turns"),
        body: body.to_string(),
        bearers: tokens,
    }
}

fn helix_target(api: SocketAddr, tokens: Vec<String>) -> Target {
    let body = json!({
        "engine": "local",
        "personalityId": DEFAULT_PRESET_ID,
        "messages": [{"role": "user", "content": USER_MESSAGE}],
        "overrides": {"max_tokens": MAX_TOKENS},
    });
    Target {
        url: format!("http://{api}/v1/turns"),
        body: body.to_string(),
        bearers: tokens,
    }
}

/// Latencies of the successful requests of one phase, its failures and how long it took.
#[derive(Debug, Default)]
struct PhaseResult {
    /// Sorted, shortest first.
    latencies: Vec<Duration>,
    /// Time to the first token of each streamed answer, sorted; empty for whole answers.
    first_tokens: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

impl PhaseResult {
    fn achieved_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latencies.len() as f64 / secs
        } else {
            0.0
        }
    }

    fn percentile(&self, percent: f64) -> Duration {
        percentile(&self.latencies, percent)
    }

    fn first_token_percentile(&self, percent: f64) -> Duration {
        percentile(&self.first_tokens, percent)
    }
}

/// One scheduled request's work: when its first token came (streams only), or a one-line reason.
type Job = Pin<Box<dyn Future<Output = Result<Option<Instant>, String>> + Send>>;
/// Makes the `n`-th job of a phase.
type JobFactory = Arc<dyn Fn(usize) -> Job + Send + Sync>;

/// Sends `target`'s request and reads the whole answer; a non-2xx answer is an error.
fn http_job(client: &reqwest::Client, target: &Arc<Target>) -> JobFactory {
    let (client, target) = (client.clone(), Arc::clone(target));
    Arc::new(move |sequence| {
        let request = target.request(&client, sequence);
        Box::pin(async move { send(request).await.map(|()| None) })
    })
}

/// Sends `target`'s streamed request and reads it to the end, noting when `first_token` arrived.
fn stream_job(
    client: &reqwest::Client,
    target: &Arc<Target>,
    first_token: &'static [u8],
) -> JobFactory {
    let (client, target) = (client.clone(), Arc::clone(target));
    Arc::new(move |sequence| {
        let request = target.request(&client, sequence);
        Box::pin(read_stream(request, first_token))
    })
}

async fn read_stream(
    request: reqwest::RequestBuilder,
    first_token: &'static [u8],
) -> Result<Option<Instant>, String> {
    let mut response = request.send().await.map_err(|e| cause_chain(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut received = Vec::new();
    let mut first = None;
    while let Some(chunk) = response.chunk().await.map_err(|e| cause_chain(&e))? {
        let searched_from = received.len().saturating_sub(first_token.len());
        received.extend_from_slice(&chunk);
        if first.is_none()
            && received[searched_from..]
                .windows(first_token.len())
                .any(|window| window == first_token)
        {
            first = Some(Instant::now());
        }
    }
    if first.is_none() {
        return Err(format!(
            "no first token in: {}",
            String::from_utf8_lossy(&received[..received.len().min(300)])
        ));
    }
    Ok(first)
}

/// One `SELECT 1` through the pool: the cost of a database round trip at this rate.
fn round_trip_job(pool: &PgPool) -> JobFactory {
    let pool = pool.clone();
    Arc::new(move |_| {
        let pool = pool.clone();
        Box::pin(async move {
            db::ping(&pool)
                .await
                .map(|()| None)
                .map_err(|error| cause_chain(&error))
        })
    })
}

/// The ledger-only phase: the turn's reservation and settlement as the turns function makes them.
struct LedgerWrites {
    pool: PgPool,
    users: Arc<Vec<BenchUser>>,
    price: Price,
    input_bound: u64,
}

impl LedgerWrites {
    fn job(self) -> JobFactory {
        let writes = Arc::new(self);
        Arc::new(move |sequence| {
            let writes = Arc::clone(&writes);
            Box::pin(async move { writes.reserve_and_settle(sequence).await.map(|()| None) })
        })
    }

    async fn reserve_and_settle(&self, sequence: usize) -> Result<(), String> {
        let user = self
            .users
            .get(sequence % self.users.len().max(1))
            .ok_or("no bench user")?;
        let trace_id = new_id();
        // The turn pipeline's own reserve and settle, so the rows are the ones a turn writes.
        let spec = CallSpec {
            user_id: &user.id,
            agent_id: Some(&user.agent_id),
            trace_id: &trace_id,
            request_id: &trace_id,
            kind: ChargeKind::Completion,
            provider: Provider::Local.as_str(),
            model: BENCH_MODEL,
            price: self.price,
            price_table_version: "bench",
            input_bound: self.input_bound,
            requested_max_tokens: MAX_TOKENS,
            deadline: LEDGER_CALL_DEADLINE,
            limits: CallLimits::UNLIMITED,
            api_key: None,
        };
        let metered = pipeline::reserve(&self.pool, spec)
            .await
            .map_err(|error| cause_chain(&error))?;
        let row = pipeline::details(json!({ "personality_id": DEFAULT_PRESET_ID }));
        metered
            .settle(&self.pool, Billed::reported(FAKE_USAGE), row)
            .await
            .map(|_| ())
            .map_err(|error| cause_chain(&error))
    }
}

/// Runs `rate_per_sec` jobs a second for `duration`, open-loop: each starts at its scheduled
/// instant however slow earlier ones are, and its latency counts from that instant (so a stalled
/// sender cannot hide a slow server: no coordinated omission). The schedule runs on its own
/// thread because `thread::sleep` wakes within tens of microseconds, tokio's timer within a
/// millisecond, which would blur sub-millisecond figures.
async fn run_phase(
    job: JobFactory,
    rate_per_sec: u32,
    duration: Duration,
) -> Result<PhaseResult, BoxError> {
    let offsets = start_offsets(rate_per_sec, duration);
    let runtime = tokio::runtime::Handle::current();
    let phase_start = Instant::now();
    let requests: Vec<JoinHandle<Result<Timing, String>>> =
        tokio::task::spawn_blocking(move || {
            offsets
                .into_iter()
                .enumerate()
                .map(|(sequence, offset)| {
                    let scheduled = phase_start + offset;
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    runtime.spawn(timed(job(sequence), scheduled))
                })
                .collect()
        })
        .await?;
    let mut result = PhaseResult::default();
    for request in requests {
        match request.await? {
            Ok(timing) => {
                result.latencies.push(timing.done);
                result.first_tokens.extend(timing.first_token);
            }
            Err(error) => {
                result.errors += 1;
                result.first_error.get_or_insert(error);
            }
        }
    }
    // Over the whole schedule at least, so a phase that kept up reports exactly its rate.
    result.elapsed = phase_start.elapsed().max(duration);
    result.latencies.sort_unstable();
    result.first_tokens.sort_unstable();
    Ok(result)
}

/// When each request starts, from the phase's start: evenly `1/rate` apart.
fn start_offsets(rate_per_sec: u32, duration: Duration) -> Vec<Duration> {
    let rate = u128::from(rate_per_sec.max(1));
    let count = duration.as_nanos() * rate / 1_000_000_000;
    (0..count)
        .map(|index| {
            let nanos = index * 1_000_000_000 / rate;
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
        .collect()
}

/// How long one request took from its scheduled start: to its end, and to its first token.
struct Timing {
    done: Duration,
    first_token: Option<Duration>,
}

/// Runs one job; its latencies count from its scheduled start.
async fn timed(job: Job, scheduled: Instant) -> Result<Timing, String> {
    let first_token = job.await?;
    Ok(Timing {
        done: scheduled.elapsed(),
        first_token: first_token.map(|at| at.saturating_duration_since(scheduled)),
    })
}

/// Sends one request and reads its whole body; a transport error or a non-2xx answer is an error.
async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let outcome = async {
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    match outcome {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((status, body)) => Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )),
        Err(error) => Err(cause_chain(&error)),
    }
}

/// Nearest-rank percentile of an ascending slice; zero for an empty one.
fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or_default()
}

// ---- report -------------------------------------------------------------------------------

impl Report {
    fn failed_requests(&self) -> usize {
        self.warmup_errors
            + self.direct.errors
            + self.helix.errors
            + self.helix_policies.errors
            + self.ledger.errors
            + self.round_trip.errors
            + self
                .streams
                .iter()
                .map(|s| s.direct.errors + s.helix.errors)
                .sum::<usize>()
    }

    fn render(&self, settings: &Settings) -> String {
        let build = if cfg!(debug_assertions) {
            "DEBUG build"
        } else {
            "release build"
        };
        let mut out = format!(
            "helix-bench: {} req/s over {} user(s) for {} s (after {} s warm-up), {build}, fsync {}\n",
            settings.rate_per_sec,
            settings.users,
            settings.measure.as_secs(),
            settings.warmup.as_secs(),
            self.fsync,
        );
        out.push_str(&format!(
            "{:<16}{:>10}{:>10}{:>10}{:>10}{:>10}{:>9}\n",
            "", "p50", "p90", "p99", "max", "req/s", "errors"
        ));
        for (label, phase) in [
            ("direct provider", &self.direct),
            ("through Helix", &self.helix),
            ("Helix+policies", &self.helix_policies),
            ("ledger only", &self.ledger),
            ("db round trip", &self.round_trip),
        ] {
            out.push_str(&format!(
                "{label:<16}{:>10}{:>10}{:>10}{:>10}{:>10.1}{:>9}\n",
                millis(phase.percentile(50.0)),
                millis(phase.percentile(90.0)),
                millis(phase.percentile(99.0)),
                millis(phase.percentile(100.0)),
                phase.achieved_per_sec(),
                phase.errors,
            ));
        }
        let overhead = |percent| {
            ms_f64(self.helix.percentile(percent)) - ms_f64(self.direct.percentile(percent))
        };
        let p99_overhead = overhead(99.0);
        out.push_str(&format!(
            "overhead (Helix - direct): p50 {:.2} ms  p90 {:.2} ms  p99 {p99_overhead:.2} ms \
             (goal: p99 < {P99_OVERHEAD_GOAL_MS} ms at 200 req/s: {})\n",
            overhead(50.0),
            overhead(90.0),
            if p99_overhead < P99_OVERHEAD_GOAL_MS {
                "met"
            } else {
                "missed"
            },
        ));
        let policies = |percent| {
            ms_f64(self.helix_policies.percentile(percent)) - ms_f64(self.helix.percentile(percent))
        };
        out.push_str(&format!(
            "budget policies (on - off): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms \
             (cap, allowance and tokens per minute checked in the reservation statement: no extra round trip)\n",
            policies(50.0),
            policies(90.0),
            policies(99.0),
        ));
        out.push_str(
            "ledger only: the turn's reservation and settlement (two durable commits) sent straight \
             to the database, no HTTP: the part of the overhead this disk sets\n\
             db round trip: one SELECT 1 at the same rate; a turn makes four (guard, agent, \
             reserve, settle)\n",
        );
        out.push_str(&self.render_streams());
        match self.api_peak_rss_kib {
            Some(kib) => out.push_str(&format!("API peak RSS: {:.1} MB\n", kib as f64 / 1024.0)),
            None => out.push_str("API peak RSS: unknown (no /proc/<pid>/status)\n"),
        }
        if self.warmup_errors > 0 {
            out.push_str(&format!("warm-up errors: {}\n", self.warmup_errors));
        }
        out
    }
}

impl Report {
    /// First token and end of the streamed answers, both lengths; the first-token overhead's goal;
    /// and how much each extra piece costs through Helix (what the longer answer adds, per piece).
    fn render_streams(&self) -> String {
        let mut out = format!(
            "{:<30}{:>10}{:>10}{:>10}{:>10}{:>9}\n",
            "streamed", "p50", "p90", "p99", "max", "errors"
        );
        let row = |label: String, sorted: &[Duration], errors: usize| {
            format!(
                "{label:<30}{:>10}{:>10}{:>10}{:>10}{errors:>9}\n",
                millis(percentile(sorted, 50.0)),
                millis(percentile(sorted, 90.0)),
                millis(percentile(sorted, 99.0)),
                millis(percentile(sorted, 100.0)),
            )
        };
        for stream in &self.streams {
            let n = stream.chunks;
            out.push_str(&row(
                format!("{n} pieces, first token direct"),
                &stream.direct.first_tokens,
                stream.direct.errors,
            ));
            out.push_str(&row(
                format!("{n} pieces, first token Helix"),
                &stream.helix.first_tokens,
                stream.helix.errors,
            ));
            out.push_str(&row(
                format!("{n} pieces, done direct"),
                &stream.direct.latencies,
                0,
            ));
            out.push_str(&row(
                format!("{n} pieces, done Helix"),
                &stream.helix.latencies,
                0,
            ));
        }
        let [short, long] = &self.streams;
        let first_token_overhead = |percent| {
            ms_f64(short.helix.first_token_percentile(percent))
                - ms_f64(short.direct.first_token_percentile(percent))
        };
        let p99 = first_token_overhead(99.0);
        out.push_str(&format!(
            "first-token overhead ({} pieces): p50 {:.2} ms  p90 {:.2} ms  p99 {p99:.2} ms \
             (goal: p99 < {P99_FIRST_TOKEN_OVERHEAD_GOAL_MS} ms: {})\n",
            short.chunks,
            first_token_overhead(50.0),
            first_token_overhead(90.0),
            if p99 < P99_FIRST_TOKEN_OVERHEAD_GOAL_MS {
                "met"
            } else {
                "missed"
            },
        ));
        let done_overhead = |phases: &StreamPhases| {
            ms_f64(phases.helix.percentile(50.0)) - ms_f64(phases.direct.percentile(50.0))
        };
        let extra_pieces = f64::from(long.chunks - short.chunks);
        out.push_str(&format!(
            "done overhead p50: {:.2} ms at {} pieces, {:.2} ms at {} pieces: {:.1} µs per extra piece\n",
            done_overhead(short),
            short.chunks,
            done_overhead(long),
            long.chunks,
            (done_overhead(long) - done_overhead(short)) * 1000.0 / extra_pieces,
        ));
        out
    }
}

fn ms_f64(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", ms_f64(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_takes_the_nearest_rank_of_a_sorted_vector() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 90.0), Duration::from_millis(90));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted, 0.0), Duration::from_millis(1));
    }

    #[test]
    fn percentile_of_few_or_no_samples_never_panics() {
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
        let one = [Duration::from_micros(700)];
        assert_eq!(percentile(&one, 50.0), one[0]);
        assert_eq!(percentile(&one, 99.9), one[0]);
    }

    #[test]
    fn schedule_spaces_starts_evenly_at_the_rate() {
        let offsets = start_offsets(200, Duration::from_secs(20));
        assert_eq!(offsets.len(), 4000);
        assert_eq!(offsets[0], Duration::ZERO);
        assert!(
            offsets
                .windows(2)
                .all(|pair| pair[1] - pair[0] == Duration::from_millis(5))
        );
        assert_eq!(offsets[3999], Duration::from_micros(19_995_000));
    }

    #[test]
    fn schedule_keeps_uneven_rates_within_a_nanosecond_of_even() {
        let offsets = start_offsets(3, Duration::from_secs(1));
        assert_eq!(
            offsets,
            [0, 333_333_333, 666_666_666].map(Duration::from_nanos)
        );
        assert!(start_offsets(200, Duration::ZERO).is_empty());
    }

    #[test]
    fn bench_users_have_distinct_addresses_starting_with_the_original() {
        assert_eq!(bench_emails(1), ["bench@helix.local"]);
        assert_eq!(
            bench_emails(3),
            [
                "bench@helix.local",
                "bench+1@helix.local",
                "bench+2@helix.local"
            ]
        );
    }

    #[test]
    fn requests_take_turns_among_the_users() {
        let target = Target {
            url: "http://127.0.0.1:1/v1/turns".to_owned(),
            body: "{}".to_owned(),
            bearers: vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
        };
        let seen: Vec<_> = (0..7).filter_map(|n| target.bearer(n)).collect();
        assert_eq!(seen, ["a", "b", "c", "a", "b", "c", "a"]);
        let direct = Target {
            bearers: Vec::new(),
            ..target
        };
        assert_eq!(direct.bearer(5), None);
    }

    /// A phase whose every request took `ms`, 200 of them in one second.
    fn phase_of(ms: u64, errors: usize) -> PhaseResult {
        PhaseResult {
            latencies: vec![Duration::from_millis(ms); 200],
            first_tokens: vec![Duration::from_millis(ms); 200],
            errors,
            first_error: None,
            elapsed: Duration::from_secs(1),
        }
    }

    fn report(helix_ms: u64) -> Report {
        Report {
            fsync: "on".to_owned(),
            direct: phase_of(1, 0),
            helix: phase_of(helix_ms, 0),
            helix_policies: phase_of(helix_ms + 1, 0),
            ledger: phase_of(2, 0),
            round_trip: phase_of(1, 3),
            streams: [20, 80].map(|chunks| StreamPhases {
                chunks,
                direct: phase_of(1, 0),
                helix: phase_of(2, 0),
            }),
            warmup_errors: 1,
            api_peak_rss_kib: Some(2048),
        }
    }

    fn settings() -> Settings {
        Settings {
            rate_per_sec: 200,
            users: 1,
            chunks: 20,
            measure: Duration::from_secs(1),
            warmup: Duration::from_secs(1),
            api_binary: PathBuf::from("local-gateway"),
        }
    }

    #[test]
    fn the_report_has_a_row_per_phase_and_judges_the_goal_on_p99_overhead() {
        let met = report(3).render(&settings());
        for label in [
            "direct provider",
            "through Helix",
            "Helix+policies",
            "ledger only",
            "db round trip",
        ] {
            assert!(met.contains(label), "no {label} row in:\n{met}");
        }
        assert!(
            met.contains("p99 2.00 ms (goal: p99 < 3 ms at 200 req/s: met)"),
            "{met}"
        );
        assert!(met.contains("API peak RSS: 2.0 MB"), "{met}");
        assert!(
            met.contains("budget policies (on - off): p50 1.00 ms  p90 1.00 ms  p99 1.00 ms"),
            "{met}"
        );
        assert!(
            met.contains("first-token overhead (20 pieces): p50 1.00 ms  p90 1.00 ms  p99 1.00 ms (goal: p99 < 2 ms: met)"),
            "{met}"
        );
        assert!(met.contains("0.0 µs per extra piece"), "{met}");

        let missed = report(4).render(&settings());
        assert!(
            missed.contains("p99 3.00 ms (goal: p99 < 3 ms at 200 req/s: missed)"),
            "{missed}"
        );
    }

    #[test]
    fn errors_in_any_phase_or_the_warm_up_count_as_failures() {
        assert_eq!(report(3).failed_requests(), 4);
    }

    #[test]
    fn peak_rss_is_read_from_vm_hwm() {
        let status =
            "Name:\tlocal-gateway\nVmPeak:\t  900000 kB\nVmHWM:\t   24680 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(24_680));
        assert_eq!(parse_vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn flags_win_over_defaults_and_bad_values_name_the_flag() {
        let args = ["--rate".to_owned(), "50".to_owned()];
        assert_eq!(
            setting(&args, "--rate", "HELIX_BENCH_TEST_UNSET", 200, 1),
            Ok(50)
        );
        assert_eq!(
            setting(&[], "--rate", "HELIX_BENCH_TEST_UNSET", 200, 1),
            Ok(200)
        );
        let zero = ["--rate".to_owned(), "0".to_owned()];
        let error = setting(&zero, "--rate", "HELIX_BENCH_TEST_UNSET", 200, 1).unwrap_err();
        assert!(error.contains("--rate"), "{error}");
    }
}
