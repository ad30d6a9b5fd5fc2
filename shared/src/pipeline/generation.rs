//! Reading a provider's answer as it is generated, until it ends or the turn must stop: the
//! client hung up, the provider broke off, or the deadline came. Whatever happened, what was
//! received is kept, so the turn can be charged for every token the provider generated.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Billed;
use crate::chat::{Chunk, FinishReason, ToolCall, strip_nul};
use crate::engine::{ChunkStream, EngineError, StreamProgress};
use crate::usage::Usage;

/// How many events may wait for a slow client before the provider is read no further.
pub const LIVE_BUFFER: usize = 64;

/// What a streamed turn tells its client as it goes; the end (done or error) is the turn's result.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    /// The provider accepted the call: from here on the turn streams.
    Started(TurnStart),
    Delta(String),
    ToolCall(ToolCall),
}

/// The turn as it starts streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnStart {
    pub trace_id: String,
    pub provider: crate::provider::Provider,
    pub model: String,
    pub personality_id: String,
    pub max_tokens: u32,
    pub max_tokens_reduced: bool,
    /// The stored conversation the turn belongs to.
    pub conversation_id: Option<String>,
}

/// The client of a streamed turn, as the turn sees it: a channel whose receiver is the response
/// body. A dropped receiver means the client is gone.
#[derive(Debug, Clone)]
pub struct Live {
    events: mpsc::Sender<TurnEvent>,
}

/// The client hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGone;

impl Live {
    /// A live turn and the receiving end for its response body.
    pub fn channel() -> (Live, mpsc::Receiver<TurnEvent>) {
        let (events, receiver) = mpsc::channel(LIVE_BUFFER);
        (Live { events }, receiver)
    }

    pub async fn send(&self, event: TurnEvent) -> Result<(), ClientGone> {
        self.events.send(event).await.map_err(|_| ClientGone)
    }

    async fn gone(&self) {
        self.events.closed().await;
    }
}

/// Why a generation ended before the provider finished it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    ClientDisconnected,
    Deadline,
    /// The provider broke off: an error event, a cut connection, a body it could not parse.
    Provider(EngineError),
}

impl Stop {
    /// The reason a charge is estimated, as the ledger row and the logs name it.
    pub fn reason(&self) -> &'static str {
        match self {
            Stop::ClientDisconnected => "client_disconnected",
            Stop::Deadline => "deadline",
            Stop::Provider(_) => "provider_stream_cut",
        }
    }
}

/// What a provider generated for one call, as far as it got.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// The provider's own count, when it reported one.
    pub usage: Option<Usage>,
    pub finish_reason: Option<FinishReason>,
    pub progress: StreamProgress,
    /// `None`: the provider ended the answer itself.
    pub stop: Option<Stop>,
}

impl Generation {
    fn new() -> Self {
        Generation {
            text: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            finish_reason: None,
            progress: StreamProgress::default(),
            stop: None,
        }
    }

    /// The provider broke off before a single byte of the answer or a count: nothing was
    /// generated, so it is a refusal and charges nothing.
    pub fn is_refusal(&self) -> bool {
        matches!(self.stop, Some(Stop::Provider(_)))
            && self.progress.output_bytes == 0
            && self.usage.is_none()
            && self.progress.usage.is_none()
    }
}

impl Generation {
    /// What to charge: the provider's count when it gave one; otherwise the input bound (or the
    /// input the provider reported) and the output received — counted by the engine's tokenizer
    /// when it has one, else one token per byte, never more than the `max_tokens` allowed.
    pub fn billed(&self, input_bound: u64, max_tokens: u32) -> Billed {
        if let Some(usage) = self.usage {
            return Billed::reported(usage);
        }
        let reported = self.progress.usage.unwrap_or_default();
        let input_tokens = match reported.input_tokens {
            0 => input_bound,
            reported => reported,
        };
        let output_tokens = if self.progress.usage_is_current {
            reported.output_tokens
        } else {
            let received = self.progress.output_bytes.min(u64::from(max_tokens));
            received.max(reported.output_tokens)
        };
        let reason = self
            .stop
            .as_ref()
            .map_or("usage_not_reported", Stop::reason);
        Billed::estimated(
            Usage {
                input_tokens,
                output_tokens,
                cached_input_tokens: reported.cached_input_tokens,
            },
            reason,
        )
    }
}

