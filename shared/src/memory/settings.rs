//! How documents are cut for memory, and how large they may be: bounded by what the deployment's
//! embedding model can read.

use crate::embedding::EmbeddingProvider;
use crate::embedding::settings::EmbeddingConfig;
use crate::settings::{ConfigError, Sources, invalid, parse_or};

/// How documents are cut for memory, and how large they may be.
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    pub chunk_tokens: usize,
    pub overlap_tokens: usize,
    /// A larger document is refused with 413.
    pub max_document_bytes: usize,
}

/// MiniLM reads 256 word pieces, two of them [CLS] and [SEP]; longer chunks would be cut unseen.
const LOCAL_MAX_CHUNK_TOKENS: usize = 254;

impl MemoryConfig {
    pub fn from_sources(
        sources: &Sources,
        embeddings: &EmbeddingConfig,
    ) -> Result<Self, ConfigError> {
        let config = MemoryConfig {
            chunk_tokens: parse_or(sources, "HELIX_MEMORY_CHUNK_TOKENS", 200)?,
            overlap_tokens: parse_or(sources, "HELIX_MEMORY_CHUNK_OVERLAP", 40)?,
            max_document_bytes: parse_or(sources, "HELIX_MEMORY_MAX_DOCUMENT_BYTES", 256 * 1024)?,
        };
        let ceiling = match embeddings.provider {
            EmbeddingProvider::Local => LOCAL_MAX_CHUNK_TOKENS,
            // OpenAI and Titan v2 take 8k tokens; smaller chunks retrieve more precisely anyway.
            EmbeddingProvider::OpenAi | EmbeddingProvider::Bedrock => 2_000,
        };
        if !(16..=ceiling).contains(&config.chunk_tokens) {
            return Err(invalid(
                "HELIX_MEMORY_CHUNK_TOKENS",
                format!("must be 16 to {ceiling} for {}", embeddings.model),
            ));
        }
        if config.overlap_tokens > config.chunk_tokens / 2 {
            return Err(invalid(
                "HELIX_MEMORY_CHUNK_OVERLAP",
                "must be at most half of HELIX_MEMORY_CHUNK_TOKENS",
            ));
        }
        if !(1..=16 * 1024 * 1024).contains(&config.max_document_bytes) {
            return Err(invalid(
                "HELIX_MEMORY_MAX_DOCUMENT_BYTES",
                "must be 1 to 16777216",
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_must_fit_the_embedding_model() {
        let local = EmbeddingConfig::from_sources(&Sources::from_pairs(&[])).unwrap();
        assert_eq!(
            MemoryConfig::from_sources(&Sources::from_pairs(&[]), &local)
                .unwrap()
                .chunk_tokens,
            200
        );
        for (key, value) in [
            ("HELIX_MEMORY_CHUNK_TOKENS", "300"),
            ("HELIX_MEMORY_CHUNK_OVERLAP", "150"),
            ("HELIX_MEMORY_MAX_DOCUMENT_BYTES", "0"),
        ] {
            let err = MemoryConfig::from_sources(&Sources::from_pairs(&[(key, value)]), &local)
                .unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
        let openai = EmbeddingConfig::from_sources(&Sources::from_pairs(&[(
            "HELIX_EMBEDDING_PROVIDER",
            "openai",
        )]))
        .unwrap();
        let config = MemoryConfig::from_sources(
            &Sources::from_pairs(&[("HELIX_MEMORY_CHUNK_TOKENS", "800")]),
            &openai,
        )
        .unwrap();
        assert_eq!(config.chunk_tokens, 800);
    }
}
