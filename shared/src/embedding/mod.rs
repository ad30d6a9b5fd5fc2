//! Embedders turn text into vectors for memory. One trait, three implementations: the in-process
//! all-MiniLM-L6-v2 (`local`, behind the `local-embeddings` feature), OpenAI's embeddings API and
//! Amazon Titan on Bedrock. Failures are [`EngineError`]s, so they map to HTTP like model calls.

#[cfg(feature = "local-embeddings")]
pub mod local;
pub mod openai;
pub mod registry;
pub mod settings;
pub mod titan;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::engine::EngineError;

/// Who computes the vectors. `local` runs in the Helix process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingProvider {
    Local,
    OpenAi,
    Bedrock,
}

impl EmbeddingProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingProvider::Local => "local",
            EmbeddingProvider::OpenAi => "openai",
            EmbeddingProvider::Bedrock => "bedrock",
        }
    }
}

impl fmt::Display for EmbeddingProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Vectors in the order of the texts, each of the embedder's dimension and unit length, and the
/// input tokens the provider counted (what it charges for).
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

/// An embedding call that failed part-way: the error, and the input tokens of the batches the
/// provider had already embedded (and billed) before it, which are charged all the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct EmbedError {
    #[source]
    pub error: EngineError,
    pub billed_input_tokens: u64,
}

impl EmbedError {
    pub fn after(billed_input_tokens: u64, error: EngineError) -> Self {
        EmbedError {
            error,
            billed_input_tokens,
        }
    }
}

impl From<EngineError> for EmbedError {
    fn from(error: EngineError) -> Self {
        EmbedError::after(0, error)
    }
}

#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    fn provider(&self) -> EmbeddingProvider;
    fn model(&self) -> &str;
    fn dimensions(&self) -> usize;
    /// Embeds every text; batching to the provider's limits is the embedder's business, and so is
    /// counting what the batches before a failure used.
    async fn embed(&self, texts: &[String]) -> Result<Embeddings, EmbedError>;
    /// Tokens of `text` as this model counts them, for sizing chunks; an upper estimate when the
    /// tokenizer is not at hand.
    fn count_tokens(&self, text: &str) -> usize {
        crate::memory::chunking::estimate_tokens(text)
    }
}

/// Checks a provider's answer: one vector per text, each of the promised size, then scales each
/// to unit length so cosine distance is comparable across providers.
fn checked(
    vectors: Vec<Vec<f32>>,
    expected_count: usize,
    dimensions: usize,
) -> Result<Vec<Vec<f32>>, EngineError> {
    if vectors.len() != expected_count {
        return Err(EngineError::Malformed {
            detail: format!("{} vectors for {expected_count} texts", vectors.len()),
        });
    }
    vectors
        .into_iter()
        .map(|vector| {
            if vector.len() != dimensions {
                return Err(EngineError::Malformed {
                    detail: format!(
                        "a {}-dimensional vector where {dimensions} were expected",
                        vector.len()
                    ),
                });
            }
            Ok(normalised(vector))
        })
        .collect()
}

fn normalised(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Cosine similarity of two vectors of the same length (1 = same direction).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norms =
        a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norms == 0.0 { 0.0 } else { dot / norms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_for_count_and_size_then_made_unit_length() {
        let vectors = checked(vec![vec![3.0, 4.0], vec![0.0, 2.0]], 2, 2).unwrap();
        assert_eq!(vectors, vec![vec![0.6, 0.8], vec![0.0, 1.0]]);
        assert!(checked(vec![vec![1.0, 0.0]], 2, 2).is_err());
        assert!(checked(vec![vec![1.0, 0.0, 0.0]], 1, 2).is_err());
    }

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
