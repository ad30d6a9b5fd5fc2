//! The wire shapes of /v1/personas and the checks that turn a request body into values Helix
//! stores: every 400 names its field, and text is stored trimmed.

use chrono::{DateTime, Utc};
use helix_shared::ApiError;
use helix_shared::db::personas::PersonaRow;
use helix_shared::personality::MemorySettings;
use serde::{Deserialize, Serialize};

/// The same limits as the `personas_name_length` and `personas_prompt_length` constraints.
pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_PROMPT_CHARS: usize = 32_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePersona {
    pub name: String,
    pub prompt: String,
    /// Retrieval from the user's memory for this persona's turns.
    #[serde(default)]
    pub memory: Option<MemorySettings>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePersona {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub memory: Option<MemorySettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvatarUploadRequest {
    pub content_type: String,
    pub content_length: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A persona as its owner sees it. `avatar_url` is a short-lived presigned URL, never the S3 key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonaView {
    pub id: String,
    pub name: String,
    pub prompt: String,
    pub avatar_url: Option<String>,
    pub memory: Option<MemorySettings>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PersonaView {
    pub fn new(row: PersonaRow, avatar_url: Option<String>) -> Self {
        PersonaView {
            id: row.id,
            name: row.name,
            prompt: row.prompt,
            avatar_url,
            memory: row.memory.map(|m| m.0),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonaPage {
    pub personas: Vec<PersonaView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl CreatePersona {
    /// The trimmed name and prompt.
    pub fn validate(&self) -> Result<(&str, &str), ApiError> {
        valid_memory(self.memory.as_ref())?;
        Ok((valid_name(&self.name)?, valid_prompt(&self.prompt)?))
    }
}

impl UpdatePersona {
    /// The trimmed name and/or prompt; at least one must be given.
    pub fn validate(&self) -> Result<(Option<&str>, Option<&str>), ApiError> {
        if self.name.is_none() && self.prompt.is_none() && self.memory.is_none() {
            return Err(ApiError::bad_request(
                "body: must set at least one of name, prompt and memory",
            ));
        }
        valid_memory(self.memory.as_ref())?;
        let name = self.name.as_deref().map(valid_name).transpose()?;
        let prompt = self.prompt.as_deref().map(valid_prompt).transpose()?;
        Ok((name, prompt))
    }
}

fn valid_memory(memory: Option<&MemorySettings>) -> Result<(), ApiError> {
    match memory.and_then(MemorySettings::problem) {
        Some(problem) => Err(ApiError::bad_request(problem)),
        None => Ok(()),
    }
}

pub fn valid_name(raw: &str) -> Result<&str, ApiError> {
    within_chars("name", raw, MAX_NAME_CHARS)
}

pub fn valid_prompt(raw: &str) -> Result<&str, ApiError> {
    within_chars("prompt", raw, MAX_PROMPT_CHARS)
}

/// Counted in characters, as Postgres' `char_length` counts them, after trimming (so blank is
/// empty).
fn within_chars<'a>(field: &str, raw: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let value = raw.trim();
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(ApiError::bad_request(format!(
            "{field}: must be 1 to {max} characters"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    // Each includer uses only some of the helpers.
    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }
    use openapi_schema::{keys, schema as spec_schema, strings};

    fn message(error: ApiError) -> String {
        error.to_string()
    }

    #[test]
    fn names_and_prompts_are_trimmed() {
        let request = CreatePersona {
            name: "  Pirate ".into(),
            prompt: "\nTalk like a pirate.\n".into(),
            memory: None,
        };
        assert_eq!(
            request.validate().unwrap(),
            ("Pirate", "Talk like a pirate.")
        );
    }

    #[test]
    fn blank_or_overlong_text_is_refused_naming_its_field() {
        assert_eq!(
            message(valid_name("   ").unwrap_err()),
            "name: must be 1 to 80 characters"
        );
        assert!(valid_name(&"é".repeat(80)).is_ok(), "characters, not bytes");
        assert!(valid_name(&"x".repeat(81)).is_err());
        assert_eq!(
            message(valid_prompt("").unwrap_err()),
            "prompt: must be 1 to 32000 characters"
        );
        assert!(valid_prompt(&"x".repeat(32_001)).is_err());
    }

    #[test]
    fn an_update_must_change_something() {
        let error = UpdatePersona::default().validate().unwrap_err();
        assert!(message(error).contains("name, prompt"));
        let rename = UpdatePersona {
            name: Some(" New ".into()),
            prompt: None,
            memory: None,
        };
        assert_eq!(rename.validate().unwrap(), (Some("New"), None));
    }

    #[test]
    fn memory_settings_are_checked() {
        let bad: UpdatePersona =
            serde_json::from_value(serde_json::json!({"memory": {"enabled": true, "k": 99}}))
                .unwrap();
        assert!(message(bad.validate().unwrap_err()).contains("memory.k"));
        let good: UpdatePersona =
            serde_json::from_value(serde_json::json!({"memory": {"enabled": true}})).unwrap();
        assert_eq!(good.validate().unwrap(), (None, None));
    }

    fn memory() -> MemorySettings {
        MemorySettings {
            enabled: true,
            k: 4,
            min_score: 0.3,
        }
    }

    #[test]
    fn the_openapi_persona_lists_exactly_the_fields_helix_sends() {
        let view = PersonaView {
            id: String::new(),
            name: String::new(),
            prompt: String::new(),
            avatar_url: None,
            memory: Some(memory()),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let sent = serde_json::to_value(view).unwrap();
        let schema = spec_schema("Persona");
        assert_eq!(keys(&sent), strings(&schema["required"]));
        assert_eq!(keys(&schema["properties"]), keys(&sent));
        // A persona's settings always carry k and min_score, defaulted or not.
        let settings = spec_schema("MemorySettings");
        assert_eq!(keys(&sent["memory"]), keys(&settings["properties"]));
        let view_requires = &schema["properties"]["memory"]["anyOf"][0]["allOf"][1]["required"];
        assert_eq!(keys(&sent["memory"]), strings(view_requires));
        assert_eq!(
            strings(&settings["required"]),
            BTreeSet::from(["enabled".into()])
        );
    }

    #[test]
    fn the_openapi_persona_requests_list_exactly_the_fields_helix_reads() {
        let create = CreatePersona {
            name: String::new(),
            prompt: String::new(),
            memory: Some(memory()),
        };
        let create = serde_json::to_value(create).unwrap();
        assert_eq!(
            keys(&create),
            keys(&spec_schema("CreatePersona")["properties"])
        );
        let update = serde_json::to_value(UpdatePersona::default()).unwrap();
        assert_eq!(
            keys(&update),
            keys(&spec_schema("UpdatePersona")["properties"])
        );
    }
}
