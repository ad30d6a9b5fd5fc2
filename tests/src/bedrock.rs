//! Bedrock's streaming wire format for a fake Bedrock: ConverseStream answers in
//! `application/vnd.amazon.eventstream` binary frames (prelude, headers, JSON payload, CRCs),
//! written with the SDK's own codec.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::{Value, json};

/// The content type of a ConverseStream response body.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// One event frame, e.g. `bedrock_event("contentBlockDelta", json!({...}))`.
pub fn bedrock_event(event_type: &'static str, payload: Value) -> Vec<u8> {
    frame("event", (":event-type", event_type), payload)
}

/// One exception frame, e.g. `bedrock_exception("throttlingException", "Too many requests")`:
/// its payload is only the message, its kind travels in `:exception-type`.
pub fn bedrock_exception(exception_type: &'static str, message: &str) -> Vec<u8> {
    frame(
        "exception",
        (":exception-type", exception_type),
        json!({ "message": message }),
    )
}

fn frame(
    message_type: &'static str,
    kind: (&'static str, &'static str),
    payload: Value,
) -> Vec<u8> {
    let string = |value: &'static str| HeaderValue::String(value.into());
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(":message-type", string(message_type)))
        .add_header(Header::new(kind.0, string(kind.1)))
        .add_header(Header::new(":content-type", string("application/json")));
    let mut bytes = Vec::new();
    write_message_to(&message, &mut bytes).unwrap();
    bytes
}
