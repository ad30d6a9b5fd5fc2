//! The reading end of an in-process generation: what the worker thread sends as it generates, the
//! [`ChunkStream`] made of it, and the UTF-8 care a token stream needs (a token may end in the
//! middle of a character).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::failed;
use crate::chat::{Chunk, Completion, FinishReason};
use crate::engine::{ChunkStream, EngineError, StreamProgress};
use crate::usage::Usage;

/// What the worker sends for one turn, in order: `Started`, `Piece`s, `Finished` (or an error).
#[derive(Debug)]
pub(super) enum Generated {
    /// The prompt is read, in this many of the model's tokens; generation starts.
    Started {
        prompt_tokens: u64,
    },
    /// Whole UTF-8 text, and how many tokens the answer has up to and including it.
    Piece {
        text: String,
        tokens: u64,
    },
    Finished {
        reason: FinishReason,
        tokens: u64,
    },
}

pub(super) type Sender = mpsc::Sender<Result<Generated, EngineError>>;
type Receiver = mpsc::Receiver<Result<Generated, EngineError>>;

/// A turn being generated on the worker thread. Dropping it closes the channel, and the worker
/// stops at its next token.
#[derive(Debug)]
pub(super) struct LlamaStream {
    events: Receiver,
    /// Every token the worker generated for this turn, received yet or not.
    generated: Arc<AtomicU64>,
    prompt_tokens: u64,
    output_tokens: u64,
    output_bytes: u64,
    finish: Option<FinishReason>,
    done: bool,
}

impl LlamaStream {
    /// Waits for the worker to read the prompt: a failure before that (a prompt longer than the
    /// context, a broken model) is the engine refusing, before anything was generated.
    pub(super) async fn open(
        mut events: Receiver,
        generated: Arc<AtomicU64>,
    ) -> Result<Self, EngineError> {
        match events.recv().await {
            Some(Ok(Generated::Started { prompt_tokens })) => Ok(LlamaStream {
                events,
                generated,
                prompt_tokens,
                output_tokens: 0,
                output_bytes: 0,
                finish: None,
                done: false,
            }),
            Some(Ok(other)) => Err(failed(format!(
                "the model thread sent {other:?} before reading the prompt"
            ))),
            Some(Err(error)) => Err(error),
            None => Err(failed("the model thread dropped the turn".into())),
        }
    }

    /// Counted with the model's own tokenizer: the prompt and every token of the text received.
    fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.output_tokens,
            cached_input_tokens: 0,
        }
    }

    /// The whole answer, as `complete` returns it (trimmed: small models pad with whitespace).
    pub(super) async fn collect(mut self) -> Result<Completion, EngineError> {
        let mut text = String::new();
        let mut usage = None;
        while let Some(chunk) = self.next().await {
            match chunk? {
                Chunk::Text(piece) => text.push_str(&piece),
                Chunk::Usage(reported) => usage = Some(reported),
                Chunk::ToolCall(_) | Chunk::Finished(_) => {}
            }
        }
        Ok(Completion {
            text: text.trim().to_owned(),
            usage,
            tool_calls: Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl ChunkStream for LlamaStream {
    async fn next(&mut self) -> Option<Result<Chunk, EngineError>> {
        if let Some(reason) = self.finish.take() {
            self.done = true;
            return Some(Ok(Chunk::Finished(reason)));
        }
        if self.done {
            return None;
        }
        match self.events.recv().await {
            Some(Ok(Generated::Piece { text, tokens })) => {
                self.output_tokens = tokens;
                self.output_bytes += text.len() as u64;
                Some(Ok(Chunk::Text(text)))
            }
            Some(Ok(Generated::Finished { reason, tokens })) => {
                self.output_tokens = tokens;
                self.finish = Some(reason);
                Some(Ok(Chunk::Usage(self.usage())))
            }
            Some(Ok(Generated::Started { .. })) => {
                Some(Err(failed("the model thread started a turn twice".into())))
            }
            Some(Err(error)) => Some(Err(error)),
            None => Some(Err(failed("the model thread stopped mid-answer".into()))),
        }
    }

    /// Counted with the model's tokenizer, and every token generated counts, including those
    /// still on their way to the reader: a turn stopped early is charged for all of them.
    fn progress(&self) -> StreamProgress {
        let generated = self.generated.load(Ordering::Relaxed);
        StreamProgress {
            output_bytes: self.output_bytes,
            usage: Some(Usage {
                output_tokens: self.output_tokens.max(generated),
                ..self.usage()
            }),
            usage_is_current: true,
        }
    }
}

/// Token bytes in, whole UTF-8 text out: a character split across tokens waits for its last
/// byte. Bytes that can never become valid UTF-8 are replaced (U+FFFD), as a lossy decode would.
#[derive(Debug, Default)]
pub(super) struct Utf8Pieces {
    /// An incomplete character at the end of what came so far (at most 3 bytes).
    tail: Vec<u8>,
}

impl Utf8Pieces {
    /// The text that became whole with `bytes`, if any.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Option<String> {
        self.tail.extend_from_slice(bytes);
        let mut text = String::new();
        let mut rest = self.tail.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    // Valid by from_utf8's word: the lossy decode only borrows it.
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        // The end is the start of a character: keep it for the next token.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(invalid) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[invalid..];
                        }
                    }
                }
            }
        }
        self.tail = rest.to_vec();
        (!text.is_empty()).then_some(text)
    }

    /// What is left when generation ends: a character that never completed, replaced.
    pub(super) fn finish(self) -> Option<String> {
        (!self.tail.is_empty()).then(|| String::from_utf8_lossy(&self.tail).into_owned())
    }
}

