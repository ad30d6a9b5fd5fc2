//! The `local` provider with no server to call: a GGUF chat model run in-process by llama.cpp.
//!
//! Inference is CPU-bound and would starve the async runtime, so one worker thread owns the model
//! and takes jobs from a bounded queue. A full queue answers 429 at once instead of growing an
//! unbounded wait. Each token's text goes to the turn's reader as it is generated, through a
//! bounded channel; a reader that gave up (its stream was dropped) stops its generation at the
//! next token. `complete` is the same stream, collected.

mod stream;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, oneshot};

use stream::{Generated, LlamaStream, Sender, StopScan, Utf8Pieces};

use super::{ChunkStream, Engine, EngineError};
use crate::chat::{Completion, CompletionInput, FinishReason, Message, Role, ToolChoice};

/// How the in-process chat model runs.
#[derive(Debug, Clone)]
pub struct LlamaSettings {
    /// The name agents use for this model (`smollm2-135m-instruct`).
    pub model_name: String,
    pub model_path: PathBuf,
    pub threads: u32,
    /// Prompt plus answer, in tokens.
    pub context_tokens: u32,
    /// Turns that may wait for the worker before new ones get a 429.
    pub queue: usize,
}

/// Output tokens when a call does not set `max_tokens` (turns always do).
const FALLBACK_MAX_TOKENS: u32 = 512;

/// Pieces of text the worker may generate ahead of a turn's reader before it waits for it.
const PIECES_AHEAD: usize = 16;

/// A cheap handle on the worker thread; clones share it.
#[derive(Clone)]
pub struct LlamaEngine {
    model_name: Arc<str>,
    jobs: mpsc::Sender<Job>,
    generated_tokens: Arc<AtomicU64>,
}

struct Job {
    input: CompletionInput,
    events: Sender,
    /// Tokens generated for this turn, read by its stream: the pieces still in the channel count.
    generated: Arc<AtomicU64>,
}

/// The model loaded on the worker thread with what generation needs beside it.
struct Loaded {
    model: LlamaModel,
    template: LlamaChatTemplate,
    settings: LlamaSettings,
}

impl LlamaEngine {
    /// Loads the model on a new worker thread; fails (503) if the file is missing or not a model.
    pub async fn open(settings: LlamaSettings) -> Result<Self, EngineError> {
        let (jobs, queue) = mpsc::channel(settings.queue.max(1));
        let (ready, loaded) = oneshot::channel();
        let model_name: Arc<str> = settings.model_name.as_str().into();
        let generated_tokens = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&generated_tokens);
        std::thread::Builder::new()
            .name("helix-llama".into())
            .spawn(move || match load(settings) {
                Ok(loaded) => {
                    // The opener always waits for this answer, so the send cannot fail.
                    let _ = ready.send(Ok(()));
                    serve(&loaded, queue, &counter);
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                }
            })
            .map_err(|e| failed(format!("cannot start the model thread: {e}")))?;
        loaded
            .await
            .map_err(|_| failed("the model thread stopped while loading".into()))??;
        Ok(LlamaEngine {
            model_name,
            jobs,
            generated_tokens,
        })
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Tokens this engine has generated since it loaded, over every turn: a gauge of the work
    /// done, which shows that a dropped stream stopped its generation.
    pub fn generated_tokens(&self) -> u64 {
        self.generated_tokens.load(Ordering::Relaxed)
    }

    /// Queues the turn (429 when the queue is full) and waits until the worker has read its prompt.
    async fn open_stream(&self, input: &CompletionInput) -> Result<LlamaStream, EngineError> {
        refuse_forced_tools(input)?;
        let (events, receiver) = mpsc::channel(PIECES_AHEAD);
        let generated = Arc::new(AtomicU64::new(0));
        let job = Job {
            input: input.clone(),
            events,
            generated: Arc::clone(&generated),
        };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(1)),
            },
            mpsc::error::TrySendError::Closed(_) => failed("the model thread has stopped".into()),
        })?;
        LlamaStream::open(receiver, generated).await
    }
}

#[async_trait::async_trait]
impl Engine for LlamaEngine {
    fn id(&self) -> &'static str {
        "local"
    }

    fn model(&self) -> &str {
        &self.model_name
    }

    async fn complete(&self, input: &CompletionInput) -> Result<Completion, EngineError> {
        self.open_stream(input).await?.collect().await
    }

    async fn stream(&self, input: &CompletionInput) -> Result<Box<dyn ChunkStream>, EngineError> {
        Ok(Box::new(self.open_stream(input).await?))
    }
}

/// One backend per process: llama.cpp refuses a second initialisation.
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| failed(format!("llama.cpp did not start: {e}")))
}

