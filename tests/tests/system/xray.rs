//! Provider calls recorded as X-Ray segments, sent to a real AWS API emulator (moto) on loopback
//! and read back with BatchGetTraces.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_xray::Client;
use helix_shared::telemetry::TraceId;
use helix_shared::xray::{CallOutcome, ProviderCall, Tracer, XrayError};
use helix_tests::{MotoServer, fake_aws_config};
use serde_json::{Value, json};

const PARENT: &str = "53995c3f42cd8ad8";
const API_GATEWAY_REQUEST_ID: &str = "JKJaXmPLvHcESHA=";

fn provider_call<'a>(trace_id: &'a str, header: Option<&'a str>) -> ProviderCall<'a> {
    let ended = SystemTime::now();
    ProviderCall {
        trace_header: header,
        trace_id,
        engine: "anthropic",
        provider: "anthropic",
        model: "claude-sonnet-4",
        started: ended - Duration::from_millis(800),
        ended,
        attempts: Some(1),
        outcome: CallOutcome::Ok {
            input_tokens: 42,
            output_tokens: 7,
        },
    }
}

/// An X-Ray client on moto, once moto's X-Ray has answered: moto loads a service on its first
/// request (~0.4 s), which would trip the tracer's 250 ms bound in a way AWS does not.
async fn warmed_up_xray(moto: &MotoServer) -> (aws_config::SdkConfig, Client) {
    let sdk = moto.sdk_config().await;
    let client = Client::new(&sdk);
    stored_documents(&client, "1-00000000-000000000000000000000000").await;
    (sdk, client)
}

