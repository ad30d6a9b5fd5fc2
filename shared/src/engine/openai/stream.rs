//! OpenAI's streamed Chat Completions (`stream: true` with `stream_options.include_usage`), decoded
//! from its server-sent events into [`Chunk`]s. Tool calls arrive as argument fragments keyed by
//! `index` and are emitted whole when the choice finishes; the usage comes in a last chunk with no
//! choices, before `[DONE]`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ErrorBody, WireUsage};
use crate::chat::{Chunk, FinishReason};
use crate::engine::http::EventDecoder;
use crate::engine::sse::SseEvent;
use crate::engine::{EngineError, PartialToolCall, StreamProgress};
use crate::usage::Usage;

/// Decodes one stream's events; `received_output_bytes` counts what the model generated so far
/// (text, tool names and arguments), for charging a stream cut before its usage arrived.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    tool_calls: BTreeMap<u32, PartialToolCall>,
    received_output_bytes: u64,
    usage: Option<Usage>,
    done: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn decode(&mut self, event: &SseEvent) -> Result<Vec<Chunk>, EngineError> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return self.flush_tool_calls(false);
        }
        if let Ok(ErrorBody { error }) = serde_json::from_str::<ErrorBody>(&event.data) {
            return Err(stream_error(error.code.as_deref()));
        }
        let chunk: WireChunk =
            serde_json::from_str(&event.data).map_err(|e| EngineError::Malformed {
                detail: format!("a stream chunk is not a chat.completion.chunk: {e}"),
            })?;
        let mut chunks = Vec::new();
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.received_output_bytes += text.len() as u64;
                chunks.push(Chunk::Text(text));
            }
            for fragment in choice.delta.tool_calls {
                self.add_fragment(fragment);
            }
            if let Some(reason) = choice.finish_reason {
                let cut = finish_reason(&reason) == FinishReason::Length;
                chunks.extend(self.flush_tool_calls(cut)?);
                chunks.push(Chunk::Finished(finish_reason(&reason)));
            }
        }
        if let Some(usage) = chunk.usage.map(Usage::from) {
            self.usage = Some(usage);
            chunks.push(Chunk::Usage(usage));
        }
        Ok(chunks)
    }

    fn add_fragment(&mut self, fragment: WireToolCallDelta) {
        let call = self.tool_calls.entry(fragment.index).or_default();
        if let Some(id) = fragment.id {
            call.id = id;
        }
        if let Some(function) = fragment.function {
            if let Some(name) = function.name {
                self.received_output_bytes += name.len() as u64;
                call.name.push_str(&name);
            }
            if let Some(arguments) = function.arguments {
                self.received_output_bytes += arguments.len() as u64;
                call.arguments.push_str(&arguments);
            }
        }
    }

    /// The assembled tool calls. When `max_tokens` `cut` the answer, a call whose arguments were
    /// cut off mid-JSON is dropped (and logged) so the stream reads on to the provider's usage;
    /// unparseable arguments in a whole answer are the provider's nonsense.
    fn flush_tool_calls(&mut self, cut: bool) -> Result<Vec<Chunk>, EngineError> {
        let mut chunks = Vec::new();
        for call in std::mem::take(&mut self.tool_calls).into_values() {
            let (id, name) = (call.id.clone(), call.name.clone());
            match call.finish() {
                Ok(call) => chunks.push(Chunk::ToolCall(call)),
                Err(_) if cut => {
                    tracing::warn!(tool_call_id = %id, tool = %name, "dropped a tool call cut off by max_tokens");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(chunks)
    }
}

/// An error object inside a 200 stream: a rate limit, or the provider failing mid-answer.
fn stream_error(code: Option<&str>) -> EngineError {
    match code {
        Some("rate_limit_exceeded") => EngineError::RateLimited { retry_after: None },
        _ => EngineError::Upstream { status: 500 },
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: WireDelta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCallDelta>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
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
            usage: self.usage,
            // OpenAI reports usage once, after the last piece of the answer.
            usage_is_current: self.usage.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;

    fn data(json: &str) -> SseEvent {
        SseEvent {
            event: String::new(),
            data: json.into(),
        }
    }

    fn decode(events: &[&str]) -> Result<Vec<Chunk>, EngineError> {
        let mut decoder = StreamDecoder::new();
        let mut chunks = Vec::new();
        for event in events {
            chunks.extend(decoder.decode(&data(event))?);
        }
        Ok(chunks)
    }

    #[test]
    fn text_deltas_then_the_finish_then_the_usage_chunk() {
        let chunks = decode(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(
            chunks,
            [
                Chunk::Text("Hel".into()),
                Chunk::Text("lo".into()),
                Chunk::Finished(FinishReason::Stop),
                Chunk::Usage(Usage {
                    input_tokens: 9,
                    output_tokens: 2,
                    cached_input_tokens: 4
                }),
            ]
        );
    }

    #[test]
    fn tool_call_fragments_are_assembled_by_index_and_emitted_at_the_finish() {
        let chunks = decode(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_time","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"add","arguments":"{\"a\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"tz\":\"UTC\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ])
        .unwrap();
        assert_eq!(
            chunks,
            [
                Chunk::ToolCall(ToolCall {
                    id: "call_a".into(),
                    name: "get_time".into(),
                    arguments: serde_json::json!({"tz": "UTC"}),
                }),
                Chunk::ToolCall(ToolCall {
                    id: "call_b".into(),
                    name: "add".into(),
                    arguments: serde_json::json!({"a": 1}),
                }),
                Chunk::Finished(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn every_generated_byte_is_counted_even_when_the_stream_is_cut() {
        let mut decoder = StreamDecoder::new();
        decoder
            .feed(&data(
                r#"{"choices":[{"index":0,"delta":{"content":"abc"}}]}"#,
            ))
            .unwrap();
        decoder
            .feed(&data(
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"x"}}]}}]}"#,
            ))
            .unwrap();
        assert_eq!(decoder.progress().output_bytes, 3 + 1 + 3);
        assert!(!decoder.is_done());
    }

    #[test]
    fn an_error_object_mid_stream_is_a_provider_failure_and_nonsense_is_malformed() {
        let error = decode(&[
            r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        ])
        .unwrap_err();
        assert_eq!(error, EngineError::RateLimited { retry_after: None });
        let error = decode(&["not json"]).unwrap_err();
        assert!(matches!(error, EngineError::Malformed { .. }), "{error:?}");
    }

    #[test]
    fn a_tool_call_cut_off_by_max_tokens_is_dropped_and_the_usage_still_read() {
        let chunks = decode(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#,
        ])
        .unwrap();
        assert!(
            !chunks.iter().any(|c| matches!(c, Chunk::ToolCall(_))),
            "{chunks:?}"
        );
        assert!(chunks.contains(&Chunk::Finished(FinishReason::Length)));
        assert!(
            chunks
                .iter()
                .any(|c| matches!(c, Chunk::Usage(u) if u.output_tokens == 7))
        );
    }

    #[test]
    fn unparseable_tool_arguments_in_a_whole_answer_are_malformed() {
        let error = decode(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ])
        .unwrap_err();
        assert!(matches!(error, EngineError::Malformed { .. }), "{error:?}");
    }
}