/// Stop sequences over streamed text: text that may be the start of a stop sequence is held back
/// until the next piece shows whether it is one; the answer ends just before the first that
/// appears (the sequence itself is not part of it, as with every provider).
#[derive(Debug, Default)]
pub(super) struct StopScan<'a> {
    stops: &'a [String],
    held: String,
}

impl<'a> StopScan<'a> {
    pub(super) fn new(stops: &'a [String]) -> Self {
        StopScan {
            stops,
            held: String::new(),
        }
    }

    /// The text that can be given out now, and whether a stop sequence ended the answer.
    pub(super) fn push(&mut self, text: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (text.to_owned(), false);
        }
        self.held.push_str(text);
        let first_stop = self
            .stops
            .iter()
            .filter(|stop| !stop.is_empty())
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min();
        if let Some(at) = first_stop {
            self.held.truncate(at);
            return (std::mem::take(&mut self.held), true);
        }
        // The longest end of the held text that begins some stop sequence waits for more.
        let keep_from = self
            .held
            .char_indices()
            .map(|(at, _)| at)
            .find(|&at| {
                let tail = &self.held[at..];
                self.stops.iter().any(|stop| stop.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let rest = self.held.split_off(keep_from);
        (std::mem::replace(&mut self.held, rest), false)
    }

    /// What was held back when the answer ended without a stop sequence.
    pub(super) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_tokens_comes_out_whole_once_its_last_byte_arrives() {
        let mut pieces = Utf8Pieces::default();
        let euro = "€".as_bytes(); // three bytes
        assert_eq!(pieces.push(b"5 "), Some("5 ".into()));
        assert_eq!(pieces.push(&euro[..1]), None);
        assert_eq!(pieces.push(&euro[1..2]), None);
        assert_eq!(pieces.push(&[euro[2], b'!']), Some("€!".into()));
        assert_eq!(pieces.finish(), None);
    }

    #[test]
    fn invalid_bytes_are_replaced_and_a_character_left_unfinished_is_flushed_at_the_end() {
        let mut pieces = Utf8Pieces::default();
        assert_eq!(pieces.push(b"a\xffb\xe2\x82"), Some("a\u{fffd}b".into()));
        assert_eq!(pieces.finish(), Some("\u{fffd}".into()));
    }

    #[test]
    fn a_stop_sequence_split_across_pieces_ends_the_text_just_before_it() {
        let stops = ["END".to_owned(), "\n\n".to_owned()];
        let mut scan = StopScan::new(&stops);
        assert_eq!(scan.push("Hello E"), ("Hello ".into(), false));
        assert_eq!(scan.push("N"), (String::new(), false));
        assert_eq!(scan.push("Dx"), (String::new(), true));
        let mut scan = StopScan::new(&stops);
        assert_eq!(scan.push("a E"), ("a ".into(), false));
        // Not a stop after all: the held text comes out with what follows.
        assert_eq!(scan.push("Nd €"), ("ENd €".into(), false));
        assert_eq!(scan.push("\n"), (String::new(), false));
        assert_eq!(scan.finish(), "\n");
        let mut none = StopScan::new(&[]);
        assert_eq!(none.push("END"), ("END".into(), false));
    }

    fn events(sent: Vec<Result<Generated, EngineError>>) -> Receiver {
        let (sender, receiver) = mpsc::channel(sent.len().max(1));
        for event in sent {
            sender.try_send(event).unwrap();
        }
        receiver
    }

    #[tokio::test]
    async fn the_stream_counts_the_tokens_received_and_ends_with_usage_then_the_finish() {
        let receiver = events(vec![
            Ok(Generated::Started { prompt_tokens: 20 }),
            Ok(Generated::Piece {
                text: "Hi".into(),
                tokens: 1,
            }),
            Ok(Generated::Piece {
                text: " there".into(),
                tokens: 3,
            }),
            Ok(Generated::Finished {
                reason: FinishReason::Length,
                tokens: 3,
            }),
        ]);
        let mut stream = LlamaStream::open(receiver, Arc::default()).await.unwrap();
        assert_eq!(stream.next().await, Some(Ok(Chunk::Text("Hi".into()))));
        assert_eq!(stream.progress().usage.map(|u| u.output_tokens), Some(1));
        assert_eq!(stream.next().await, Some(Ok(Chunk::Text(" there".into()))));
        let usage = Usage {
            input_tokens: 20,
            output_tokens: 3,
            cached_input_tokens: 0,
        };
        assert_eq!(stream.progress().usage, Some(usage));
        assert_eq!(stream.progress().output_bytes, 8);
        assert_eq!(stream.next().await, Some(Ok(Chunk::Usage(usage))));
        assert_eq!(
            stream.next().await,
            Some(Ok(Chunk::Finished(FinishReason::Length)))
        );
        assert_eq!(stream.next().await, None);
    }

    #[tokio::test]
    async fn a_failure_before_the_prompt_is_read_is_an_error_from_open() {
        let receiver = events(vec![Err(EngineError::ContextLength)]);
        assert_eq!(
            LlamaStream::open(receiver, Arc::default())
                .await
                .unwrap_err(),
            EngineError::ContextLength
        );
    }
}
