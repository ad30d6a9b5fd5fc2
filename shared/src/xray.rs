//! X-Ray segments for model-provider calls, so each call shows in its request's trace.
//! Best effort: a send can never fail the turn. In Lambda a segment is one UDP datagram to the
//! X-Ray daemon (`AWS_XRAY_DAEMON_ADDRESS`), which never waits; elsewhere it is a
//! PutTraceSegments call bounded by a short timeout.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::telemetry::{TraceId, is_xray_trace_id};

/// Long enough for PutTraceSegments within the region, short enough not to be felt by the user.
const SEND_TIMEOUT: Duration = Duration::from_millis(250);

/// Tokens and attempts go under this metadata namespace (X-Ray groups metadata by namespace).
const METADATA_NAMESPACE: &str = "helix";

/// The environment variable Lambda sets to the X-Ray daemon's address when tracing is active.
pub const DAEMON_ADDRESS_VAR: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// What the daemon expects before each segment document in a datagram.
const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// Where subsegments go; sends nothing when tracing is off.
#[derive(Clone)]
pub struct Tracer {
    sink: Option<Sink>,
}

#[derive(Clone)]
enum Sink {
    /// A UDP socket connected to the X-Ray daemon.
    Daemon(Arc<tokio::net::UdpSocket>),
    /// The X-Ray API (PutTraceSegments).
    Api(aws_sdk_xray::Client),
}

impl Tracer {
    pub fn disabled() -> Self {
        Tracer { sink: None }
    }

    /// Sends through the X-Ray API.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Tracer {
            sink: Some(Sink::Api(aws_sdk_xray::Client::new(sdk))),
        }
    }

    /// Sends to the X-Ray daemon at `address` (`host:port`, or Lambda's `udp:host:port tcp:…`).
    pub async fn daemon(address: &str) -> Result<Self, XrayError> {
        let target = daemon_udp_address(address)
            .ok_or_else(|| XrayError::DaemonAddress(address.to_owned()))?;
        let local = if target.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let socket = tokio::net::UdpSocket::bind(local)
            .await
            .map_err(|error| XrayError::Send(error.to_string()))?;
        socket
            .connect(target)
            .await
            .map_err(|error| XrayError::Send(error.to_string()))?;
        Ok(Tracer {
            sink: Some(Sink::Daemon(Arc::new(socket))),
        })
    }

    /// The daemon when Lambda names one, else the API. A daemon address that cannot be used is
    /// logged and the API is used instead, so tracing keeps working.
    pub async fn from_environment(sdk: &aws_config::SdkConfig) -> Self {
        let Ok(address) = std::env::var(DAEMON_ADDRESS_VAR) else {
            return Tracer::new(sdk);
        };
        match Tracer::daemon(&address).await {
            Ok(tracer) => tracer,
            Err(error) => {
                tracing::warn!(error = %error, "X-Ray daemon unusable; sending segments through the API");
                Tracer::new(sdk)
            }
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Sends one segment for a finished provider call: at once to the daemon, or within 250 ms
    /// through the API. Failures are logged here, so a caller may ignore the result; it is
    /// returned for tests.
    pub async fn record_provider_call(&self, call: &ProviderCall<'_>) -> Result<(), XrayError> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let result = match segment_document(call, &new_segment_id()) {
            Ok(document) => match sink {
                Sink::Daemon(socket) => send_to_daemon(socket, &document).await,
                Sink::Api(client) => send(client, document).await,
            },
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            log_failure(call, error);
        }
        result
    }
}

/// The UDP address in `AWS_XRAY_DAEMON_ADDRESS`: either `host:port`, or `udp:host:port` beside a
/// `tcp:host:port`, as Lambda and the X-Ray SDKs write it.
fn daemon_udp_address(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let address = match parts.as_slice() {
        [single] => single.strip_prefix("udp:").unwrap_or(single),
        several => several.iter().find_map(|part| part.strip_prefix("udp:"))?,
    };
    let (host, port) = address.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok()).then_some(address)
}

/// One datagram: the daemon's header line, then the document. UDP never waits for an answer.
async fn send_to_daemon(socket: &tokio::net::UdpSocket, document: &str) -> Result<(), XrayError> {
    let datagram = format!("{DAEMON_HEADER}{document}");
    socket
        .send(datagram.as_bytes())
        .await
        .map(|_| ())
        .map_err(|error| XrayError::Send(error.to_string()))
}

