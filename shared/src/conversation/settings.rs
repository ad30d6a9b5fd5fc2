//! How much of a stored conversation a turn may send, and how long a conversation may grow.

use crate::settings::{ConfigError, Sources, invalid, parse_or};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationSettings {
    /// The most input tokens (Helix's upper bound, as reserved) a turn of a stored conversation
    /// sends; older turns are left out to stay under it (`HELIX_CONVERSATION_MAX_INPUT_TOKENS`).
    pub max_input_tokens: u64,
    /// The most messages one conversation keeps, every version counted
    /// (`HELIX_CONVERSATION_MAX_MESSAGES`).
    pub max_messages: i64,
}

impl ConversationSettings {
    pub const DEFAULT: ConversationSettings = ConversationSettings {
        max_input_tokens: 32_000,
        max_messages: 2_000,
    };

    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let max_input_tokens = parse_or(
            sources,
            "HELIX_CONVERSATION_MAX_INPUT_TOKENS",
            Self::DEFAULT.max_input_tokens,
        )?;
        if !(1_000..=10_000_000).contains(&max_input_tokens) {
            return Err(invalid(
                "HELIX_CONVERSATION_MAX_INPUT_TOKENS",
                "must be 1000 to 10000000",
            ));
        }
        let max_messages = parse_or(
            sources,
            "HELIX_CONVERSATION_MAX_MESSAGES",
            Self::DEFAULT.max_messages,
        )?;
        if !(2..=100_000).contains(&max_messages) {
            return Err(invalid(
                "HELIX_CONVERSATION_MAX_MESSAGES",
                "must be 2 to 100000",
            ));
        }
        Ok(ConversationSettings {
            max_input_tokens,
            max_messages,
        })
    }
}

impl Default for ConversationSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}
