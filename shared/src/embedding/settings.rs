//! Which model turns text into vectors for memory, and the vector size it produces. One per
//! deployment: it fixes the dimension of every stored embedding.

use std::path::PathBuf;

use super::EmbeddingProvider;
use crate::settings::{ConfigError, Sources, invalid, models_dir, parse_or};

pub const DEFAULT_LOCAL_EMBEDDING_MODEL: &str = "all-minilm-l6-v2";
pub const DEFAULT_OPENAI_EMBEDDING_MODEL: &str = "text-embedding-3-small";
pub const DEFAULT_BEDROCK_EMBEDDING_MODEL: &str = "amazon.titan-embed-text-v2:0";
/// pgvector's HNSW index takes `vector` columns of at most this many dimensions.
pub const MAX_INDEXED_DIMENSIONS: usize = 2000;

/// Which model turns text into vectors for memory. One per deployment: it fixes the vector
/// dimension of the stored embeddings.
#[derive(Debug, Clone)]
pub struct EmbeddingConfig {
    pub provider: EmbeddingProvider,
    pub model: String,
    pub dimensions: usize,
    /// What the model produces unasked (`dimensions` may ask for fewer).
    pub native_dimensions: usize,
    /// The local embedder's files (`model.safetensors`, `tokenizer.json`, `config.json`).
    pub local_model_dir: PathBuf,
}

impl EmbeddingConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let provider = match sources.get("HELIX_EMBEDDING_PROVIDER").map(str::trim) {
            None | Some("local") => EmbeddingProvider::Local,
            Some("openai") => EmbeddingProvider::OpenAi,
            Some("bedrock") => EmbeddingProvider::Bedrock,
            Some(_) => {
                return Err(invalid(
                    "HELIX_EMBEDDING_PROVIDER",
                    "expected local, openai or bedrock",
                ));
            }
        };
        let model = sources.get("HELIX_EMBEDDING_MODEL").map_or_else(
            || default_model(provider).to_owned(),
            |m| m.trim().to_owned(),
        );
        let native = native_dimensions(provider, &model).ok_or_else(|| {
            invalid(
                "HELIX_EMBEDDING_MODEL",
                format!("{model} is not an embedding model Helix knows for {provider}"),
            )
        })?;
        let dimensions = parse_or(sources, "HELIX_EMBEDDING_DIMENSIONS", native)?;
        check_dimensions(provider, &model, native, dimensions)?;
        Ok(EmbeddingConfig {
            provider,
            model,
            dimensions,
            native_dimensions: native,
            local_model_dir: sources.get("HELIX_EMBEDDING_MODEL_DIR").map_or_else(
                || models_dir(sources).join("all-minilm-l6-v2"),
                PathBuf::from,
            ),
        })
    }
}

fn default_model(provider: EmbeddingProvider) -> &'static str {
    match provider {
        EmbeddingProvider::Local => DEFAULT_LOCAL_EMBEDDING_MODEL,
        EmbeddingProvider::OpenAi => DEFAULT_OPENAI_EMBEDDING_MODEL,
        EmbeddingProvider::Bedrock => DEFAULT_BEDROCK_EMBEDDING_MODEL,
    }
}

/// The vector size each known model produces by default.
fn native_dimensions(provider: EmbeddingProvider, model: &str) -> Option<usize> {
    match (provider, model) {
        (EmbeddingProvider::Local, DEFAULT_LOCAL_EMBEDDING_MODEL) => Some(384),
        (EmbeddingProvider::OpenAi, "text-embedding-3-small") => Some(1536),
        (EmbeddingProvider::OpenAi, "text-embedding-3-large") => Some(3072),
        (EmbeddingProvider::Bedrock, DEFAULT_BEDROCK_EMBEDDING_MODEL) => Some(1024),
        _ => None,
    }
}

/// OpenAI's v3 models shorten on request; Titan v2 offers three sizes; MiniLM has one.
fn check_dimensions(
    provider: EmbeddingProvider,
    model: &str,
    native: usize,
    dimensions: usize,
) -> Result<(), ConfigError> {
    let allowed = match provider {
        EmbeddingProvider::Local => dimensions == native,
        EmbeddingProvider::OpenAi => (1..=native).contains(&dimensions),
        EmbeddingProvider::Bedrock => [256, 512, 1024].contains(&dimensions),
    };
    if !allowed {
        return Err(invalid(
            "HELIX_EMBEDDING_DIMENSIONS",
            format!("{model} cannot produce {dimensions}-dimensional vectors"),
        ));
    }
    if dimensions > MAX_INDEXED_DIMENSIONS {
        return Err(invalid(
            "HELIX_EMBEDDING_DIMENSIONS",
            format!(
                "{dimensions} is more than the {MAX_INDEXED_DIMENSIONS} dimensions pgvector can index; ask {model} for fewer"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_embedding_provider_has_a_default_model_and_dimension() {
        let cases = [
            (None, "all-minilm-l6-v2", 384),
            (Some("openai"), "text-embedding-3-small", 1536),
            (Some("bedrock"), "amazon.titan-embed-text-v2:0", 1024),
        ];
        for (provider, model, dimensions) in cases {
            let pairs: Vec<(&str, &str)> = provider
                .map(|p| vec![("HELIX_EMBEDDING_PROVIDER", p)])
                .unwrap_or_default();
            let config = EmbeddingConfig::from_sources(&Sources::from_pairs(&pairs)).unwrap();
            assert_eq!(
                (config.model.as_str(), config.dimensions),
                (model, dimensions)
            );
        }
    }

    #[test]
    fn embedding_dimensions_must_be_ones_the_model_can_produce_and_pgvector_index() {
        let ok = |pairs: &[(&str, &str)]| {
            EmbeddingConfig::from_sources(&Sources::from_pairs(pairs)).map(|c| c.dimensions)
        };
        assert_eq!(
            ok(&[
                ("HELIX_EMBEDDING_PROVIDER", "openai"),
                ("HELIX_EMBEDDING_DIMENSIONS", "512")
            ])
            .unwrap(),
            512
        );
        for pairs in [
            vec![("HELIX_EMBEDDING_DIMENSIONS", "512")],
            vec![
                ("HELIX_EMBEDDING_PROVIDER", "bedrock"),
                ("HELIX_EMBEDDING_DIMENSIONS", "300"),
            ],
            vec![
                ("HELIX_EMBEDDING_PROVIDER", "openai"),
                ("HELIX_EMBEDDING_MODEL", "text-embedding-3-large"),
            ],
        ] {
            let err = ok(&pairs).unwrap_err();
            assert!(
                err.to_string().contains("HELIX_EMBEDDING_DIMENSIONS"),
                "{err}"
            );
        }
        let err = ok(&[("HELIX_EMBEDDING_MODEL", "word2vec")]).unwrap_err();
        assert!(err.to_string().contains("HELIX_EMBEDDING_MODEL"), "{err}");
        let err = ok(&[("HELIX_EMBEDDING_PROVIDER", "cohere")]).unwrap_err();
        assert!(
            err.to_string().contains("HELIX_EMBEDDING_PROVIDER"),
            "{err}"
        );
    }
}
