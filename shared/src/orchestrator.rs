//! A turn's plan: the personality's system prompt before the conversation, its
//! defaults under the caller's overrides, and the tools it may offer (the whitelist's other half,
//! dropping calls to tools it does not allow, is in `pipeline::generation`). No HTTP here.

use crate::chat::{CompletionInput, Message, Role, ToolChoice};
use crate::personality::Personality;
use std::collections::HashSet;
use std::time::Duration;

use crate::settings::{ConfigError, Sources, duration_or, invalid, parse_or};
use crate::tools::ToolCatalog;

/// What the caller may change for one turn; `None` falls back to the personality's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("tool {0} is not allowed for this personality")]
    ToolNotAllowed(String),
    #[error("there is no tool named {0}")]
    UnknownTool(String),
}

/// The engine input for a turn, with the tools the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedTurn {
    pub input: CompletionInput,
    pub allowed_tools: Vec<String>,
}

/// Builds the engine input: system prompt first, then the conversation; defaults, then overrides;
/// the tools asked for (all whitelisted ones when none are named). No whitelist means no tools.
pub fn prepare_turn(
    personality: &Personality,
    conversation: Vec<Message>,
    overrides: Overrides,
    requested_tools: Option<&[String]>,
    catalog: &ToolCatalog,
    default_max_tokens: u32,
) -> Result<PreparedTurn, PlanError> {
    let allowed_tools = allowed_tools(personality, requested_tools, catalog)?;
    let tools = allowed_tools
        .iter()
        .filter_map(|name| catalog.get(name).cloned())
        .collect();
    let mut messages = Vec::with_capacity(conversation.len() + 1);
    messages.push(Message::new(Role::System, personality.system.clone()));
    messages.extend(conversation);
    Ok(PreparedTurn {
        input: CompletionInput {
            messages,
            tools,
            temperature: overrides.temperature.or(personality.defaults.temperature),
            max_tokens: Some(
                overrides
                    .max_tokens
                    .or(personality.defaults.max_tokens)
                    .unwrap_or(default_max_tokens),
            ),
            // A turn samples as the provider does by default and lets the model choose its tools.
            top_p: None,
            stop: Vec::new(),
            tool_choice: ToolChoice::Auto,
        },
        allowed_tools,
    })
}

/// The newest user message's text: what memory retrieval searches for.
pub fn latest_user_text(messages: &[Message]) -> Option<&str> {
    messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .filter(|text| !text.trim().is_empty())
}

/// Places retrieved memory right after the personality's system prompt, as a system message of
/// its own, so the model reads it as context rather than as something the user said.
pub fn add_context(turn: &mut PreparedTurn, block: String) {
    let at = usize::from(
        turn.input
            .messages
            .first()
            .is_some_and(|m| m.role == Role::System),
    );
    turn.input
        .messages
        .insert(at, Message::new(Role::System, block));
}

