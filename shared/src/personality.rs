//! Personalities: the presets shipped with Helix (JSON files embedded at build, validated at start)
//! and users' own personas, both handed to the orchestrator as one `Personality`.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::settings::{ConfigError, Sources, invalid, parse_or};
use crate::tools::ToolCatalog;

/// The preset a conversation gets when the user has not picked one.
pub const DEFAULT_PRESET_ID: &str = "helix-assistant";

/// Listed by hand rather than globbed, so shipping a preset is a deliberate, reviewed change.
const PRESET_SOURCES: [(&str, &str); 5] = [
    (
        "helix-assistant.json",
        include_str!("../personalities/helix-assistant.json"),
    ),
    (
        "code-reviewer.json",
        include_str!("../personalities/code-reviewer.json"),
    ),
    (
        "concise-analyst.json",
        include_str!("../personalities/concise-analyst.json"),
    ),
    (
        "writing-editor.json",
        include_str!("../personalities/writing-editor.json"),
    ),
    (
        "research-helper.json",
        include_str!("../personalities/research-helper.json"),
    ),
];

// The label and system limits match the personas table, so a preset and a persona fit the same UI.
const MAX_LABEL_CHARS: usize = 80;
const MAX_SYSTEM_CHARS: usize = 32_000;
const MAX_AVATAR_CHARS: usize = 200;
const SLUG_LENGTH: RangeInclusive<usize> = 2..=63;
const TEMPERATURE_RANGE: RangeInclusive<f32> = 0.0..=2.0;
const MAX_TOKENS_RANGE: RangeInclusive<u32> = 1..=32_768;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonalityKind {
    Preset,
    Persona,
}

/// Sampling settings a personality suggests; the request may still override them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// Long-term memory for a personality's turns: the `k` most similar chunks with a cosine
/// similarity of at least `min_score` are placed into the context.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySettings {
    pub enabled: bool,
    #[serde(default = "default_memory_k")]
    pub k: u32,
    #[serde(default = "default_min_score")]
    pub min_score: f32,
}

fn default_memory_k() -> u32 {
    4
}

fn default_min_score() -> f32 {
    0.3
}

pub const MEMORY_K_RANGE: RangeInclusive<u32> = 1..=20;
pub const MEMORY_MIN_SCORE_RANGE: RangeInclusive<f32> = -1.0..=1.0;

impl MemorySettings {
    /// The reason the settings are unusable, if they are.
    pub fn problem(&self) -> Option<String> {
        if !MEMORY_K_RANGE.contains(&self.k) {
            return Some(format!(
                "memory.k must be {} to {}",
                MEMORY_K_RANGE.start(),
                MEMORY_K_RANGE.end()
            ));
        }
        if !MEMORY_MIN_SCORE_RANGE.contains(&self.min_score) {
            return Some("memory.min_score must be a cosine similarity, -1 to 1".into());
        }
        None
    }
}

/// What the orchestrator needs of a personality, whichever kind it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Personality {
    pub id: String,
    pub label: String,
    pub avatar: Option<String>,
    pub kind: PersonalityKind,
    pub system: String,
    pub defaults: Defaults,
    pub tool_whitelist: Vec<String>,
    /// Retrieval from the user's memory; `None` means off.
    pub memory: Option<MemorySettings>,
}

impl Personality {
    /// A user's own persona: its prompt is the system prompt; no defaults; no tools.
    pub fn from_persona(
        id: String,
        name: String,
        prompt: String,
        avatar_url: Option<String>,
        memory: Option<MemorySettings>,
    ) -> Self {
        Personality {
            id,
            label: name,
            avatar: avatar_url,
            kind: PersonalityKind::Persona,
            system: prompt,
            defaults: Defaults::default(),
            tool_whitelist: Vec::new(),
            memory,
        }
    }
}

/// How many personas one user may keep: each is a row and a picker entry of their own, free to
/// make, so the count is capped (`GET /v1/personalities` lists them all, so this bounds it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonasConfig {
    pub max_per_user: u32,
}