/// The documents X-Ray holds for `trace_id`, parsed; empty when it holds no such trace.
async fn stored_documents(client: &Client, trace_id: &str) -> Vec<Value> {
    let output = client
        .batch_get_traces()
        .trace_ids(trace_id)
        .send()
        .await
        .unwrap();
    output
        .traces()
        .iter()
        .flat_map(|trace| trace.segments())
        .map(|segment| serde_json::from_str(segment.document().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_provider_call_is_stored_as_a_subsegment_of_the_request_trace() {
    let moto = MotoServer::start().await;
    let (sdk, client) = warmed_up_xray(&moto).await;
    let trace_id = TraceId::generate();
    let header = format!("Root={trace_id};Parent={PARENT};Sampled=1");
    let tracer = Tracer::new(&sdk);

    tracer
        .record_provider_call(&provider_call(trace_id.as_str(), Some(&header)))
        .await
        .unwrap();

    let documents = stored_documents(&client, trace_id.as_str()).await;
    assert_eq!(documents.len(), 1, "{documents:?}");
    let segment = &documents[0];
    assert_eq!(segment["name"], "anthropic");
    assert_eq!(segment["type"], "subsegment");
    assert_eq!(segment["parent_id"], PARENT);
    assert_eq!(segment["trace_id"], trace_id.as_str());
    assert_eq!(
        segment["annotations"],
        json!({"engine": "anthropic", "provider": "anthropic", "model": "claude-sonnet-4"})
    );
    assert_eq!(segment["metadata"]["helix"]["input_tokens"], 42);
}

#[tokio::test]
async fn a_call_without_a_trace_header_is_stored_as_a_segment_of_its_own() {
    let moto = MotoServer::start().await;
    let (sdk, client) = warmed_up_xray(&moto).await;
    let trace_id = TraceId::generate();
    let mut call = provider_call(trace_id.as_str(), None);
    call.outcome = CallOutcome::Failed {
        status: Some(503),
        throttled: false,
    };

    Tracer::new(&sdk).record_provider_call(&call).await.unwrap();

    let documents = stored_documents(&client, trace_id.as_str()).await;
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0].get("type"), None);
    assert_eq!(documents[0].get("parent_id"), None);
    assert_eq!(documents[0]["fault"], true);
    assert_eq!(documents[0]["http"]["response"]["status"], 503);
}

#[tokio::test]
async fn a_disabled_tracer_sends_nothing_and_returns_ok() {
    let moto = MotoServer::start().await;
    let sdk = moto.sdk_config().await;
    let trace_id = TraceId::generate();
    let tracer = Tracer::disabled();

    let result = tracer
        .record_provider_call(&provider_call(trace_id.as_str(), None))
        .await;

    assert!(result.is_ok(), "{result:?}");
    assert!(!tracer.is_enabled());
    assert!(
        stored_documents(&Client::new(&sdk), trace_id.as_str())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_api_gateway_request_id_is_skipped_and_only_xray_ids_are_stored() {
    let moto = MotoServer::start().await;
    let (sdk, client) = warmed_up_xray(&moto).await;
    let tracer = Tracer::new(&sdk);
    let xray_id = TraceId::generate();

    let skipped = tracer
        .record_provider_call(&provider_call(API_GATEWAY_REQUEST_ID, None))
        .await;
    let recorded = tracer
        .record_provider_call(&provider_call(xray_id.as_str(), None))
        .await;

    assert!(
        matches!(skipped, Err(XrayError::NotAnXrayTraceId)),
        "{skipped:?}"
    );
    assert!(recorded.is_ok(), "{recorded:?}");
    // Asked for both ids, X-Ray knows only the one that could be sent.
    let traces = client
        .batch_get_traces()
        .trace_ids(API_GATEWAY_REQUEST_ID)
        .trace_ids(xray_id.as_str())
        .send()
        .await
        .unwrap();
    let stored: Vec<Option<&str>> = traces.traces().iter().map(|trace| trace.id()).collect();
    assert_eq!(stored, [Some(xray_id.as_str())]);
    assert_eq!(traces.unprocessed_trace_ids(), [API_GATEWAY_REQUEST_ID]);
}

#[tokio::test]
async fn an_xray_endpoint_that_never_answers_times_out_within_the_bound() {
    // Accepts connections but never replies, like a black-holed endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sdk = fake_aws_config(Some(&endpoint)).await;
    let trace_id = TraceId::generate();
    let started = Instant::now();

    let result = Tracer::new(&sdk)
        .record_provider_call(&provider_call(trace_id.as_str(), None))
        .await;

    assert!(matches!(result, Err(XrayError::TimedOut)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    holder.abort();
}

/// Plays Lambda's X-Ray daemon: takes the datagram, checks its header line, and forwards the
/// document to X-Ray (moto) as the daemon does, so the test proves X-Ray accepts what was sent.
#[tokio::test]
async fn with_a_daemon_a_segment_is_one_datagram_that_xray_accepts() {
    let moto = MotoServer::start().await;
    let (_sdk, client) = warmed_up_xray(&moto).await;
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = format!("tcp:127.0.0.1:2000 udp:{}", daemon.local_addr().unwrap());
    let tracer = Tracer::daemon(&address).await.unwrap();
    let trace_id = TraceId::generate();
    let header = format!("Root={trace_id};Parent={PARENT};Sampled=1");

    tracer
        .record_provider_call(&provider_call(trace_id.as_str(), Some(&header)))
        .await
        .unwrap();

    let mut buffer = vec![0; 65_536];
    let length = tokio::time::timeout(Duration::from_secs(5), daemon.recv(&mut buffer))
        .await
        .expect("no datagram reached the daemon")
        .unwrap();
    let datagram = std::str::from_utf8(&buffer[..length]).unwrap();
    let (header_line, document) = datagram.split_once('\n').unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(header_line).unwrap(),
        json!({"format": "json", "version": 1})
    );
    let segment: Value = serde_json::from_str(document).unwrap();
    assert_eq!(segment["type"], "subsegment");
    assert_eq!(segment["parent_id"], PARENT);
    assert_eq!(segment["trace_id"], trace_id.as_str());
    let forwarded = client
        .put_trace_segments()
        .trace_segment_documents(document)
        .send()
        .await
        .unwrap();
    assert!(forwarded.unprocessed_trace_segments().is_empty());
    assert_eq!(stored_documents(&client, trace_id.as_str()).await.len(), 1);
}

#[tokio::test]
async fn a_daemon_address_that_is_not_host_and_port_is_refused() {
    let result = Tracer::daemon("xray-daemon").await;

    assert!(
        matches!(result, Err(XrayError::DaemonAddress(ref value)) if value == "xray-daemon"),
        "{}",
        result.err().map(|e| e.to_string()).unwrap_or_default()
    );
}