/// Reads `stream` to its end, or until `deadline`, passing text and allowed tool calls to `live`
/// (a streamed turn) as they arrive. Tool calls outside `allowed_tools` are dropped, and logged,
/// so a model can never make Helix's client run a tool the personality does not permit. Every
/// provider's output passes here, so here it loses U+0000 (`chat::strip_nul`): what a client is
/// sent is what can be stored.
/// Dropping the stream on the way out closes the provider's connection: it stops generating.
pub async fn generate(
    mut stream: Box<dyn ChunkStream>,
    live: Option<&Live>,
    deadline: Instant,
    allowed_tools: &[String],
) -> Generation {
    let mut generation = Generation::new();
    let read = read_stream(stream.as_mut(), live, allowed_tools, &mut generation);
    let stop = tokio::select! {
        stop = read => stop,
        () = tokio::time::sleep_until(deadline) => Some(Stop::Deadline),
        () = client_gone(live) => Some(Stop::ClientDisconnected),
    };
    generation.progress = stream.progress();
    generation.stop = stop;
    generation
}

async fn read_stream(
    stream: &mut dyn ChunkStream,
    live: Option<&Live>,
    allowed_tools: &[String],
    generation: &mut Generation,
) -> Option<Stop> {
    while let Some(chunk) = stream.next().await {
        let event = match chunk {
            Ok(Chunk::Text(mut text)) => {
                strip_nul(&mut text);
                if text.is_empty() {
                    continue;
                }
                generation.text.push_str(&text);
                TurnEvent::Delta(text)
            }
            Ok(Chunk::ToolCall(call)) => {
                let call = call.without_nul();
                if !allowed_tools.contains(&call.name) {
                    tracing::warn!(tool = %call.name, tool_call_id = %call.id, "dropped a tool call outside the whitelist");
                    continue;
                }
                generation.tool_calls.push(call.clone());
                TurnEvent::ToolCall(call)
            }
            Ok(Chunk::Usage(usage)) => {
                generation.usage = Some(usage);
                continue;
            }
            Ok(Chunk::Finished(reason)) => {
                generation.finish_reason = Some(reason);
                continue;
            }
            Err(error) => return Some(Stop::Provider(error)),
        };
        if let Some(live) = live
            && live.send(event).await.is_err()
        {
            return Some(Stop::ClientDisconnected);
        }
    }
    None
}

