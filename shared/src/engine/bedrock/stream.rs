//! Bedrock's ConverseStream, decoded from the SDK's events into [`Chunk`]s: `messageStart`,
//! `contentBlockStart` (a tool use's id and name), `contentBlockDelta` (text, or tool input as JSON
//! fragments), `contentBlockStop`, `messageStop` (the stop reason) and `metadata` (the usage), which
//! Bedrock sends last. Exception events become the `EngineError` the same failure would be at open.

use std::collections::{BTreeMap, VecDeque};

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput as StreamEvent, StopReason,
};
use aws_smithy_types::event_stream::RawMessage;

use super::{classify_service_error, usage_from};
use crate::chat::{Chunk, FinishReason};
use crate::engine::{ChunkStream, EngineError, PartialToolCall, StreamProgress};
use crate::usage::Usage;

type Events = EventReceiver<StreamEvent, ConverseStreamOutputError>;

/// An open ConverseStream. Dropping it drops the response body, which closes the connection.
pub struct BedrockStream {
    events: Events,
    decoder: StreamDecoder,
    pending: VecDeque<Chunk>,
}

impl BedrockStream {
    pub(super) fn new(events: Events) -> Self {
        BedrockStream {
            events,
            decoder: StreamDecoder::default(),
            pending: VecDeque::new(),
        }
    }
}

#[async_trait::async_trait]
impl ChunkStream for BedrockStream {
    async fn next(&mut self) -> Option<Result<Chunk, EngineError>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(Ok(chunk));
            }
            if self.decoder.done {
                return None;
            }
            let decoded = match self.events.recv().await {
                Ok(Some(event)) => self.decoder.feed(event),
                Ok(None) => self.decoder.end(),
                Err(error) => Err(stream_error(error)),
            };
            match decoded {
                Ok(chunks) => self.pending.extend(chunks),
                Err(error) => return Some(Err(error)),
            }
        }
    }

    fn progress(&self) -> StreamProgress {
        StreamProgress {
            output_bytes: self.decoder.output_bytes,
            usage: self.decoder.usage,
            // Bedrock reports usage once, in the metadata event after the answer.
            usage_is_current: self.decoder.usage.is_some(),
        }
    }
}

/// One stream's state: tool uses being assembled, and what `messageStop` and `metadata` said.
/// The answer is whole once both came, or once the body ends properly after `messageStop`.
#[derive(Debug, Default)]
struct StreamDecoder {
    tool_uses: BTreeMap<i32, PartialToolCall>,
    finish: Option<FinishReason>,
    metadata_seen: bool,
    usage: Option<Usage>,
    output_bytes: u64,
    done: bool,
    /// A tool use whose input was not JSON: an error unless `max_tokens` turns out to have cut it.
    unparsed_tool_use: Option<EngineError>,
}

impl StreamDecoder {
    fn feed(&mut self, event: StreamEvent) -> Result<Vec<Chunk>, EngineError> {
        match event {
            StreamEvent::ContentBlockStart(event) => {
                if let Some(ContentBlockStart::ToolUse(start)) = event.start {
                    self.output_bytes += start.name.len() as u64;
                    let tool_use = PartialToolCall::new(start.tool_use_id, start.name);
                    self.tool_uses.insert(event.content_block_index, tool_use);
                }
            }
            StreamEvent::ContentBlockDelta(event) => match event.delta {
                Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                    self.output_bytes += text.len() as u64;
                    return Ok(vec![Chunk::Text(text)]);
                }
                Some(ContentBlockDelta::ToolUse(delta)) => {
                    self.output_bytes += delta.input.len() as u64;
                    if let Some(tool_use) = self.tool_uses.get_mut(&event.content_block_index) {
                        tool_use.arguments.push_str(&delta.input);
                    }
                }
                // Reasoning, citations and later kinds carry no answer text.
                _ => {}
            },
            StreamEvent::ContentBlockStop(event) => {
                if let Some(tool_use) = self.tool_uses.remove(&event.content_block_index) {
                    match tool_use.finish() {
                        Ok(call) => return Ok(vec![Chunk::ToolCall(call)]),
                        Err(error) => self.unparsed_tool_use = Some(error),
                    }
                }
            }
            StreamEvent::MessageStop(event) => {
                self.finish = Some(finish_reason(&event.stop_reason));
                if self.finish == Some(FinishReason::Length)
                    && self.unparsed_tool_use.take().is_some()
                {
                    tracing::warn!("dropped a tool use cut off by max_tokens");
                }
                if let Some(error) = self.unparsed_tool_use.take() {
                    return Err(error);
                }
                if self.metadata_seen {
                    return Ok(self.finished());
                }
            }
            StreamEvent::Metadata(event) => {
                self.metadata_seen = true;
                self.usage = event.usage.as_ref().map(usage_from);
                if self.finish.is_some() {
                    return Ok(self.finished());
                }
            }
            // `messageStart` only names the role; event types added later are skipped.
            _ => {}
        }
        Ok(Vec::new())
    }

    /// The body ended: properly if `messageStop` came (the usage is then unknown), else it was cut.
    fn end(&mut self) -> Result<Vec<Chunk>, EngineError> {
        if self.finish.is_none() {
            return Err(EngineError::StreamCut);
        }
        Ok(self.finished())
    }

    fn finished(&mut self) -> Vec<Chunk> {
        self.done = true;
        let finish = self.finish.unwrap_or(FinishReason::Stop);
        self.usage
            .map(Chunk::Usage)
            .into_iter()
            .chain([Chunk::Finished(finish)])
            .collect()
    }
}