/// A finished provider call, as the turn saw it.
pub struct ProviderCall<'a> {
    /// The raw `X-Amzn-Trace-Id` header of the request, if any.
    pub trace_header: Option<&'a str>,
    /// Helix's trace id for the request.
    pub trace_id: &'a str,
    pub engine: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub started: SystemTime,
    pub ended: SystemTime,
    /// Attempts made, retries included, when the caller knows them.
    pub attempts: Option<u32>,
    pub outcome: CallOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok {
        input_tokens: u64,
        output_tokens: u64,
    },
    /// `status` is the provider's HTTP status; `None` for timeouts and unreachable providers.
    Failed {
        status: Option<u16>,
        throttled: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum XrayError {
    /// API Gateway request ids can be Helix trace ids, but X-Ray accepts only its own format.
    #[error("the trace id is not an X-Ray trace id")]
    NotAnXrayTraceId,
    #[error("sending the segment failed: {0}")]
    Send(String),
    #[error("{DAEMON_ADDRESS_VAR} is not host:port or udp:host:port: {0:?}")]
    DaemonAddress(String),
    #[error("X-Ray rejected {unprocessed} segment(s)")]
    Rejected { unprocessed: usize },
    #[error("PutTraceSegments timed out")]
    TimedOut,
}

/// The segment document for a call, as JSON text: a subsegment of the request's segment when the
/// trace header names a parent in this trace, else a segment of its own.
pub fn segment_document(call: &ProviderCall<'_>, segment_id: &str) -> Result<String, XrayError> {
    if !is_xray_trace_id(call.trace_id) {
        return Err(XrayError::NotAnXrayTraceId);
    }
    let parent_id = call
        .trace_header
        .map(TraceHeader::parse)
        .and_then(|header| header.parent_in(call.trace_id));
    let start_time = epoch_seconds(call.started);
    let document = Document {
        kind: parent_id.map(|_| "subsegment"),
        name: call.provider,
        id: segment_id,
        trace_id: call.trace_id,
        parent_id,
        namespace: parent_id.map(|_| "remote"),
        start_time,
        // A clock step between start and end must not make X-Ray drop the segment.
        end_time: epoch_seconds(call.ended).max(start_time),
        http: http_of(&call.outcome),
        flags: Flags::of(&call.outcome),
        annotations: Annotations {
            engine: call.engine,
            provider: call.provider,
            model: call.model,
        },
        metadata: [(METADATA_NAMESPACE, Metadata::of(call))].into(),
    };
    // Plain strings and numbers cannot fail to serialise; should it ever, nothing is sent.
    serde_json::to_string(&document).map_err(|error| XrayError::Send(error.to_string()))
}

/// The parts of an `X-Amzn-Trace-Id` header (`Root=1-…;Parent=53995c3f42cd8ad8;Sampled=1`)
/// a provider segment needs.
#[derive(Debug, PartialEq, Eq)]
struct TraceHeader<'a> {
    root: Option<TraceId>,
    parent: Option<&'a str>,
}

impl<'a> TraceHeader<'a> {
    fn parse(header: &'a str) -> Self {
        let parent = header
            .split(';')
            .find_map(|part| part.trim().strip_prefix("Parent="))
            .filter(|id| is_segment_id(id));
        TraceHeader {
            root: TraceId::from_amzn_header(header),
            parent,
        }
    }

    /// The parent, only if the header is about `trace_id`: a parent from another trace would
    /// leave the subsegment dangling.
    fn parent_in(&self, trace_id: &str) -> Option<&'a str> {
        let same_trace = self
            .root
            .as_ref()
            .is_some_and(|root| root.as_str() == trace_id);
        self.parent.filter(|_| same_trace)
    }
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    name: &'a str,
    id: &'a str,
    trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'static str>,
    start_time: f64,
    end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http>,
    #[serde(flatten)]
    flags: Flags,
    annotations: Annotations<'a>,
    metadata: std::collections::BTreeMap<&'static str, Metadata>,
}

#[derive(Serialize)]
struct Http {
    response: HttpResponse,
}

#[derive(Serialize)]
struct HttpResponse {
    status: u16,
}

/// X-Ray's outcome flags; only true ones are sent, as the X-Ray SDKs do.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
struct Flags {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    error: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    throttle: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fault: bool,
}

impl Flags {
    /// A failed call is the caller's error (4xx, or throttled without a status) or the
    /// provider's fault (5xx, timeouts, unreachable); throttling is marked on top.
    fn of(outcome: &CallOutcome) -> Self {
        let CallOutcome::Failed { status, throttled } = *outcome else {
            return Flags::default();
        };
        let throttle = throttled || status == Some(429);
        let fault = match status {
            Some(400..=499) => false,
            None => !throttle,
            Some(_) => true,
        };
        Flags {
            error: !fault,
            throttle,
            fault,
        }
    }
}

#[derive(Serialize)]
struct Annotations<'a> {
    engine: &'a str,
    provider: &'a str,
    model: &'a str,
}

#[derive(Serialize)]
struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
}

