//! all-MiniLM-L6-v2 in-process: a 6-layer BERT through candle, mean-pooled over the attention
//! mask and normalised, as sentence-transformers computes it (384 dimensions).
//!
//! The shipped tokenizer pads every input to 128 tokens and cuts at 128; both are replaced
//! (pad to the longest in the batch, cut at the model's 256), or the vectors come out wrong.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig, DTYPE};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

use super::{EmbedError, Embedder, EmbeddingProvider, Embeddings, checked};
use crate::engine::EngineError;

/// The longest input the model was trained on, in word pieces.
pub const MAX_TOKENS: usize = 256;
pub const DIMENSIONS: usize = 384;
/// Texts per forward pass: large enough to amortise, small enough to keep memory flat.
const BATCH: usize = 32;

pub struct MiniLmEmbedder {
    model_name: String,
    inner: Arc<Loaded>,
    /// One forward pass at a time: candle already spreads one over every core.
    running: Semaphore,
}

struct Loaded {
    model: BertModel,
    tokenizer: Tokenizer,
    /// The same vocabulary with no padding and no cut, for counting.
    counter: Tokenizer,
    device: Device,
}

impl MiniLmEmbedder {
    /// Loads `model.safetensors`, `tokenizer.json` and `config.json` from `dir` (off the runtime).
    pub async fn open(model_name: &str, dir: PathBuf) -> Result<Self, EngineError> {
        let loaded = tokio::task::spawn_blocking(move || load(&dir))
            .await
            .map_err(|e| EngineError::LocalModelFailed {
                reason: format!("loading the embedder stopped: {e}"),
            })??;
        Ok(MiniLmEmbedder {
            model_name: model_name.to_owned(),
            inner: Arc::new(loaded),
            running: Semaphore::new(1),
        })
    }
}

#[async_trait::async_trait]
impl Embedder for MiniLmEmbedder {
    fn provider(&self) -> EmbeddingProvider {
        EmbeddingProvider::Local
    }

    fn model(&self) -> &str {
        &self.model_name
    }

    fn dimensions(&self) -> usize {
        DIMENSIONS
    }

    /// The word pieces of `text` without [CLS]/[SEP] (and uncut: the truncation is bypassed).
    fn count_tokens(&self, text: &str) -> usize {
        match self.inner.counter.encode(text, false) {
            Ok(encoding) => encoding.len(),
            Err(_) => crate::memory::chunking::estimate_tokens(text),
        }
    }

    async fn embed(&self, texts: &[String]) -> Result<Embeddings, EmbedError> {
        let _turn = self
            .running
            .acquire()
            .await
            .map_err(|_| failed("the embedder has shut down".into()))?;
        let inner = Arc::clone(&self.inner);
        let texts = texts.to_vec();
        let (vectors, input_tokens) = tokio::task::spawn_blocking(move || {
            let mut vectors = Vec::with_capacity(texts.len());
            let mut tokens = 0;
            for batch in texts.chunks(BATCH) {
                let (batch_vectors, batch_tokens) = inner
                    .embed_batch(batch)
                    .map_err(|error| EmbedError::after(tokens, error))?;
                vectors.extend(batch_vectors);
                tokens += batch_tokens;
            }
            Ok::<_, EmbedError>((vectors, tokens))
        })
        .await
        .map_err(|e| failed(format!("embedding stopped: {e}")))??;
        let count = vectors.len();
        Ok(Embeddings {
            vectors: checked(vectors, count, DIMENSIONS)?,
            input_tokens,
        })
    }
}

impl Loaded {
    fn embed_batch(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, u64), EngineError> {
        if texts.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| failed(format!("tokenising failed: {e}")))?;
        let ids = stack(&self.device, encodings.iter().map(|e| e.get_ids()))?;
        let mask = stack(
            &self.device,
            encodings.iter().map(|e| e.get_attention_mask()),
        )?;
        let tokens: u64 = encodings
            .iter()
            .map(|e| {
                e.get_attention_mask()
                    .iter()
                    .map(|&m| u64::from(m))
                    .sum::<u64>()
            })
            .sum();
        let hidden = self
            .model
            .forward(&ids, &ids.zeros_like().map_err(tensor)?, Some(&mask))
            .map_err(tensor)?;
        let pooled = mean_pool(&hidden, &mask).map_err(tensor)?;
        Ok((pooled.to_vec2::<f32>().map_err(tensor)?, tokens))
    }
}

/// The average of the token vectors that are not padding.
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?;
    summed.broadcast_div(&counts)
}

fn stack<'a>(
    device: &Device,
    rows: impl Iterator<Item = &'a [u32]>,
) -> Result<Tensor, EngineError> {
    let rows = rows
        .map(|row| Tensor::new(row, device))
        .collect::<candle_core::Result<Vec<_>>>()
        .map_err(tensor)?;
    Tensor::stack(&rows, 0).map_err(tensor)
}

fn load(dir: &Path) -> Result<Loaded, EngineError> {
    let file = |name: &str| -> Result<PathBuf, EngineError> {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(EngineError::LocalModelUnavailable {
                reason: format!(
                    "no embedding model file at {} (run scripts/models or set HELIX_EMBEDDING_MODEL_DIR)",
                    path.display()
                ),
            })
        }
    };
    let unusable = |what: &str, e: &dyn std::fmt::Display| EngineError::LocalModelUnavailable {
        reason: format!("{what} in {} cannot be used: {e}", dir.display()),
    };
    let config: BertConfig = std::fs::read_to_string(file("config.json")?)
        .map_err(|e| unusable("config.json", &e))
        .and_then(|raw| serde_json::from_str(&raw).map_err(|e| unusable("config.json", &e)))?;
    let mut tokenizer = Tokenizer::from_file(file("tokenizer.json")?)
        .map_err(|e| unusable("tokenizer.json", &e))?;
    let mut counter = tokenizer.clone();
    counter.with_padding(None);
    counter
        .with_truncation(None)
        .map_err(|e| unusable("tokenizer.json", &e))?;
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..PaddingParams::default()
    }));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..TruncationParams::default()
        }))
        .map_err(|e| unusable("tokenizer.json", &e))?;
    let device = Device::Cpu;
    let weights =
        std::fs::read(file("model.safetensors")?).map_err(|e| unusable("model.safetensors", &e))?;
    let model = VarBuilder::from_buffered_safetensors(weights, DTYPE, &device)
        .and_then(|vb| BertModel::load(vb, &config))
        .map_err(|e| unusable("model.safetensors", &e))?;
    tracing::info!(path = %dir.display(), "local embedding model loaded");
    Ok(Loaded {
        model,
        tokenizer,
        counter,
        device,
    })
}

fn tensor(error: candle_core::Error) -> EngineError {
    failed(format!("the embedding model failed: {error}"))
}

fn failed(reason: String) -> EngineError {
    EngineError::LocalModelFailed { reason }
}