fn finish_reason(reason: &StopReason) -> FinishReason {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence => FinishReason::Stop,
        // Out of room either way: the answer was cut at a length limit.
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => FinishReason::Length,
        StopReason::ToolUse => FinishReason::ToolCalls,
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Other,
    }
}

/// A failure after the stream opened: an exception event, or the body breaking off.
fn stream_error(error: SdkError<ConverseStreamOutputError, RawMessage>) -> EngineError {
    match error {
        SdkError::ServiceError(context) => exception(&context.into_err()),
        // Bytes left over that make no whole message: the body ended mid-message.
        SdkError::ResponseError(failure)
            if matches!(failure.raw(), RawMessage::Invalid(Some(_))) =>
        {
            EngineError::StreamCut
        }
        SdkError::ResponseError(failure) => EngineError::Malformed {
            detail: format!("an event could not be read: {failure:?}"),
        },
        SdkError::TimeoutError(_) => EngineError::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => EngineError::Timeout,
        // The connection broke while the body was being read.
        SdkError::DispatchFailure(_) => EngineError::StreamCut,
        other => EngineError::Malformed {
            detail: other.to_string(),
        },
    }
}

/// An exception event, classified like the same error answered at open. Its payload carries only a
/// message, so the kind comes from the SDK's variant (the `:exception-type` header), and the status
/// is the one Bedrock documents for it.
fn exception(error: &ConverseStreamOutputError) -> EngineError {
    let code = match error {
        ConverseStreamOutputError::InternalServerException(_) => Some("InternalServerException"),
        ConverseStreamOutputError::ModelStreamErrorException(_) => {
            Some("ModelStreamErrorException")
        }
        ConverseStreamOutputError::ValidationException(_) => Some("ValidationException"),
        ConverseStreamOutputError::ThrottlingException(_) => Some("ThrottlingException"),
        ConverseStreamOutputError::ServiceUnavailableException(_) => {
            Some("ServiceUnavailableException")
        }
        other => other.code(),
    };
    let status = match code {
        Some("ValidationException") => 400,
        Some("ModelStreamErrorException") => 424,
        Some("ThrottlingException") => 429,
        Some("ServiceUnavailableException") => 503,
        _ => 500,
    };
    classify_service_error(code, error.message(), status, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;
    use aws_sdk_bedrockruntime::types::{
        ContentBlockDeltaEvent, ContentBlockStartEvent, ContentBlockStopEvent,
        ConverseStreamMetadataEvent, MessageStopEvent, TokenUsage, ToolUseBlockDelta,
        ToolUseBlockStart,
    };

    fn text(index: i32, text: &str) -> StreamEvent {
        StreamEvent::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(index)
                .delta(ContentBlockDelta::Text(text.into()))
                .build()
                .unwrap(),
        )
    }

    fn tool_start(index: i32, id: &str, name: &str) -> StreamEvent {
        let start = ToolUseBlockStart::builder()
            .tool_use_id(id)
            .name(name)
            .build()
            .unwrap();
        StreamEvent::ContentBlockStart(
            ContentBlockStartEvent::builder()
                .content_block_index(index)
                .start(ContentBlockStart::ToolUse(start))
                .build()
                .unwrap(),
        )
    }

    fn tool_input(index: i32, fragment: &str) -> StreamEvent {
        let delta = ToolUseBlockDelta::builder()
            .input(fragment)
            .build()
            .unwrap();
        StreamEvent::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(index)
                .delta(ContentBlockDelta::ToolUse(delta))
                .build()
                .unwrap(),
        )
    }

    fn stop_block(index: i32) -> StreamEvent {
        StreamEvent::ContentBlockStop(
            ContentBlockStopEvent::builder()
                .content_block_index(index)
                .build()
                .unwrap(),
        )
    }

    fn stop(reason: StopReason) -> StreamEvent {
        StreamEvent::MessageStop(
            MessageStopEvent::builder()
                .stop_reason(reason)
                .build()
                .unwrap(),
        )
    }

    fn metadata(input: i32, output: i32) -> StreamEvent {
        let usage = TokenUsage::builder()
            .input_tokens(input)
            .output_tokens(output)
            .total_tokens(input + output)
            .cache_read_input_tokens(4)
            .build()
            .unwrap();
        StreamEvent::Metadata(ConverseStreamMetadataEvent::builder().usage(usage).build())
    }

    fn feed(decoder: &mut StreamDecoder, events: Vec<StreamEvent>) -> Vec<Chunk> {
        events
            .into_iter()
            .flat_map(|event| decoder.feed(event).unwrap())
            .collect()
    }

    #[test]
    fn text_then_the_usage_and_the_stop_once_metadata_follows_message_stop() {
        let mut decoder = StreamDecoder::default();
        let chunks = feed(
            &mut decoder,
            vec![text(0, "Hel"), text(0, "lo"), stop(StopReason::EndTurn)],
        );
        assert_eq!(
            chunks,
            [Chunk::Text("Hel".into()), Chunk::Text("lo".into())]
        );
        assert!(!decoder.done, "metadata is still to come");

        let end = feed(&mut decoder, vec![metadata(10, 2)]);
        let usage = Usage {
            input_tokens: 14,
            output_tokens: 2,
            cached_input_tokens: 4,
        };
        assert_eq!(
            end,
            [Chunk::Usage(usage), Chunk::Finished(FinishReason::Stop)]
        );
        assert!(decoder.done);
        assert_eq!(decoder.output_bytes, 5);
    }

    #[test]
    fn a_tool_use_is_emitted_whole_when_its_block_stops() {
        let mut decoder = StreamDecoder::default();
        let chunks = feed(
            &mut decoder,
            vec![
                tool_start(1, "tooluse_1", "get_time"),
                tool_input(1, "{\"tz\":"),
                tool_input(1, " \"UTC\"}"),
                stop_block(1),
            ],
        );
        assert_eq!(
            chunks,
            [Chunk::ToolCall(ToolCall {
                id: "tooluse_1".into(),
                name: "get_time".into(),
                arguments: serde_json::json!({"tz": "UTC"}),
            })]
        );
    }

    #[test]
    fn tool_input_that_is_not_json_is_malformed_unless_max_tokens_cut_it() {
        let unparseable = || {
            let mut decoder = StreamDecoder::default();
            let events = vec![
                tool_start(0, "t", "get_time"),
                tool_input(0, "{\"tz\""),
                stop_block(0),
            ];
            assert_eq!(feed(&mut decoder, events), []);
            decoder
        };
        let error = unparseable().feed(stop(StopReason::ToolUse)).unwrap_err();
        assert!(matches!(error, EngineError::Malformed { .. }), "{error:?}");
        let mut cut = unparseable();
        assert_eq!(cut.feed(stop(StopReason::MaxTokens)).unwrap(), []);
        assert!(
            cut.unparsed_tool_use.is_none(),
            "dropped, and the stream reads on"
        );
    }

    #[test]
    fn an_end_before_message_stop_is_a_cut_and_after_it_a_finish_without_usage() {
        let mut cut = StreamDecoder::default();
        feed(&mut cut, vec![text(0, "Once")]);
        assert_eq!(cut.end(), Err(EngineError::StreamCut));

        let mut finished = StreamDecoder::default();
        feed(&mut finished, vec![stop(StopReason::MaxTokens)]);
        assert_eq!(
            finished.end(),
            Ok(vec![Chunk::Finished(FinishReason::Length)])
        );
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        let cases = [
            (StopReason::EndTurn, FinishReason::Stop),
            (StopReason::StopSequence, FinishReason::Stop),
            (StopReason::MaxTokens, FinishReason::Length),
            (StopReason::ToolUse, FinishReason::ToolCalls),
            (StopReason::GuardrailIntervened, FinishReason::ContentFilter),
            (StopReason::ContentFiltered, FinishReason::ContentFilter),
            (StopReason::MalformedToolUse, FinishReason::Other),
        ];
        for (reason, finish) in cases {
            assert_eq!(finish_reason(&reason), finish, "{reason:?}");
        }
    }
}
