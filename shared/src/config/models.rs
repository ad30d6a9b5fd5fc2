//! Settings of the in-process models and of the one embedding model a deployment uses.

use std::path::PathBuf;

use super::{ConfigError, Sources, invalid, parse_or};
use crate::embedding::EmbeddingProvider;

/// The `local` provider's in-process chat model (used when `HELIX_LOCAL_BASE_URL` is not set).
#[derive(Debug, Clone)]
pub struct LocalChatConfig {
    /// The model name agents use for it.
    pub model: String,
    pub model_path: PathBuf,
    pub threads: u32,
    pub context_tokens: u32,
    /// Turns that may wait for the model before new ones get a 429.
    pub queue: usize,
}

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

pub(super) fn memory(
    sources: &Sources,
    embeddings: &EmbeddingConfig,
) -> Result<MemoryConfig, ConfigError> {
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

pub const DEFAULT_LOCAL_CHAT_MODEL: &str = "smollm2-135m-instruct";
pub const DEFAULT_LOCAL_EMBEDDING_MODEL: &str = "all-minilm-l6-v2";
pub const DEFAULT_OPENAI_EMBEDDING_MODEL: &str = "text-embedding-3-small";
pub const DEFAULT_BEDROCK_EMBEDDING_MODEL: &str = "amazon.titan-embed-text-v2:0";
/// pgvector's HNSW index takes `vector` columns of at most this many dimensions.
pub const MAX_INDEXED_DIMENSIONS: usize = 2000;

/// `HELIX_MODELS_DIR`, where `scripts/models` puts the files (default `models`, from the cwd).
fn models_dir(sources: &Sources) -> PathBuf {
    PathBuf::from(sources.get("HELIX_MODELS_DIR").unwrap_or("models"))
}

pub(super) fn local_chat(sources: &Sources) -> Result<LocalChatConfig, ConfigError> {
    let models = models_dir(sources);
    let config = LocalChatConfig {
        model: sources
            .get("HELIX_LOCAL_MODEL")
            .unwrap_or(DEFAULT_LOCAL_CHAT_MODEL)
            .trim()
            .to_owned(),
        model_path: sources.get("HELIX_LOCAL_MODEL_PATH").map_or_else(
            || models.join("smollm2-135m-instruct/model.gguf"),
            PathBuf::from,
        ),
        threads: parse_or(sources, "HELIX_LOCAL_THREADS", default_threads(sources))?,
        context_tokens: parse_or(sources, "HELIX_LOCAL_CONTEXT_TOKENS", 4096)?,
        queue: parse_or(sources, "HELIX_LOCAL_QUEUE", 16)?,
    };
    if !(1..=64).contains(&config.threads) {
        return Err(invalid("HELIX_LOCAL_THREADS", "must be 1 to 64"));
    }
    if !(256..=131_072).contains(&config.context_tokens) {
        return Err(invalid(
            "HELIX_LOCAL_CONTEXT_TOKENS",
            "must be 256 to 131072",
        ));
    }
    if !(1..=1024).contains(&config.queue) {
        return Err(invalid("HELIX_LOCAL_QUEUE", "must be 1 to 1024"));
    }
    Ok(config)
}

/// One thread on CI; elsewhere half the cores, up to 4. llama.cpp's threads spin while they wait,
/// so taking every core collapses throughput (seen here: 2 threads on 2 busy cores ran at a tenth
/// of 1 thread's speed).
fn default_threads(sources: &Sources) -> u32 {
    if sources.get("CI").is_some_and(|ci| ci != "false") {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4) as u32)
}

pub(super) fn embeddings(sources: &Sources) -> Result<EmbeddingConfig, ConfigError> {
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
    use std::collections::HashMap;

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        let layer: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Sources::default().with_layer(layer)
    }

    #[test]
    fn the_local_chat_model_defaults_to_smollm2_in_the_models_folder() {
        let config = local_chat(&sources(&[("CI", "true")])).unwrap();
        assert_eq!(config.model, "smollm2-135m-instruct");
        assert_eq!(
            config.model_path,
            PathBuf::from("models/smollm2-135m-instruct/model.gguf")
        );
        assert_eq!(config.threads, 1, "one thread on CI");
        let config = local_chat(&sources(&[
            ("HELIX_MODELS_DIR", "/opt/m"),
            ("HELIX_LOCAL_THREADS", "3"),
        ]))
        .unwrap();
        assert_eq!(
            config.model_path,
            PathBuf::from("/opt/m/smollm2-135m-instruct/model.gguf")
        );
        assert_eq!(config.threads, 3);
    }

    #[test]
    fn local_chat_settings_out_of_range_are_refused_by_name() {
        for (key, value) in [
            ("HELIX_LOCAL_THREADS", "0"),
            ("HELIX_LOCAL_CONTEXT_TOKENS", "16"),
            ("HELIX_LOCAL_QUEUE", "0"),
            ("HELIX_LOCAL_QUEUE", "many"),
        ] {
            let err = local_chat(&sources(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
    }

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
            let config = embeddings(&sources(&pairs)).unwrap();
            assert_eq!(
                (config.model.as_str(), config.dimensions),
                (model, dimensions)
            );
        }
    }

    #[test]
    fn chunk_sizes_must_fit_the_embedding_model() {
        let local = embeddings(&sources(&[])).unwrap();
        assert_eq!(memory(&sources(&[]), &local).unwrap().chunk_tokens, 200);
        for (key, value) in [
            ("HELIX_MEMORY_CHUNK_TOKENS", "300"),
            ("HELIX_MEMORY_CHUNK_OVERLAP", "150"),
            ("HELIX_MEMORY_MAX_DOCUMENT_BYTES", "0"),
        ] {
            let err = memory(&sources(&[(key, value)]), &local).unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
        let openai = embeddings(&sources(&[("HELIX_EMBEDDING_PROVIDER", "openai")])).unwrap();
        let config = memory(&sources(&[("HELIX_MEMORY_CHUNK_TOKENS", "800")]), &openai).unwrap();
        assert_eq!(config.chunk_tokens, 800);
    }

    #[test]
    fn embedding_dimensions_must_be_ones_the_model_can_produce_and_pgvector_index() {
        let ok = |pairs: &[(&str, &str)]| embeddings(&sources(pairs)).map(|c| c.dimensions);
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