impl PersonasConfig {
    pub const DEFAULT_MAX_PER_USER: u32 = 200;

    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let key = "HELIX_MAX_PERSONAS_PER_USER";
        let max_per_user = parse_or(sources, key, Self::DEFAULT_MAX_PER_USER)?;
        if !(1..=10_000).contains(&max_per_user) {
            return Err(invalid(key, "must be 1 to 10000"));
        }
        Ok(PersonasConfig { max_per_user })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PresetError {
    #[error("personality preset {file}: {reason}")]
    Invalid { file: String, reason: String },
}

/// The presets shipped with Helix, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Presets {
    /// Ordered by id so the picker lists them the same way every time.
    by_id: BTreeMap<String, Personality>,
}

impl Presets {
    /// The preset files embedded in the binary, checked against `tools`.
    pub fn builtin(tools: &ToolCatalog) -> Result<Self, PresetError> {
        Self::from_sources(&PRESET_SOURCES, tools)
    }

    /// Presets from `(file name, JSON text)` pairs; the first invalid one fails the whole set, so a
    /// broken preset stops a deploy instead of vanishing from the picker.
    pub fn from_sources(
        sources: &[(&str, &str)],
        tools: &ToolCatalog,
    ) -> Result<Self, PresetError> {
        let mut by_id = BTreeMap::new();
        for &(file, json) in sources {
            let invalid = |reason| PresetError::Invalid {
                file: file.to_owned(),
                reason,
            };
            let preset = parse_preset(file, json, tools).map_err(invalid)?;
            if by_id.contains_key(&preset.id) {
                return Err(invalid(format!(
                    "id {:?} is used by another preset",
                    preset.id
                )));
            }
            by_id.insert(preset.id.clone(), preset);
        }
        Ok(Presets { by_id })
    }

    pub fn get(&self, id: &str) -> Option<&Personality> {
        self.by_id.get(id)
    }

    /// Every preset, ordered by id.
    pub fn all(&self) -> impl Iterator<Item = &Personality> {
        self.by_id.values()
    }

    /// What a personality id is called where usage lists it: a preset's label (presets win, as
    /// when a turn resolves the id), else `persona_name`, the user's persona's name looked up
    /// with the rows; an id that is neither was a persona since deleted, and keeps its id.
    pub fn display_name(&self, id: &str, persona_name: Option<String>) -> String {
        match (self.get(id), persona_name) {
            (Some(preset), _) => preset.label.clone(),
            (None, Some(name)) => name,
            (None, None) => format!("{DELETED_PERSONA} ({id})"),
        }
    }
}

/// How usage names a persona that no longer exists (followed by its id).
pub const DELETED_PERSONA: &str = "Deleted persona";

/// The file's shape. Strict, so a misspelt key fails loudly instead of silently meaning "absent".
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PresetFile {
    id: String,
    label: String,
    #[serde(default)]
    avatar: Option<String>,
    system: String,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    tool_whitelist: Vec<String>,
    #[serde(default)]
    memory: Option<MemorySettings>,
}

impl PresetFile {
    fn into_personality(self) -> Personality {
        Personality {
            id: self.id,
            label: self.label,
            avatar: self.avatar,
            kind: PersonalityKind::Preset,
            system: self.system,
            defaults: self.defaults,
            tool_whitelist: self.tool_whitelist,
            memory: self.memory,
        }
    }
}

/// One preset, parsed and checked; the error is the reason, which the caller pins to the file.
fn parse_preset(file: &str, json: &str, tools: &ToolCatalog) -> Result<Personality, String> {
    let preset: PresetFile =
        serde_json::from_str(json).map_err(|e| format!("is not valid: {e}"))?;
    check_id(&preset.id, file)?;
    check_text("label", &preset.label, MAX_LABEL_CHARS)?;
    check_text("system", &preset.system, MAX_SYSTEM_CHARS)?;
    if let Some(avatar) = &preset.avatar {
        check_text("avatar", avatar, MAX_AVATAR_CHARS)?;
    }
    check_defaults(preset.defaults)?;
    check_tool_whitelist(&preset.tool_whitelist, tools)?;
    if let Some(problem) = preset.memory.as_ref().and_then(MemorySettings::problem) {
        return Err(problem);
    }
    Ok(preset.into_personality())
}

