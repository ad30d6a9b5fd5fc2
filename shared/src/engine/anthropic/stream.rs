//! Anthropic's streamed Messages API, decoded from its named server-sent events into [`Chunk`]s:
//! `message_start` (input usage), `content_block_start/delta/stop` (text, and tool input as
//! `input_json_delta` fragments), `message_delta` (stop reason, output usage so far),
//! `message_stop`, `ping`, and `error`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ErrorObject, WireUsage};
use crate::chat::{Chunk, FinishReason};
use crate::engine::http::EventDecoder;
use crate::engine::sse::SseEvent;
use crate::engine::{EngineError, PartialToolCall, StreamProgress};
use crate::usage::Usage;

/// Decodes one stream's events. What is known of the usage so far, and every byte the model
/// generated, stay readable for charging a stream that was cut before `message_stop`.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    tool_uses: BTreeMap<u32, PartialToolCall>,
    usage: WireUsage,
    usage_seen: bool,
    stop_reason: Option<FinishReason>,
    received_output_bytes: u64,
    done: bool,
    /// A tool use whose input was not JSON: an error unless `max_tokens` turns out to have cut it.
    unparsed_tool_use: Option<EngineError>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The usage reported so far: the input from `message_start`, the output from the latest
    /// `message_delta` (`None` before `message_start`).
    fn usage_so_far(&self) -> Option<Usage> {
        self.usage_seen.then(|| Usage::from(&self.usage))
    }

    fn decode(&mut self, event: &SseEvent) -> Result<Vec<Chunk>, EngineError> {
        let parsed: WireEvent =
            serde_json::from_str(&event.data).map_err(|e| EngineError::Malformed {
                detail: format!("a stream event is not an Anthropic event: {e}"),
            })?;
        match parsed {
            WireEvent::MessageStart { message } => {
                self.usage = message.usage;
                self.usage_seen = true;
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                WireBlock::Text { text } if !text.is_empty() => {
                    self.received_output_bytes += text.len() as u64;
                    return Ok(vec![Chunk::Text(text)]);
                }
                WireBlock::ToolUse { id, name } => {
                    self.received_output_bytes += name.len() as u64;
                    self.tool_uses.insert(index, PartialToolCall::new(id, name));
                }
                _ => {}
            },
            WireEvent::ContentBlockDelta { index, delta } => match delta {
                WireDelta::TextDelta { text } => {
                    self.received_output_bytes += text.len() as u64;
                    return Ok(vec![Chunk::Text(text)]);
                }
                WireDelta::InputJsonDelta { partial_json } => {
                    self.received_output_bytes += partial_json.len() as u64;
                    if let Some(tool_use) = self.tool_uses.get_mut(&index) {
                        tool_use.arguments.push_str(&partial_json);
                    }
                }
                WireDelta::Other => {}
            },
            WireEvent::ContentBlockStop { index } => {
                if let Some(tool_use) = self.tool_uses.remove(&index) {
                    match tool_use.finish() {
                        Ok(call) => return Ok(vec![Chunk::ToolCall(call)]),
                        Err(error) => self.unparsed_tool_use = Some(error),
                    }
                }
            }
            WireEvent::MessageDelta { delta, usage } => {
                self.stop_reason = delta.stop_reason.as_deref().map(finish_reason);
                if let Some(usage) = usage {
                    self.usage.output_tokens = usage.output_tokens;
                }
                if self.stop_reason == Some(FinishReason::Length)
                    && self.unparsed_tool_use.take().is_some()
                {
                    tracing::warn!("dropped a tool use cut off by max_tokens");
                }
            }
            WireEvent::MessageStop => {
                if let Some(error) = self.unparsed_tool_use.take() {
                    return Err(error);
                }
                self.done = true;
                let mut chunks = Vec::new();
                if let Some(usage) = self.usage_so_far() {
                    chunks.push(Chunk::Usage(usage));
                }
                chunks.push(Chunk::Finished(
                    self.stop_reason.unwrap_or(FinishReason::Stop),
                ));
                return Ok(chunks);
            }
            WireEvent::Error { error } => return Err(stream_error(&error)),
            WireEvent::Ping | WireEvent::Other => {}
        }
        Ok(Vec::new())
    }
}