/// Resolves when a live turn's client hangs up; never for a turn nobody watches.
async fn client_gone(live: Option<&Live>) {
    match live {
        Some(live) => live.gone().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Completion;
    use crate::engine::ReplayedStream;
    use std::time::Duration;

    fn deadline_in(after: Duration) -> Instant {
        Instant::now() + after
    }

    /// A stream that yields its chunks, then an error or a stall.
    struct Scripted {
        chunks: std::collections::VecDeque<Result<Chunk, EngineError>>,
        stall_at_end: bool,
        bytes: u64,
    }

    impl Scripted {
        fn new(chunks: Vec<Result<Chunk, EngineError>>, stall_at_end: bool) -> Box<Self> {
            Box::new(Scripted {
                chunks: chunks.into(),
                stall_at_end,
                bytes: 0,
            })
        }
    }

    #[async_trait::async_trait]
    impl ChunkStream for Scripted {
        async fn next(&mut self) -> Option<Result<Chunk, EngineError>> {
            match self.chunks.pop_front() {
                Some(chunk) => {
                    if let Ok(Chunk::Text(text)) = &chunk {
                        self.bytes += text.len() as u64;
                    }
                    Some(chunk)
                }
                None if self.stall_at_end => std::future::pending().await,
                None => None,
            }
        }

        fn progress(&self) -> StreamProgress {
            StreamProgress {
                output_bytes: self.bytes,
                ..StreamProgress::default()
            }
        }
    }

    fn text(piece: &str) -> Result<Chunk, EngineError> {
        Ok(Chunk::Text(piece.to_owned()))
    }

    fn call(name: &str) -> ToolCall {
        ToolCall {
            id: format!("call_{name}"),
            name: name.to_owned(),
            arguments: serde_json::json!({}),
        }
    }

    fn soon() -> Instant {
        deadline_in(Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_finished_stream_keeps_text_tool_calls_usage_and_reason() {
        let usage = Usage {
            input_tokens: 7,
            output_tokens: 3,
            cached_input_tokens: 0,
        };
        let completion = Completion {
            text: "hello".into(),
            usage: Some(usage),
            tool_calls: vec![call("clock")],
        };
        let stream = Box::new(ReplayedStream::of(completion));
        let generation = generate(stream, None, soon(), &["clock".to_owned()]).await;
        assert_eq!(generation.text, "hello");
        assert_eq!(generation.tool_calls, vec![call("clock")]);
        assert_eq!(generation.usage, Some(usage));
        assert_eq!(generation.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(generation.stop, None);
    }

    #[tokio::test]
    async fn tool_calls_outside_the_whitelist_are_neither_kept_nor_sent() {
        let (live, mut events) = Live::channel();
        let stream = Scripted::new(vec![Ok(Chunk::ToolCall(call("shell"))), text("ok")], false);
        let generation = generate(stream, Some(&live), soon(), &["clock".to_owned()]).await;
        assert!(generation.tool_calls.is_empty());
        assert_eq!(events.recv().await, Some(TurnEvent::Delta("ok".into())));
    }

    #[tokio::test]
    async fn nul_characters_of_the_answer_are_neither_kept_nor_sent() {
        let (live, mut events) = Live::channel();
        let nul_call = ToolCall {
            id: "call\0_1".into(),
            name: "clo\0ck".into(),
            arguments: serde_json::json!({"zone\0": ["UTC\0", {"k": "v\0"}]}),
        };
        let stream = Scripted::new(
            vec![
                text("he\0l"),
                text("\0"),
                text("lo"),
                Ok(Chunk::ToolCall(nul_call)),
            ],
            false,
        );
        let generation = generate(stream, Some(&live), soon(), &["clock".to_owned()]).await;
        assert_eq!(generation.text, "hello");
        let kept = ToolCall {
            id: "call_1".into(),
            name: "clock".into(),
            arguments: serde_json::json!({"zone": ["UTC", {"k": "v"}]}),
        };
        assert_eq!(generation.tool_calls, vec![kept.clone()]);
        assert_eq!(events.recv().await, Some(TurnEvent::Delta("hel".into())));
        assert_eq!(events.recv().await, Some(TurnEvent::Delta("lo".into())));
        assert_eq!(events.recv().await, Some(TurnEvent::ToolCall(kept)));
        // What the provider sent is still what is charged for.
        assert_eq!(generation.progress.output_bytes, 7);
    }

    #[tokio::test]
    async fn a_provider_error_keeps_what_came_before_it() {
        let stream = Scripted::new(vec![text("par"), Err(EngineError::StreamCut)], false);
        let generation = generate(stream, None, soon(), &[]).await;
        assert_eq!(generation.text, "par");
        assert_eq!(
            generation.stop,
            Some(Stop::Provider(EngineError::StreamCut))
        );
        assert_eq!(generation.progress.output_bytes, 3);
        assert!(!generation.is_refusal());
    }

    #[tokio::test]
    async fn an_error_before_any_output_is_a_refusal() {
        let stream = Scripted::new(vec![Err(EngineError::Upstream { status: 529 })], false);
        let generation = generate(stream, None, soon(), &[]).await;
        assert!(generation.is_refusal());
    }

    #[tokio::test]
    async fn a_stalled_provider_stops_at_the_deadline() {
        let stream = Scripted::new(vec![text("slow")], true);
        let deadline = deadline_in(Duration::from_millis(50));
        let generation = generate(stream, None, deadline, &[]).await;
        assert_eq!(generation.stop, Some(Stop::Deadline));
        assert_eq!(generation.text, "slow");
        assert_eq!(generation.progress.output_bytes, 4);
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_stops_the_generation() {
        let (live, events) = Live::channel();
        drop(events);
        let stream = Scripted::new(vec![text("a"), text("b")], false);
        let generation = generate(stream, Some(&live), soon(), &[]).await;
        assert_eq!(generation.stop, Some(Stop::ClientDisconnected));
        assert!(generation.text.len() <= 1);
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_during_a_stall_is_noticed() {
        let (live, events) = Live::channel();
        let stream = Scripted::new(vec![text("a")], true);
        let hang_up = async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(events);
        };
        let (generation, ()) = tokio::join!(generate(stream, Some(&live), soon(), &[]), hang_up);
        assert_eq!(generation.stop, Some(Stop::ClientDisconnected));
        assert_eq!(generation.text, "a");
    }

    fn stopped(
        stop: Option<Stop>,
        bytes: u64,
        reported: Option<Usage>,
        current: bool,
    ) -> Generation {
        Generation {
            progress: StreamProgress {
                output_bytes: bytes,
                usage: reported,
                usage_is_current: current,
            },
            stop,
            ..Generation::new()
        }
    }

    #[test]
    fn the_providers_count_is_charged_when_it_came() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 4,
            cached_input_tokens: 2,
        };
        let generation = Generation {
            usage: Some(usage),
            ..stopped(Some(Stop::ClientDisconnected), 99, None, false)
        };
        assert_eq!(generation.billed(500, 100), Billed::reported(usage));
    }

    #[test]
    fn without_a_count_input_is_bounded_and_output_is_what_was_received() {
        let generation = stopped(Some(Stop::Deadline), 40, None, false);
        let billed = generation.billed(500, 100);
        assert_eq!(billed.usage.input_tokens, 500);
        assert_eq!(billed.usage.output_tokens, 40);
        assert_eq!(billed.estimated, Some("deadline"));
    }

    #[test]
    fn estimated_output_never_exceeds_what_was_allowed() {
        let generation = stopped(
            Some(Stop::Provider(EngineError::StreamCut)),
            4_000,
            None,
            false,
        );
        let billed = generation.billed(500, 100);
        assert_eq!(billed.usage.output_tokens, 100);
        assert_eq!(billed.estimated, Some("provider_stream_cut"));
    }

    #[test]
    fn a_reported_input_replaces_the_bound_and_a_tokenizer_count_replaces_bytes() {
        let so_far = Usage {
            input_tokens: 12,
            output_tokens: 3,
            cached_input_tokens: 0,
        };
        let lagging = stopped(Some(Stop::ClientDisconnected), 30, Some(so_far), false);
        assert_eq!(lagging.billed(500, 100).usage.input_tokens, 12);
        assert_eq!(lagging.billed(500, 100).usage.output_tokens, 30);
        let counted = stopped(Some(Stop::ClientDisconnected), 30, Some(so_far), true);
        assert_eq!(counted.billed(500, 100).usage.output_tokens, 3);
        assert_eq!(
            counted.billed(500, 100).estimated,
            Some("client_disconnected")
        );
    }

    #[test]
    fn a_finished_answer_without_a_count_is_estimated_as_such() {
        let generation = stopped(None, 5, None, false);
        assert_eq!(
            generation.billed(50, 100).estimated,
            Some("usage_not_reported")
        );
    }
}