impl Metadata {
    fn of(call: &ProviderCall<'_>) -> Self {
        let tokens = match call.outcome {
            CallOutcome::Ok {
                input_tokens,
                output_tokens,
            } => Some((input_tokens, output_tokens)),
            CallOutcome::Failed { .. } => None,
        };
        Metadata {
            input_tokens: tokens.map(|(input, _)| input),
            output_tokens: tokens.map(|(_, output)| output),
            attempts: call.attempts,
        }
    }
}

/// Only a failure carries its status: a success's exact 2xx is not reported by the engines.
fn http_of(outcome: &CallOutcome) -> Option<Http> {
    match outcome {
        CallOutcome::Failed {
            status: Some(status),
            ..
        } => Some(Http {
            response: HttpResponse { status: *status },
        }),
        _ => None,
    }
}

async fn send(client: &aws_sdk_xray::Client, document: String) -> Result<(), XrayError> {
    let request = client
        .put_trace_segments()
        .trace_segment_documents(document)
        .send();
    let output = tokio::time::timeout(SEND_TIMEOUT, request)
        .await
        .map_err(|_| XrayError::TimedOut)?
        .map_err(|error| {
            XrayError::Send(aws_sdk_xray::error::DisplayErrorContext(error).to_string())
        })?;
    match output.unprocessed_trace_segments().len() {
        0 => Ok(()),
        unprocessed => Err(XrayError::Rejected { unprocessed }),
    }
}

/// Requests whose trace id came from API Gateway are expected and common, so only a debug line.
fn log_failure(call: &ProviderCall<'_>, error: &XrayError) {
    match error {
        XrayError::NotAnXrayTraceId => tracing::debug!(
            trace_id = call.trace_id,
            provider = call.provider,
            "no X-Ray segment for provider call: {error}"
        ),
        _ => tracing::warn!(
            trace_id = call.trace_id,
            provider = call.provider,
            error = %error,
            "X-Ray segment for provider call not recorded"
        ),
    }
}

fn is_segment_id(raw: &str) -> bool {
    is_lower_hex(raw, 16)
}

fn is_lower_hex(raw: &str, len: usize) -> bool {
    raw.len() == len && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// 64 random bits as 16 lowercase hex digits, as X-Ray wants segment ids.
fn new_segment_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(16);
    id
}

fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const TRACE_ID: &str = "1-5759e988-bd862e3fe1be46a994272793";
    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const SEGMENT_ID: &str = "0123456789abcdef";

    fn call(outcome: CallOutcome) -> ProviderCall<'static> {
        let started = UNIX_EPOCH + Duration::from_millis(1_465_510_280_250);
        ProviderCall {
            trace_header: Some(HEADER),
            trace_id: TRACE_ID,
            engine: "openai",
            provider: "openrouter",
            model: "gpt-4o-mini",
            started,
            ended: started + Duration::from_millis(1_500),
            attempts: Some(2),
            outcome,
        }
    }

    fn ok() -> CallOutcome {
        CallOutcome::Ok {
            input_tokens: 120,
            output_tokens: 30,
        }
    }

    fn failed(status: Option<u16>, throttled: bool) -> CallOutcome {
        CallOutcome::Failed { status, throttled }
    }

    fn document(call: &ProviderCall<'_>) -> Value {
        serde_json::from_str(&segment_document(call, SEGMENT_ID).unwrap()).unwrap()
    }

    fn flags(outcome: CallOutcome) -> (bool, bool, bool) {
        let doc = document(&call(outcome));
        let flag = |name: &str| doc.get(name).and_then(Value::as_bool).unwrap_or(false);
        (flag("error"), flag("throttle"), flag("fault"))
    }

    #[test]
    fn a_call_under_a_traced_request_is_a_remote_subsegment_of_its_parent() {
        let doc = document(&call(ok()));

        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(doc["trace_id"], TRACE_ID);
        assert_eq!(doc["id"], SEGMENT_ID);
        assert_eq!(doc["name"], "openrouter");
        assert_eq!(doc["namespace"], "remote");
        let start = doc["start_time"].as_f64().unwrap();
        let end = doc["end_time"].as_f64().unwrap();
        assert!((start - 1_465_510_280.25).abs() < 1e-6, "{start}");
        assert!(
            end >= start && (end - start - 1.5).abs() < 1e-6,
            "{start}..{end}"
        );
    }

    #[test]
    fn annotations_name_the_engine_provider_and_model_and_metadata_holds_tokens() {
        let doc = document(&call(ok()));

        assert_eq!(
            doc["annotations"],
            serde_json::json!({"engine": "openai", "provider": "openrouter", "model": "gpt-4o-mini"})
        );
        assert_eq!(
            doc["metadata"]["helix"],
            serde_json::json!({"input_tokens": 120, "output_tokens": 30, "attempts": 2})
        );
        assert_eq!(doc.get("http"), None);
        assert_eq!(flags(ok()), (false, false, false));
    }

    #[test]
    fn without_a_parent_the_call_is_sent_as_a_segment_of_its_own() {
        let generated = TraceId::generate();
        let mut no_header = call(ok());
        no_header.trace_header = None;
        no_header.trace_id = generated.as_str();
        let mut no_parent = call(ok());
        no_parent.trace_header = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");

        for doc in [document(&no_header), document(&no_parent)] {
            assert_eq!(doc.get("type"), None, "{doc}");
            assert_eq!(doc.get("parent_id"), None, "{doc}");
            assert_eq!(doc.get("namespace"), None, "{doc}");
            assert_eq!(doc["name"], "openrouter");
        }
    }

    #[test]
    fn a_parent_from_another_trace_or_malformed_is_not_used() {
        let mut other_trace = call(ok());
        other_trace.trace_header =
            Some("Root=1-5759e988-000000000000000000000000;Parent=53995c3f42cd8ad8");
        let mut malformed = call(ok());
        malformed.trace_header = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=x\"y");

        assert_eq!(document(&other_trace).get("parent_id"), None);
        assert_eq!(document(&malformed).get("parent_id"), None);
    }

    #[test]
    fn a_5xx_is_a_fault_with_its_status() {
        assert_eq!(flags(failed(Some(500), false)), (false, false, true));
        assert_eq!(
            document(&call(failed(Some(500), false)))["http"]["response"]["status"],
            500
        );
    }

    #[test]
    fn a_4xx_is_an_error() {
        assert_eq!(flags(failed(Some(400), false)), (true, false, false));
    }

    #[test]
    fn a_429_is_a_throttled_error() {
        assert_eq!(flags(failed(Some(429), false)), (true, true, false));
        assert_eq!(flags(failed(None, true)), (true, true, false));
    }

    #[test]
    fn a_timeout_is_a_fault_without_a_status() {
        let doc = document(&call(failed(None, false)));

        assert_eq!(flags(failed(None, false)), (false, false, true));
        assert_eq!(doc.get("http"), None);
        assert_eq!(doc["metadata"]["helix"], serde_json::json!({"attempts": 2}));
    }

    #[test]
    fn an_api_gateway_request_id_is_not_an_xray_trace_id() {
        let mut from_api_gateway = call(ok());
        from_api_gateway.trace_header = None;
        from_api_gateway.trace_id = "JKJaXmPLvHcESHA=";

        assert!(matches!(
            segment_document(&from_api_gateway, SEGMENT_ID),
            Err(XrayError::NotAnXrayTraceId)
        ));
    }

    #[test]
    fn only_the_exact_xray_trace_id_shape_is_accepted() {
        assert!(is_xray_trace_id(TRACE_ID));
        assert!(is_xray_trace_id(TraceId::generate().as_str()));
        assert!(!is_xray_trace_id("2-5759e988-bd862e3fe1be46a994272793"));
        assert!(!is_xray_trace_id("1-5759E988-bd862e3fe1be46a994272793"));
        assert!(!is_xray_trace_id("1-5759e988-bd862e3fe1be46a99427279"));
        assert!(!is_xray_trace_id("1-5759e988-bd862e3fe1be46a994272793-0"));
    }

    #[test]
    fn the_header_gives_its_root_and_parent() {
        let header = TraceHeader::parse(HEADER);

        assert_eq!(header.root.as_ref().map(TraceId::as_str), Some(TRACE_ID));
        assert_eq!(header.parent, Some("53995c3f42cd8ad8"));
        assert_eq!(TraceHeader::parse("Sampled=0").parent, None);
    }

    #[test]
    fn the_daemon_address_is_read_as_lambda_and_the_sdks_write_it() {
        let lambda = "169.254.79.129:2000";
        assert_eq!(daemon_udp_address(lambda), Some(lambda));
        assert_eq!(
            daemon_udp_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001"),
            Some("127.0.0.2:2001")
        );
        assert_eq!(daemon_udp_address("udp:xray:2000"), Some("xray:2000"));
        assert_eq!(daemon_udp_address("[::1]:2000"), Some("[::1]:2000"));
        for bad in [
            "",
            "daemon",
            "host:port",
            ":2000",
            "tcp:127.0.0.1:2000 tcp:x:1",
        ] {
            assert_eq!(daemon_udp_address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_ids_are_16_lowercase_hex_and_random() {
        let id = new_segment_id();

        assert!(is_segment_id(&id), "{id}");
        assert_ne!(id, new_segment_id());
    }

    #[tokio::test]
    async fn a_disabled_tracer_sends_nothing_and_succeeds() {
        let tracer = Tracer::disabled();

        assert!(!tracer.is_enabled());
        assert!(tracer.record_provider_call(&call(ok())).await.is_ok());
    }
}