/// The id is the file's name, so a preset is found on disk by the id the client sends.
fn check_id(id: &str, file: &str) -> Result<(), String> {
    if !is_slug(id) {
        return Err(format!(
            "id {id:?} is not a slug ({} to {} lowercase letters, digits or hyphens, not \
             starting with a hyphen)",
            SLUG_LENGTH.start(),
            SLUG_LENGTH.end()
        ));
    }
    let file_name = Path::new(file)
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or(file);
    let Some(stem) = file_name.strip_suffix(".json") else {
        return Err("the file name does not end in .json".to_owned());
    };
    if id != stem {
        return Err(format!(
            "id {id:?} does not match the file name, which asks for {stem:?}"
        ));
    }
    Ok(())
}

/// `^[a-z0-9][a-z0-9-]{1,62}$`, by hand: the first character may not be a hyphen.
fn is_slug(id: &str) -> bool {
    let is_slug_start = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let is_slug_char = |c: char| is_slug_start(c) || c == '-';
    // Every accepted character is ASCII, so the byte length is the character count.
    SLUG_LENGTH.contains(&id.len()) && id.starts_with(is_slug_start) && id.chars().all(is_slug_char)
}

/// Counted in characters, not bytes, as Postgres `char_length` does for personas.
fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(format!(
            "{field} is {chars} characters long, above the limit of {max_chars}"
        ));
    }
    Ok(())
}

fn check_defaults(defaults: Defaults) -> Result<(), String> {
    if let Some(temperature) = defaults.temperature
        && !TEMPERATURE_RANGE.contains(&temperature)
    {
        return Err(format!(
            "defaults.temperature {temperature} is outside {:.1} to {:.1}",
            TEMPERATURE_RANGE.start(),
            TEMPERATURE_RANGE.end()
        ));
    }
    if let Some(max_tokens) = defaults.max_tokens
        && !MAX_TOKENS_RANGE.contains(&max_tokens)
    {
        return Err(format!(
            "defaults.max_tokens {max_tokens} is outside {} to {}",
            MAX_TOKENS_RANGE.start(),
            MAX_TOKENS_RANGE.end()
        ));
    }
    Ok(())
}