fn load(settings: LlamaSettings) -> Result<Loaded, EngineError> {
    let path = &settings.model_path;
    if !path.is_file() {
        return Err(EngineError::LocalModelUnavailable {
            reason: format!(
                "no model file at {} (run scripts/models, set HELIX_LOCAL_MODEL_PATH, or point HELIX_LOCAL_BASE_URL at an OpenAI-compatible server)",
                path.display()
            ),
        });
    }
    let model = LlamaModel::load_from_file(backend()?, path, &LlamaModelParams::default())
        .map_err(|e| EngineError::LocalModelUnavailable {
            reason: format!("{} is not a model llama.cpp can load: {e}", path.display()),
        })?;
    let template = model
        .chat_template(None)
        .map_err(|e| EngineError::LocalModelUnavailable {
            reason: format!("{} has no chat template: {e}", path.display()),
        })?;
    tracing::info!(
        model = %settings.model_name,
        path = %path.display(),
        threads = settings.threads,
        context_tokens = settings.context_tokens,
        "local model loaded"
    );
    Ok(Loaded {
        model,
        template,
        settings,
    })
}

fn serve(loaded: &Loaded, mut queue: mpsc::Receiver<Job>, generated_tokens: &AtomicU64) {
    while let Some(job) = queue.blocking_recv() {
        // Its reader gave up while the turn waited in the queue.
        if job.events.is_closed() {
            continue;
        }
        if let Err(Stopped::Failed(error)) = generate(loaded, &job, generated_tokens) {
            // Err: the reader gave up meanwhile; it has already answered its client.
            let _ = job.events.blocking_send(Err(error));
        }
    }
}

/// Why a generation ended before its `Finished`.
enum Stopped {
    /// The reader dropped its stream: nobody wants the rest.
    ReaderGone,
    Failed(EngineError),
}

impl From<EngineError> for Stopped {
    fn from(error: EngineError) -> Self {
        Stopped::Failed(error)
    }
}

/// Blocks until the reader has room (the channel is bounded); fails once it is gone.
fn send(events: &Sender, event: Generated) -> Result<(), Stopped> {
    events
        .blocking_send(Ok(event))
        .map_err(|_| Stopped::ReaderGone)
}

/// The prompt read into a fresh context, and how long the answer may be.
struct Prepared<'m> {
    context: LlamaContext<'m>,
    prompt_tokens: usize,
    room: u32,
}

fn prepare<'m>(loaded: &'m Loaded, input: &CompletionInput) -> Result<Prepared<'m>, EngineError> {
    let Loaded {
        model,
        template,
        settings,
    } = loaded;
    let prompt = render_prompt(model, template, &input.messages)?;
    let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
    let room = output_room(
        tokens.len(),
        settings.context_tokens,
        input.max_tokens.unwrap_or(FALLBACK_MAX_TOKENS),
    )?;
    let mut context = model
        .new_context(backend()?, context_params(settings))
        .map_err(|e| failed(format!("cannot create a context: {e}")))?;
    decode_prompt(&mut context, &tokens)?;
    Ok(Prepared {
        context,
        prompt_tokens: tokens.len(),
        room,
    })
}

/// The one token loop: each token's text goes to the reader as soon as it is whole UTF-8, with the
/// count of tokens so far, so a reader that stops knows exactly what it was given.
fn generate(loaded: &Loaded, job: &Job, generated_tokens: &AtomicU64) -> Result<(), Stopped> {
    let Prepared {
        mut context,
        prompt_tokens,
        room,
    } = prepare(loaded, &job.input)?;
    send(
        &job.events,
        Generated::Started {
            prompt_tokens: prompt_tokens as u64,
        },
    )?;
    let vocab = loaded.model.vocab();
    let mut sampler = sampler(job.input.temperature, job.input.top_p);
    let mut pieces = Utf8Pieces::default();
    let mut stops = StopScan::new(&job.input.stop);
    let mut stopped_by_sequence = false;
    let mut batch = LlamaBatch::new(1, 1);
    let mut tokens: u64 = 0;
    let room = u64::from(room);
    let reason = loop {
        if tokens >= room {
            break FinishReason::Length;
        }
        if job.events.is_closed() {
            return Err(Stopped::ReaderGone);
        }
        let token = sampler.sample(&context, -1);
        if vocab.is_eog(token) {
            break FinishReason::Stop;
        }
        tokens += 1;
        generated_tokens.fetch_add(1, Ordering::Relaxed);
        job.generated.store(tokens, Ordering::Relaxed);
        if let Some(text) = pieces.push(&vocab.token_to_piece(token, false, None)) {
            let (text, stopped) = stops.push(&text);
            if !text.is_empty() {
                send(&job.events, Generated::Piece { text, tokens })?;
            }
            if stopped {
                stopped_by_sequence = true;
                break FinishReason::Stop;
            }
        }
        // The last token allowed needs no decoding: nothing will be sampled after it.
        if tokens < room {
            let position = prompt_tokens as u64 + tokens - 1;
            decode_one(&mut context, &mut batch, token, position)?;
        }
    };
    if !stopped_by_sequence {
        let (mut text, stopped) = stops.push(&pieces.finish().unwrap_or_default());
        if !stopped {
            text.push_str(&stops.finish());
        }
        if !text.is_empty() {
            send(&job.events, Generated::Piece { text, tokens })?;
        }
    }
    send(&job.events, Generated::Finished { reason, tokens })
}

