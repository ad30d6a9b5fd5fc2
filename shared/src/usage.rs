//! Tokens a call used, as the provider reports them: what every cost is computed from.

use serde::{Deserialize, Serialize};

/// Token counts as the provider reports them. `cached_input_tokens` is the part of
/// `input_tokens` served from the provider's prompt cache (priced lower).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cached_input_tokens: u64,
}
