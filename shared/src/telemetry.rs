//! Structured JSON logs and the per-request ids. Every field of the enclosing spans is flattened
//! into each log line, so a request's `trace_id` and `request_id` appear on everything it logs.
//! The trace id may come from the caller (an X-Ray link); the request id is always Helix's own.

use std::error::Error as StdError;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use json_subscriber::JsonLayer;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::time::SystemTime as Rfc3339Time;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

use crate::settings::{ConfigError, Sources, invalid};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("HELIX_LOG is not a valid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a global logger was already installed")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// Installs the process-wide subscriber: JSON lines on stdout (CloudWatch), or human-readable.
pub fn init(config: &LogConfig) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(&config.filter)?;
    match config.format {
        LogFormat::Json => Registry::default()
            .with(json_layer(std::io::stdout))
            .with(filter)
            .try_init()?,
        LogFormat::Pretty => Registry::default()
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .with(filter)
            .try_init()?,
    }
    Ok(())
}

/// The JSON log format: timestamp, level, target, the event's fields and every span field.
pub fn json_layer<S, W>(writer: W) -> JsonLayer<S, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    let mut layer = JsonLayer::new(writer);
    layer
        .with_timer("timestamp", Rfc3339Time)
        .with_level("level")
        .with_target("target")
        .with_flattened_event()
        .with_top_level_flattened_span_list();
    layer
}

/// The id that ties a request's logs, its response and (later) its X-Ray segments together.
/// Always X-Ray's format (`1-<8 hex epoch>-<24 hex random>`) when Helix makes one up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceId(String);

impl TraceId {
    const MAX_LEN: usize = 64;

    pub fn generate() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let random = uuid::Uuid::new_v4().simple().to_string();
        TraceId(format!("1-{:08x}-{}", epoch & 0xffff_ffff, &random[..24]))
    }

    /// The `Root=` part of an `X-Amzn-Trace-Id` header (`Root=1-…;Parent=…;Sampled=1`), only if
    /// it is an X-Ray trace id: anyone can send the header, so any other text is no trace.
    pub fn from_amzn_header(header: &str) -> Option<Self> {
        header
            .split(';')
            .find_map(|part| part.trim().strip_prefix("Root="))
            .filter(|root| is_xray_trace_id(root))
            .map(|root| TraceId(root.to_owned()))
    }

    /// Accepts an id from outside only if it is short and plain (X-Ray ids, API Gateway's
    /// base64 request ids), so it can't forge log lines or headers.
    pub fn parse(raw: &str) -> Option<Self> {
        let plain = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=+/.".contains(c));
        plain.then(|| TraceId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// X-Ray's trace id format: `1-<8 hex epoch seconds>-<24 hex random>`, lowercase.
pub fn is_xray_trace_id(raw: &str) -> bool {
    let is_lower_hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let mut parts = raw.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(epoch), Some(random), None)
            if is_lower_hex(epoch, 8) && is_lower_hex(random, 24)
    )
}

/// Helix's own id for one request, made when it arrives and never taken from the caller: what
/// the ledger records as the request a charge belongs to (`meta.request_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn generate() -> Self {
        RequestId(crate::ids::new_id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static CURRENT_TRACE_ID: TraceId;
    static CURRENT_REQUEST_ID: RequestId;
}

/// Runs `future` with `trace_id` as the current request's trace id (see [`current_trace_id`]).
pub async fn with_trace_id<F: Future>(trace_id: TraceId, future: F) -> F::Output {
    CURRENT_TRACE_ID.scope(trace_id, future).await
}

/// Runs `future` with `request_id` as the current request's own id (see [`current_request_id`]).
pub async fn with_request_id<F: Future>(request_id: RequestId, future: F) -> F::Output {
    CURRENT_REQUEST_ID.scope(request_id, future).await
}

/// The id Helix gave the request being served, if any.
pub fn current_request_id() -> Option<RequestId> {
    CURRENT_REQUEST_ID.try_with(RequestId::clone).ok()
}

/// Runs `future` in a task of its own that keeps the current request's span and ids, so
/// its logs and errors are traced like the request's, and it outlives the request if it must
/// (a turn settles after its client hung up).
pub fn spawn_traced<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument;
    let span = tracing::Span::current();
    let (trace_id, request_id) = (current_trace_id(), current_request_id());
    tokio::spawn(
        async move {
            match (trace_id, request_id) {
                (Some(trace_id), Some(request_id)) => {
                    with_trace_id(trace_id, with_request_id(request_id, future)).await
                }
                (Some(trace_id), None) => with_trace_id(trace_id, future).await,
                (None, Some(request_id)) => with_request_id(request_id, future).await,
                (None, None) => future.await,
            }
        }
        .instrument(span),
    )
}

/// The trace id of the request being served, if any: error bodies quote it to the client.
pub fn current_trace_id() -> Option<TraceId> {
    CURRENT_TRACE_ID.try_with(TraceId::clone).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

impl LogConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let format = match sources.get("HELIX_LOG_FORMAT") {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(_) => return Err(invalid("HELIX_LOG_FORMAT", "expected json or pretty")),
        };
        Ok(LogConfig {
            // llama.cpp narrates every model load at info level (hundreds of lines).
            filter: sources
                .get("HELIX_LOG")
                .unwrap_or("info,llama-cpp-2=warn")
                .to_owned(),
            format,
        })
    }
}

/// "outer: middle: root", so one log line carries the whole story of a 5xx.
pub fn cause_chain(error: &dyn StdError) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_xray_shape() {
        let id = TraceId::generate();
        let parts: Vec<&str> = id.as_str().split('-').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert_eq!(parts[0], "1");
        assert_eq!(parts[1].len(), 8);
        assert_eq!(parts[2].len(), 24);
        assert_ne!(id, TraceId::generate());
    }

    #[test]
    fn the_root_is_taken_from_an_amzn_trace_header() {
        let id = TraceId::from_amzn_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        assert_eq!(id.unwrap().as_str(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(TraceId::from_amzn_header("Parent=1;Sampled=0"), None);
    }

    #[test]
    fn a_header_root_that_is_not_an_xray_trace_id_is_no_trace_id() {
        for forged in [
            "Root=ledger-entry-of-someone-else",
            "Root=1-5759E988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a994272793-0",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=JKJaXmPLvHcESHA=",
        ] {
            assert_eq!(TraceId::from_amzn_header(forged), None, "{forged}");
        }
        assert!(is_xray_trace_id(TraceId::generate().as_str()));
    }

    #[tokio::test]
    async fn request_ids_are_helixs_own_and_follow_spawned_tasks() {
        assert_ne!(RequestId::generate(), RequestId::generate());
        let id = RequestId::generate();
        let seen = with_request_id(id.clone(), async {
            spawn_traced(async { current_request_id() }).await.unwrap()
        })
        .await;
        assert_eq!(seen, Some(id));
    }

    #[test]
    fn ids_that_could_forge_log_lines_are_refused() {
        assert_eq!(TraceId::parse("abc\"}\n{\"level\":\"ERROR"), None);
        assert_eq!(TraceId::parse(&"a".repeat(65)), None);
        assert_eq!(TraceId::parse(""), None);
        assert!(TraceId::parse("req-123_ABC").is_some());
    }

    #[tokio::test]
    async fn the_current_trace_id_is_scoped_to_its_future() {
        assert_eq!(current_trace_id(), None);
        let id = TraceId::generate();
        let seen = with_trace_id(id.clone(), async { current_trace_id() }).await;
        assert_eq!(seen, Some(id));
    }
}