/// The in-process model is offered no tools (its prompt is the messages alone), so a request
/// that must call one is refused rather than answered with text.
fn refuse_forced_tools(input: &CompletionInput) -> Result<(), EngineError> {
    match input.tool_choice {
        ToolChoice::Auto => Ok(()),
        _ if input.tools.is_empty() => Ok(()),
        ToolChoice::Required | ToolChoice::Function(_) => Err(EngineError::Unsupported {
            param: "tool_choice",
            reason: "the in-process local model cannot call tools; use auto or none",
        }),
    }
}

/// The conversation in the model's own chat template, ending where the assistant speaks next.
fn render_prompt(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    messages: &[Message],
) -> Result<String, EngineError> {
    let chat = messages
        .iter()
        .map(|m| LlamaChatMessage::new(role_name(m.role).to_owned(), m.content.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| EngineError::InvalidRequest {
            message: "a message contains a NUL character".into(),
        })?;
    model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| failed(format!("the chat template failed: {e}")))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// How many tokens the answer may have: what was asked, cut to what the context has left.
fn output_room(prompt: usize, context: u32, asked: u32) -> Result<u32, EngineError> {
    let left = u64::from(context).saturating_sub(prompt as u64);
    if left == 0 {
        return Err(EngineError::ContextLength);
    }
    Ok(asked.min(u32::try_from(left).unwrap_or(u32::MAX)))
}

fn context_params(settings: &LlamaSettings) -> LlamaContextParams {
    let threads = i32::try_from(settings.threads).unwrap_or(1);
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(settings.context_tokens))
        // The whole prompt goes in one batch.
        .with_n_batch(settings.context_tokens)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
}

fn decode_prompt(context: &mut LlamaContext<'_>, tokens: &[LlamaToken]) -> Result<(), EngineError> {
    let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
    let last = tokens.len().saturating_sub(1);
    for (position, token) in tokens.iter().enumerate() {
        batch
            .add(*token, to_pos(position)?, &[0], position == last)
            .map_err(|e| failed(format!("cannot batch the prompt: {e}")))?;
    }
    context
        .decode(&mut batch)
        .map_err(|e| failed(format!("cannot read the prompt: {e}")))
}

fn decode_one(
    context: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch,
    token: LlamaToken,
    position: u64,
) -> Result<(), EngineError> {
    batch.clear();
    batch
        .add(token, to_pos(position)?, &[0], true)
        .map_err(|e| failed(format!("cannot batch a token: {e}")))?;
    context
        .decode(batch)
        .map_err(|e| failed(format!("generation failed: {e}")))
}

fn to_pos(position: impl TryInto<i32>) -> Result<i32, EngineError> {
    position.try_into().map_err(|_| EngineError::ContextLength)
}

/// Temperature 0 is greedy (repeatable, so `top_p` has nothing to cut); otherwise the usual
/// top-k / top-p / min-p chain, with the caller's `top_p` when it names one.
fn sampler(temperature: Option<f32>, top_p: Option<f32>) -> LlamaSampler {
    let temperature = temperature.unwrap_or(DEFAULT_TEMPERATURE);
    if temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    LlamaSampler::chain_simple([
        LlamaSampler::top_k(40),
        LlamaSampler::top_p(top_p.unwrap_or(DEFAULT_TOP_P), 1),
        LlamaSampler::min_p(0.05, 1),
        LlamaSampler::temp(temperature),
        LlamaSampler::dist(fastrand::u32(..)),
    ])
}

/// Small models ramble when sampled hot; SmolLM2's authors suggest a low temperature.
const DEFAULT_TEMPERATURE: f32 = 0.2;
const DEFAULT_TOP_P: f32 = 0.95;

fn failed(reason: String) -> EngineError {
    EngineError::LocalModelFailed { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_gets_what_was_asked_or_what_the_context_has_left() {
        assert_eq!(output_room(100, 4096, 256), Ok(256));
        assert_eq!(output_room(4000, 4096, 256), Ok(96));
        assert_eq!(
            output_room(4096, 4096, 256),
            Err(EngineError::ContextLength)
        );
        assert_eq!(
            output_room(5000, 4096, 256),
            Err(EngineError::ContextLength)
        );
    }

    #[test]
    fn roles_keep_their_chat_template_names() {
        assert_eq!(role_name(Role::System), "system");
        assert_eq!(role_name(Role::Tool), "tool");
    }
}