fn allowed_tools(
    personality: &Personality,
    requested: Option<&[String]>,
    catalog: &ToolCatalog,
) -> Result<Vec<String>, PlanError> {
    let Some(requested) = requested else {
        return Ok(personality.tool_whitelist.clone());
    };
    // A tool is offered once, however often it was asked for.
    let mut seen = HashSet::new();
    requested
        .iter()
        .filter(|name| seen.insert(name.as_str()))
        .map(|name| {
            if !catalog.contains(name) {
                Err(PlanError::UnknownTool(name.clone()))
            } else if !personality.tool_whitelist.contains(name) {
                Err(PlanError::ToolNotAllowed(name.clone()))
            } else {
                Ok(name.clone())
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct TurnsConfig {
    /// Output tokens asked for when neither the turn nor its personality says.
    pub default_max_tokens: u32,
    /// The longest silence in a streamed answer before a keep-alive comment: under API Gateway's
    /// and CloudFront's idle limits.
    pub stream_keep_alive: Duration,
}

impl TurnsConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let default_max_tokens = parse_or(sources, "HELIX_DEFAULT_MAX_TOKENS", 1024)?;
        if !(1..=32_768).contains(&default_max_tokens) {
            return Err(invalid("HELIX_DEFAULT_MAX_TOKENS", "must be 1 to 32768"));
        }
        let stream_keep_alive =
            duration_or(sources, "HELIX_STREAM_KEEP_ALIVE", Duration::from_secs(15))?;
        if !(Duration::from_millis(100)..=Duration::from_secs(15)).contains(&stream_keep_alive) {
            return Err(invalid(
                "HELIX_STREAM_KEEP_ALIVE",
                "must be 100ms to 15s (under CloudFront's 60 s between bytes)",
            ));
        }
        Ok(TurnsConfig {
            default_max_tokens,
            stream_keep_alive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::personality::{Defaults, PersonalityKind};

    fn personality(whitelist: &[&str]) -> Personality {
        Personality {
            id: "p".into(),
            label: "P".into(),
            avatar: None,
            kind: PersonalityKind::Preset,
            system: "Be brief.".into(),
            defaults: Defaults {
                temperature: Some(0.3),
                max_tokens: Some(500),
            },
            memory: None,
            tool_whitelist: whitelist.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn user(text: &str) -> Vec<Message> {
        vec![Message::new(Role::User, text)]
    }

    #[test]
    fn memory_context_goes_right_after_the_system_prompt() {
        let catalog = ToolCatalog::builtin();
        let conversation = vec![
            Message::new(Role::User, "Earlier question"),
            Message::new(Role::Assistant, "Earlier answer"),
            Message::new(Role::User, "How many leave days?"),
        ];
        let mut turn = prepare_turn(
            &personality(&[]),
            conversation,
            Overrides::default(),
            None,
            &catalog,
            100,
        )
        .unwrap();
        assert_eq!(
            latest_user_text(&turn.input.messages),
            Some("How many leave days?")
        );
        add_context(&mut turn, "<memory>…</memory>".into());
        let roles: Vec<Role> = turn.input.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::System,
                Role::User,
                Role::Assistant,
                Role::User
            ]
        );
        assert_eq!(turn.input.messages[0].content, "Be brief.");
        assert_eq!(turn.input.messages[1].content, "<memory>…</memory>");
        assert_eq!(
            latest_user_text(&[Message::new(Role::Assistant, "hi")]),
            None
        );
    }

    #[test]
    fn the_system_prompt_comes_first_and_defaults_apply() {
        let turn = prepare_turn(
            &personality(&[]),
            user("hi"),
            Overrides::default(),
            None,
            &ToolCatalog::builtin(),
            1024,
        )
        .unwrap();
        assert_eq!(
            turn.input.messages[0],
            Message::new(Role::System, "Be brief.")
        );
        assert_eq!(turn.input.messages[1], Message::new(Role::User, "hi"));
        assert_eq!(
            (turn.input.temperature, turn.input.max_tokens),
            (Some(0.3), Some(500))
        );
        assert!(turn.input.tools.is_empty(), "no whitelist, no tools");
    }

    #[test]
    fn overrides_win_over_defaults_and_the_config_default_fills_the_gap() {
        let overrides = Overrides {
            temperature: Some(0.9),
            max_tokens: Some(64),
        };
        let turn = prepare_turn(
            &personality(&[]),
            user("hi"),
            overrides,
            None,
            &ToolCatalog::builtin(),
            1024,
        )
        .unwrap();
        assert_eq!(
            (turn.input.temperature, turn.input.max_tokens),
            (Some(0.9), Some(64))
        );

        let mut bare = personality(&[]);
        bare.defaults = Defaults::default();
        let turn = prepare_turn(
            &bare,
            user("hi"),
            Overrides::default(),
            None,
            &ToolCatalog::builtin(),
            1024,
        )
        .unwrap();
        assert_eq!(
            (turn.input.temperature, turn.input.max_tokens),
            (None, Some(1024))
        );
    }

    #[test]
    fn the_whitelist_decides_which_tools_are_sent() {
        let catalog = ToolCatalog::builtin();
        let turn = prepare_turn(
            &personality(&["calculator"]),
            user("2+2"),
            Overrides::default(),
            None,
            &catalog,
            1024,
        )
        .unwrap();
        let names: Vec<&str> = turn.input.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["calculator"]);
    }

    #[test]
    fn a_tool_asked_for_twice_is_offered_once() {
        let catalog = ToolCatalog::builtin();
        let asked = vec!["calculator".to_owned(), "calculator".to_owned()];
        let turn = prepare_turn(
            &personality(&["calculator"]),
            user("2+2"),
            Overrides::default(),
            Some(&asked),
            &catalog,
            1024,
        )
        .unwrap();
        assert_eq!(turn.allowed_tools, ["calculator"]);
        assert_eq!(turn.input.tools.len(), 1);
    }

    #[test]
    fn asking_for_a_tool_outside_the_whitelist_is_refused_by_name() {
        let catalog = ToolCatalog::builtin();
        let asked = vec!["web_search".to_owned()];
        let error = prepare_turn(
            &personality(&["calculator"]),
            user("x"),
            Overrides::default(),
            Some(&asked),
            &catalog,
            1024,
        )
        .unwrap_err();
        assert_eq!(error, PlanError::ToolNotAllowed("web_search".into()));
        let unknown = vec!["launch_rockets".to_owned()];
        let error = prepare_turn(
            &personality(&["calculator"]),
            user("x"),
            Overrides::default(),
            Some(&unknown),
            &catalog,
            1024,
        )
        .unwrap_err();
        assert_eq!(error, PlanError::UnknownTool("launch_rockets".into()));
    }
}
