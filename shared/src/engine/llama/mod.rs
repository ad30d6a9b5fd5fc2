//! The `local` provider with no server to call: a GGUF chat model run in-process by llama.cpp.
//!
//! Inference is CPU-bound and would starve the async runtime, so one worker thread owns the model
//! and takes jobs from a bounded queue. A full queue answers 429 at once instead of growing an
//! unbounded wait; a caller that gave up (its request was dropped) stops its generation early.

use std::num::NonZeroU32;
use std::path::PathBuf;
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

use super::{Engine, EngineError};
use crate::chat::{Completion, CompletionInput, Message, Role};
use crate::usage::Usage;

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

/// A cheap handle on the worker thread; clones share it.
#[derive(Clone)]
pub struct LlamaEngine {
    model_name: Arc<str>,
    jobs: mpsc::Sender<Job>,
}

struct Job {
    input: CompletionInput,
    reply: oneshot::Sender<Result<Completion, EngineError>>,
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
        std::thread::Builder::new()
            .name("helix-llama".into())
            .spawn(move || match load(settings) {
                Ok(loaded) => {
                    // The opener always waits for this answer, so the send cannot fail.
                    let _ = ready.send(Ok(()));
                    serve(&loaded, queue);
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                }
            })
            .map_err(|e| failed(format!("cannot start the model thread: {e}")))?;
        loaded
            .await
            .map_err(|_| failed("the model thread stopped while loading".into()))??;
        Ok(LlamaEngine { model_name, jobs })
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
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
        let (reply, answer) = oneshot::channel();
        let job = Job {
            input: input.clone(),
            reply,
        };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(1)),
            },
            mpsc::error::TrySendError::Closed(_) => failed("the model thread has stopped".into()),
        })?;
        answer
            .await
            .map_err(|_| failed("the model thread dropped the turn".into()))?
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

fn serve(loaded: &Loaded, mut queue: mpsc::Receiver<Job>) {
    while let Some(job) = queue.blocking_recv() {
        if job.reply.is_closed() {
            continue;
        }
        let result = generate(loaded, &job);
        // Err means the caller gave up meanwhile; it has already answered its client.
        let _ = job.reply.send(result);
    }
}

fn generate(loaded: &Loaded, job: &Job) -> Result<Completion, EngineError> {
    let Loaded {
        model,
        template,
        settings,
    } = loaded;
    let prompt = render_prompt(model, template, &job.input.messages)?;
    let prompt_tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
    let room = output_room(
        prompt_tokens.len(),
        settings.context_tokens,
        job.input.max_tokens.unwrap_or(FALLBACK_MAX_TOKENS),
    )?;
    let mut context = model
        .new_context(backend()?, context_params(settings))
        .map_err(|e| failed(format!("cannot create a context: {e}")))?;
    decode_prompt(&mut context, &prompt_tokens)?;

    let mut sampler = sampler(job.input.temperature);
    let vocab = model.vocab();
    let mut text = Vec::new();
    let mut generated: u64 = 0;
    let mut position = prompt_tokens.len();
    let mut batch = LlamaBatch::new(1, 1);
    while generated < u64::from(room) && !job.reply.is_closed() {
        let token = sampler.sample(&context, -1);
        if vocab.is_eog(token) {
            break;
        }
        text.extend(vocab.token_to_piece(token, false, None));
        generated += 1;
        decode_one(&mut context, &mut batch, token, position)?;
        position += 1;
    }
    Ok(Completion {
        text: String::from_utf8_lossy(&text).trim().to_owned(),
        usage: Some(Usage {
            input_tokens: prompt_tokens.len() as u64,
            output_tokens: generated,
            cached_input_tokens: 0,
        }),
        tool_calls: Vec::new(),
    })
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
    position: usize,
) -> Result<(), EngineError> {
    batch.clear();
    batch
        .add(token, to_pos(position)?, &[0], true)
        .map_err(|e| failed(format!("cannot batch a token: {e}")))?;
    context
        .decode(batch)
        .map_err(|e| failed(format!("generation failed: {e}")))
}

fn to_pos(position: usize) -> Result<i32, EngineError> {
    i32::try_from(position).map_err(|_| EngineError::ContextLength)
}

/// Temperature 0 is greedy (repeatable); otherwise the usual top-k / top-p / min-p chain.
fn sampler(temperature: Option<f32>) -> LlamaSampler {
    let temperature = temperature.unwrap_or(DEFAULT_TEMPERATURE);
    if temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    LlamaSampler::chain_simple([
        LlamaSampler::top_k(40),
        LlamaSampler::top_p(0.95, 1),
        LlamaSampler::min_p(0.05, 1),
        LlamaSampler::temp(temperature),
        LlamaSampler::dist(fastrand::u32(..)),
    ])
}

/// Small models ramble when sampled hot; SmolLM2's authors suggest a low temperature.
const DEFAULT_TEMPERATURE: f32 = 0.2;

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