/// A tool the catalog lacks could never be offered to the model, so it is a typo, not a no-op.
fn check_tool_whitelist(whitelist: &[String], tools: &ToolCatalog) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in whitelist {
        if !tools.contains(name) {
            let known: Vec<&str> = tools.names().collect();
            return Err(format!(
                "toolWhitelist names unknown tool {name:?} (known: {})",
                known.join(", ")
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(format!("toolWhitelist lists {name:?} more than once"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const FILE: &str = "test-preset.json";

    fn catalog() -> ToolCatalog {
        ToolCatalog::builtin()
    }

    fn builtin() -> Presets {
        Presets::builtin(&catalog()).expect("the builtin presets are valid")
    }

    fn valid_preset() -> Value {
        json!({
            "id": "test-preset",
            "label": "Test preset",
            "avatar": "🧪",
            "system": "You test things.",
            "defaults": { "temperature": 0.5, "max_tokens": 100 },
            "toolWhitelist": ["calculator"]
        })
    }

    /// The valid preset with one top-level field replaced (or added).
    fn with(field: &str, value: Value) -> String {
        let mut preset = valid_preset();
        preset[field] = value;
        preset.to_string()
    }

    fn without(field: &str) -> String {
        let mut preset = valid_preset();
        preset
            .as_object_mut()
            .expect("the preset is an object")
            .remove(field);
        preset.to_string()
    }

    fn load_one(file: &str, json: &str) -> Result<Presets, PresetError> {
        Presets::from_sources(&[(file, json)], &catalog())
    }

    /// The error message for a rejected preset, after checking it names `file`.
    fn rejection(file: &str, json: &str) -> String {
        match load_one(file, json) {
            Err(error @ PresetError::Invalid { .. }) => {
                let PresetError::Invalid { file: named, .. } = &error;
                assert_eq!(named, file);
                error.to_string()
            }
            Ok(_) => panic!("{file} was accepted: {json}"),
        }
    }

    fn loaded(json: &str) -> Personality {
        load_one(FILE, json)
            .expect("the preset is valid")
            .get("test-preset")
            .cloned()
            .expect("the preset is loaded under its id")
    }

    #[test]
    fn every_builtin_preset_loads_and_validates() {
        let presets = builtin();

        assert_eq!(presets.all().count(), PRESET_SOURCES.len());
        assert!(
            presets
                .all()
                .all(|preset| preset.kind == PersonalityKind::Preset)
        );
    }

    #[test]
    fn the_default_preset_helix_assistant_is_shipped() {
        let presets = builtin();

        let default = presets.get(DEFAULT_PRESET_ID).expect("the default preset");

        assert_eq!(default.id, "helix-assistant");
    }

    #[test]
    fn builtin_preset_ids_are_unique_and_match_their_file_names() {
        let presets = builtin();
        let mut ids = HashSet::new();

        for (file, _) in PRESET_SOURCES {
            let id = file.strip_suffix(".json").expect("a .json file");
            assert!(ids.insert(id), "{file} is listed twice");
            assert_eq!(presets.get(id).map(|preset| preset.id.as_str()), Some(id));
        }
    }

    #[test]
    fn every_tool_a_builtin_preset_whitelists_exists_in_the_catalog() {
        let tools = catalog();

        for preset in builtin().all() {
            for tool in &preset.tool_whitelist {
                assert!(tools.contains(tool), "{} whitelists {tool}", preset.id);
            }
        }
    }

    #[test]
    fn the_builtin_presets_grant_exactly_the_tools_the_product_spec_lists() {
        let presets = builtin();
        let tools_of = |id: &str| presets.get(id).map(|preset| preset.tool_whitelist.clone());

        assert_eq!(
            tools_of("helix-assistant"),
            Some(vec!["get_current_time".into(), "calculator".into()])
        );
        assert_eq!(tools_of("code-reviewer"), Some(vec![]));
        assert_eq!(tools_of("concise-analyst"), Some(vec!["calculator".into()]));
        assert_eq!(tools_of("writing-editor"), Some(vec![]));
        assert_eq!(
            tools_of("research-helper"),
            Some(vec![
                "web_search".into(),
                "fetch_url".into(),
                "search_memory".into()
            ])
        );
    }

    #[test]
    fn every_builtin_preset_has_an_avatar_and_a_label() {
        for preset in builtin().all() {
            assert!(preset.avatar.is_some(), "{} has no avatar", preset.id);
            assert!(!preset.label.is_empty(), "{} has no label", preset.id);
        }
    }

    #[test]
    fn a_display_name_is_the_preset_label_then_the_persona_name_then_a_deleted_persona() {
        let presets = builtin();
        assert_eq!(
            presets.display_name("helix-assistant", Some("shadowed".into())),
            "Helix assistant"
        );
        assert_eq!(presets.display_name("p1", Some("Pirate".into())), "Pirate");
        assert_eq!(presets.display_name("p2", None), "Deleted persona (p2)");
    }

    #[test]
    fn presets_are_listed_in_id_order() {
        let ids: Vec<String> = builtin().all().map(|preset| preset.id.clone()).collect();
        let mut sorted = ids.clone();
        sorted.sort();

        assert_eq!(ids, sorted);
    }

    #[test]
    fn a_preset_without_a_tool_whitelist_has_no_tools_and_its_defaults_are_read() {
        let preset = loaded(&without("toolWhitelist"));

        assert!(preset.tool_whitelist.is_empty());
        assert_eq!(
            preset.defaults,
            Defaults {
                temperature: Some(0.5),
                max_tokens: Some(100)
            }
        );
    }

    #[test]
    fn a_preset_without_defaults_or_avatar_loads_with_neither() {
        let mut json = valid_preset();
        let fields = json.as_object_mut().expect("the preset is an object");
        fields.remove("defaults");
        fields.remove("avatar");

        let preset = loaded(&json.to_string());

        assert_eq!(preset.defaults, Defaults::default());
        assert_eq!(preset.avatar, None);
    }

    #[test]
    fn a_valid_preset_keeps_every_field_it_declares() {
        let preset = loaded(&valid_preset().to_string());

        assert_eq!(
            preset,
            Personality {
                id: "test-preset".into(),
                label: "Test preset".into(),
                avatar: Some("🧪".into()),
                kind: PersonalityKind::Preset,
                system: "You test things.".into(),
                defaults: Defaults {
                    temperature: Some(0.5),
                    max_tokens: Some(100)
                },
                tool_whitelist: vec!["calculator".into()],
                memory: None,
            }
        );
    }

    #[test]
    fn each_validation_rule_rejects_a_bad_preset_naming_the_file_and_the_problem() {
        let cases: Vec<(&str, String, &str)> = vec![
            ("malformed JSON", r#"{"id": "#.into(), "is not valid"),
            (
                "unknown field",
                with("colour", json!("red")),
                "unknown field `colour`",
            ),
            (
                "snake_case whitelist key",
                with("tool_whitelist", json!([])),
                "unknown field `tool_whitelist`",
            ),
            (
                "unknown defaults field",
                with("defaults", json!({ "top_p": 0.9 })),
                "unknown field `top_p`",
            ),
            (
                "missing system",
                without("system"),
                "missing field `system`",
            ),
            (
                "uppercase id",
                with("id", json!("Test-Preset")),
                "is not a slug",
            ),
            (
                "id starting with a hyphen",
                with("id", json!("-test")),
                "is not a slug",
            ),
            ("one-character id", with("id", json!("t")), "is not a slug"),
            (
                "64-character id",
                with("id", json!("a".repeat(64))),
                "is not a slug",
            ),
            (
                "id with an underscore",
                with("id", json!("test_preset")),
                "is not a slug",
            ),
            (
                "id unlike the file name",
                with("id", json!("other-preset")),
                "does not match the file name",
            ),
            ("empty label", with("label", json!("")), "label is empty"),
            ("blank label", with("label", json!("   ")), "label is empty"),
            (
                "81-character label",
                with("label", json!("é".repeat(81))),
                "label is 81 characters long",
            ),
            ("empty system", with("system", json!("")), "system is empty"),
            (
                "32001-character system",
                with("system", json!("x".repeat(32_001))),
                "system is 32001 characters long",
            ),
            ("empty avatar", with("avatar", json!("")), "avatar is empty"),
            (
                "201-character avatar",
                with("avatar", json!("x".repeat(201))),
                "avatar is 201 characters long",
            ),
            (
                "temperature above 2",
                with("defaults", json!({ "temperature": 2.1 })),
                "defaults.temperature 2.1 is outside",
            ),
            (
                "negative temperature",
                with("defaults", json!({ "temperature": -0.1 })),
                "defaults.temperature -0.1 is outside",
            ),
            (
                "zero max_tokens",
                with("defaults", json!({ "max_tokens": 0 })),
                "defaults.max_tokens 0 is outside",
            ),
            (
                "max_tokens above 32768",
                with("defaults", json!({ "max_tokens": 32_769 })),
                "defaults.max_tokens 32769 is outside",
            ),
            (
                "unknown tool",
                with("toolWhitelist", json!(["run_shell"])),
                "unknown tool \"run_shell\"",
            ),
            (
                "tool listed twice",
                with("toolWhitelist", json!(["calculator", "calculator"])),
                "lists \"calculator\" more than once",
            ),
        ];

        for (case, json, problem) in cases {
            let message = rejection(FILE, &json);

            assert!(
                message.starts_with("personality preset test-preset.json: "),
                "{case}: {message}"
            );
            assert!(message.contains(problem), "{case}: {message}");
        }
    }

    #[test]
    fn a_preset_file_not_named_json_is_rejected() {
        let message = rejection("test-preset.yaml", &valid_preset().to_string());

        assert!(message.contains("does not end in .json"), "{message}");
    }

    #[test]
    fn two_presets_with_the_same_id_are_rejected_naming_the_second_file() {
        let json = valid_preset().to_string();

        let result = Presets::from_sources(&[(FILE, &json), (FILE, &json)], &catalog());

        assert_eq!(
            result,
            Err(PresetError::Invalid {
                file: FILE.into(),
                reason: "id \"test-preset\" is used by another preset".into(),
            })
        );
    }

    #[test]
    fn memory_settings_are_optional_defaulted_and_checked() {
        let presets = Presets::from_sources(
            &[(FILE, &with("memory", json!({"enabled": true})))],
            &catalog(),
        )
        .unwrap();
        let memory = presets.get("test-preset").unwrap().memory.unwrap();
        assert_eq!((memory.enabled, memory.k, memory.min_score), (true, 4, 0.3));
        for (bad, expected) in [
            (json!({"enabled": true, "k": 0}), "memory.k"),
            (
                json!({"enabled": true, "min_score": 2.0}),
                "memory.min_score",
            ),
            (json!({"enabled": true, "top": 3}), "unknown field"),
        ] {
            let message = rejection(FILE, &with("memory", bad));
            assert!(message.contains(expected), "{message}");
        }
        let builtin = Presets::builtin(&ToolCatalog::builtin()).unwrap();
        assert!(
            builtin
                .get("research-helper")
                .unwrap()
                .memory
                .unwrap()
                .enabled
        );
        assert!(builtin.get("helix-assistant").unwrap().memory.is_none());
    }

    #[test]
    fn values_at_the_edge_of_every_limit_are_accepted() {
        let long_id = format!("a{}", "-".repeat(62));
        let mut json = valid_preset();
        json["id"] = json!(long_id);
        json["label"] = json!("é".repeat(MAX_LABEL_CHARS));
        json["system"] = json!("x".repeat(MAX_SYSTEM_CHARS));
        json["avatar"] = json!("x".repeat(MAX_AVATAR_CHARS));

        for defaults in [
            json!({ "temperature": 0.0, "max_tokens": 1 }),
            json!({ "temperature": 2.0, "max_tokens": 32_768 }),
        ] {
            json["defaults"] = defaults;
            let loaded = load_one(&format!("{long_id}.json"), &json.to_string());
            assert!(loaded.is_ok(), "{loaded:?}");
        }
    }

    #[test]
    fn a_preset_is_found_by_a_path_whose_file_name_matches_its_id() {
        let presets = Presets::from_sources(
            &[(
                "personalities/test-preset.json",
                &valid_preset().to_string(),
            )],
            &catalog(),
        )
        .expect("the preset is valid");

        assert!(presets.get("test-preset").is_some());
    }

    #[test]
    fn from_persona_uses_the_prompt_as_system_and_grants_no_tools() {
        let persona = Personality::from_persona(
            "p1".into(),
            "Pirate".into(),
            "Talk like a pirate.".into(),
            Some("https://example.com/pirate.png".into()),
            None,
        );

        assert_eq!(
            persona,
            Personality {
                id: "p1".into(),
                label: "Pirate".into(),
                avatar: Some("https://example.com/pirate.png".into()),
                kind: PersonalityKind::Persona,
                system: "Talk like a pirate.".into(),
                defaults: Defaults::default(),
                tool_whitelist: Vec::new(),
                memory: None,
            }
        );
    }

    #[test]
    fn personality_kinds_serialize_as_lowercase_words() {
        assert_eq!(json!(PersonalityKind::Preset), json!("preset"));
        assert_eq!(json!(PersonalityKind::Persona), json!("persona"));
    }
}
