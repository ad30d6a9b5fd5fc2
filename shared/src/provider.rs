//! The model providers Helix talks to, by the ids the API, the ledger and the logs use.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The model providers Helix talks to. `local` is any OpenAI-compatible server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    OpenAi,
    Anthropic,
    Bedrock,
    Local,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::OpenAi,
        Provider::Anthropic,
        Provider::Bedrock,
        Provider::Local,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Bedrock => "bedrock",
            Provider::Local => "local",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Provider::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