/// An `error` event: an overload or rate limit is the provider's 529/429, the rest a 500.
fn stream_error(error: &ErrorObject) -> EngineError {
    match error.kind.as_str() {
        "rate_limit_error" => EngineError::RateLimited { retry_after: None },
        "overloaded_error" => EngineError::Upstream { status: 529 },
        _ => EngineError::Upstream { status: 500 },
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireMessageStart,
    },
    ContentBlockStart {
        index: u32,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: WireMessageDelta,
        usage: Option<WireOutputUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorObject,
    },
    /// Event types Anthropic adds later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireMessageStart {
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    /// Thinking and later block types carry no answer text.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireMessageDelta {
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireOutputUsage {
    output_tokens: u64,
}

impl EventDecoder for StreamDecoder {
    fn feed(&mut self, event: &SseEvent) -> Result<Vec<Chunk>, EngineError> {
        self.decode(event)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn progress(&self) -> StreamProgress {
        StreamProgress {
            output_bytes: self.received_output_bytes,
            usage: self.usage_so_far(),
            // Output usage is final only at the end; before, it lags behind the text.
            usage_is_current: self.done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.into(),
            data: data.into(),
        }
    }

    fn decode(
        decoder: &mut StreamDecoder,
        events: &[(&str, &str)],
    ) -> Result<Vec<Chunk>, EngineError> {
        let mut chunks = Vec::new();
        for (name, data) in events {
            chunks.extend(decoder.decode(&event(name, data))?);
        }
        Ok(chunks)
    }

    const START: (&str, &str) = (
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"usage":{"input_tokens":20,"cache_read_input_tokens":5,"cache_creation_input_tokens":0,"output_tokens":1}}}"#,
    );

    /// A tool use whose input JSON stops half-way, then the message ends for `reason`.
    fn cut_tool_use(reason: &str) -> Result<Vec<Chunk>, EngineError> {
        let delta = format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"{reason}"}},"usage":{{"output_tokens":9}}}}"#
        );
        decode(
            &mut StreamDecoder::new(),
            &[
                START,
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"calculator","input":{}}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"expr"}}"#,
                ),
                (
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":0}"#,
                ),
                ("message_delta", &delta),
                ("message_stop", r#"{"type":"message_stop"}"#),
            ],
        )
    }

    #[test]
    fn a_tool_use_cut_off_by_max_tokens_is_dropped_and_the_usage_still_read() {
        let chunks = cut_tool_use("max_tokens").unwrap();
        assert!(
            !chunks.iter().any(|c| matches!(c, Chunk::ToolCall(_))),
            "{chunks:?}"
        );
        assert!(
            chunks
                .iter()
                .any(|c| matches!(c, Chunk::Usage(u) if u.output_tokens == 9))
        );
        assert_eq!(chunks.last(), Some(&Chunk::Finished(FinishReason::Length)));
        let error = cut_tool_use("tool_use").unwrap_err();
        assert!(matches!(error, EngineError::Malformed { .. }), "{error:?}");
    }

    #[test]
    fn a_text_answer_streams_its_deltas_then_the_usage_and_the_stop() {
        let mut decoder = StreamDecoder::new();
        let chunks = decode(
            &mut decoder,
            &[
                START,
                ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
                ("ping", r#"{"type":"ping"}"#),
                ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
                ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}"#),
                ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
                ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}"#),
                ("message_stop", r#"{"type":"message_stop"}"#),
            ],
        )
        .unwrap();
        assert_eq!(
            chunks,
            [
                Chunk::Text("Hi".into()),
                Chunk::Text(" there".into()),
                Chunk::Usage(Usage {
                    input_tokens: 25,
                    output_tokens: 3,
                    cached_input_tokens: 5
                }),
                Chunk::Finished(FinishReason::Stop),
            ]
        );
        assert!(decoder.is_done());
    }

    #[test]
    fn tool_input_fragments_become_one_call_when_its_block_stops() {
        let mut decoder = StreamDecoder::new();
        let chunks = decode(
            &mut decoder,
            &[
                START,
                ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#),
                ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}"#),
                ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}"#),
                ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
                ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":12}}"#),
                ("message_stop", r#"{"type":"message_stop"}"#),
            ],
        )
        .unwrap();
        assert_eq!(
            chunks[0],
            Chunk::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "get_weather".into(),
                arguments: serde_json::json!({"city": "Paris"}),
            })
        );
        assert_eq!(
            chunks.last(),
            Some(&Chunk::Finished(FinishReason::ToolCalls))
        );
    }

    #[test]
    fn a_cut_stream_still_knows_its_input_usage_and_the_bytes_generated() {
        let mut decoder = StreamDecoder::new();
        decode(
            &mut decoder,
            &[
                START,
                ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"abcd"}}"#),
            ],
        )
        .unwrap();
        assert!(!decoder.is_done());
        assert_eq!(decoder.progress().output_bytes, 4);
        assert_eq!(decoder.progress().usage.map(|u| u.input_tokens), Some(25));
    }

    #[test]
    fn an_error_event_is_a_provider_failure() {
        let mut decoder = StreamDecoder::new();
        let error = decode(
            &mut decoder,
            &[(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )],
        )
        .unwrap_err();
        assert_eq!(error, EngineError::Upstream { status: 529 });
    }
}
