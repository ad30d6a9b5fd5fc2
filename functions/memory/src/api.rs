//! The wire shapes of /v1/memory and the checks that turn a request into values Helix stores:
//! every 400 names its field.

use helix_shared::ApiError;
use helix_shared::memory::Hit;
use helix_shared::memory::store::Document;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
pub const MAX_QUERY_CHARS: usize = 2_000;
pub const MAX_K: u32 = 50;
pub const DEFAULT_K: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostDocument {
    #[serde(default)]
    pub doc_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub text: String,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub persona_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default)]
    pub k: Option<u32>,
    #[serde(default)]
    pub persona_id: Option<String>,
    /// Only chunks at least this similar (cosine, -1 to 1); default: no floor.
    #[serde(default)]
    pub min_score: Option<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CostView {
    pub micros: i64,
    pub cents: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    pub remaining_micros: i64,
    pub remaining_cents: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentStored {
    #[serde(flatten)]
    pub document: Document,
    pub cost: CostView,
    pub budget: BudgetView,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentList {
    pub documents: Vec<Document>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    pub results: Vec<Hit>,
    pub cost: CostView,
    pub budget: BudgetView,
}

/// A document's fields, checked: the caller still checks the persona belongs to the user.
pub struct ValidDocument<'a> {
    pub doc_id: Option<&'a str>,
    pub title: Option<&'a str>,
    pub text: &'a str,
    pub metadata: Value,
}

impl PostDocument {
    pub fn validate(&self, max_bytes: usize) -> Result<ValidDocument<'_>, ApiError> {
        if self.text.len() > max_bytes {
            return Err(ApiError::PayloadTooLarge);
        }
        if self.text.trim().is_empty() {
            return Err(ApiError::bad_request("text: must not be empty"));
        }
        let doc_id = self.doc_id.as_deref().map(valid_doc_id).transpose()?;
        let title = match self.title.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(title) if title.chars().count() > MAX_TITLE_CHARS => {
                return Err(ApiError::bad_request(format!(
                    "title: must be at most {MAX_TITLE_CHARS} characters"
                )));
            }
            Some(title) => Some(title),
        };
        let metadata = match &self.metadata {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(object @ Value::Object(_)) => {
                if object.to_string().len() > MAX_METADATA_BYTES {
                    return Err(ApiError::bad_request(format!(
                        "metadata: must be at most {MAX_METADATA_BYTES} bytes of JSON"
                    )));
                }
                if let Some(path) = unreadable_number(object, "metadata".to_owned()) {
                    return Err(ApiError::bad_request(format!(
                        "{path}: a number this large cannot be stored and read back"
                    )));
                }
                object.clone()
            }
            Some(_) => return Err(ApiError::bad_request("metadata: must be a JSON object")),
        };
        Ok(ValidDocument {
            doc_id,
            title,
            text: &self.text,
            metadata,
        })
    }
}

/// The first number in `value` that would not survive jsonb: Postgres writes numbers back without
/// an exponent, and serde_json cannot read every such number near f64's limits
/// (`-1.7976931348623157e308` comes back as 309 digits it calls out of range). Checked before
/// the document is embedded, so such metadata is refused before anything is charged.
fn unreadable_number(value: &Value, path: String) -> Option<String> {
    match value {
        Value::Number(number) => {
            let float = number.as_f64().filter(|_| number.is_f64())?;
            // Rust prints an f64 as Postgres prints a numeric: every digit, no exponent.
            serde_json::from_str::<Value>(&format!("{float}"))
                .is_err()
                .then_some(path)
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| unreadable_number(item, format!("{path}[{index}]"))),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| unreadable_number(item, format!("{path}.{key}"))),
        _ => None,
    }
}

/// Letters, digits and `._:-`, 1 to 200 characters: safe in a URL path segment as it is.
pub fn valid_doc_id(raw: &str) -> Result<&str, ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if (1..=200).contains(&raw.len()) && raw.chars().all(allowed) {
        Ok(raw)
    } else {
        Err(ApiError::bad_request(
            "doc_id: must be 1 to 200 letters, digits, '.', '_', ':' or '-'",
        ))
    }
}

impl SearchRequest {
    /// The trimmed query, k and similarity floor.
    pub fn validate(&self) -> Result<(&str, u32, f32), ApiError> {
        let query = self.query.trim();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::bad_request(format!(
                "query: must be 1 to {MAX_QUERY_CHARS} characters"
            )));
        }
        let k = self.k.unwrap_or(DEFAULT_K);
        if !(1..=MAX_K).contains(&k) {
            return Err(ApiError::bad_request(format!("k: must be 1 to {MAX_K}")));
        }
        let min_score = self.min_score.unwrap_or(-1.0);
        if !(-1.0..=1.0).contains(&min_score) {
            return Err(ApiError::bad_request("min_score: must be -1 to 1"));
        }
        Ok((query, k, min_score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    // Each includer uses only some of the helpers.
    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }
    use openapi_schema::keys;

    fn post(body: Value) -> PostDocument {
        serde_json::from_value(body).unwrap()
    }

    fn message(error: ApiError) -> String {
        error.to_string()
    }

    #[test]
    fn a_document_is_checked_field_by_field() {
        let ok = post(json!({"text": "Hello.", "title": "  Notes ", "doc_id": "notes-1"}));
        let valid = ok.validate(1000).unwrap();
        assert_eq!(
            (valid.doc_id, valid.title),
            (Some("notes-1"), Some("Notes"))
        );
        assert_eq!(valid.metadata, json!({}));

        let cases = [
            (json!({"text": "  "}), "text"),
            (json!({"text": "a", "doc_id": "has space"}), "doc_id"),
            (json!({"text": "a", "doc_id": ""}), "doc_id"),
            (json!({"text": "a", "title": "t".repeat(301)}), "title"),
            (json!({"text": "a", "metadata": [1]}), "metadata"),
            (
                json!({"text": "a", "metadata": {"x": [1, -1.797_693_134_862_315_7e308]}}),
                "metadata.x[1]",
            ),
        ];
        for (body, field) in cases {
            let error = post(body.clone()).validate(1000).err().unwrap();
            assert!(message(error).starts_with(field), "{body}");
        }
    }

    #[test]
    fn an_oversized_document_is_413() {
        let error = post(json!({"text": "x".repeat(11)}))
            .validate(10)
            .err()
            .unwrap();
        assert!(matches!(error, ApiError::PayloadTooLarge));
    }

    #[test]
    fn a_search_is_checked_and_defaulted() {
        let request: SearchRequest = serde_json::from_value(json!({"query": " leave "})).unwrap();
        assert_eq!(request.validate().unwrap(), ("leave", DEFAULT_K, -1.0));
        for (body, field) in [
            (json!({"query": ""}), "query"),
            (json!({"query": "a", "k": 0}), "k"),
            (json!({"query": "a", "k": 51}), "k"),
            (json!({"query": "a", "min_score": 1.5}), "min_score"),
        ] {
            let request: SearchRequest = serde_json::from_value(body.clone()).unwrap();
            assert!(
                message(request.validate().err().unwrap()).starts_with(field),
                "{body}"
            );
        }
    }

    /// docs/openapi.json's schema `name`: its required and documented property names, with the
    /// members of an `allOf` (how the spec writes a `#[serde(flatten)]`) merged.
    fn documented(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let spec = openapi_schema::spec();
        let mut pending = vec![spec["components"]["schemas"][name].clone()];
        let (mut required, mut properties) = (BTreeSet::new(), BTreeSet::new());
        while let Some(schema) = pending.pop() {
            assert!(schema.is_object(), "{name}: no such schema");
            if let Some(target) = schema["$ref"].as_str() {
                pending.push(
                    spec.pointer(target.trim_start_matches('#'))
                        .unwrap()
                        .clone(),
                );
                continue;
            }
            pending.extend(schema["allOf"].as_array().cloned().unwrap_or_default());
            for key in schema["required"].as_array().into_iter().flatten() {
                required.insert(key.as_str().unwrap().to_owned());
            }
            if schema["properties"].is_object() {
                properties.extend(keys(&schema["properties"]));
            }
        }
        (required, properties)
    }

    /// Every key Helix sends is documented and required, and nothing else is documented.
    fn assert_documents_exactly(name: &str, sent: &Value) {
        let (required, properties) = documented(name);
        assert_eq!(keys(sent), required, "{name}: required");
        assert_eq!(properties, required, "{name}: properties");
    }

    /// The fields a `deny_unknown_fields` request type reads, as serde lists them when it refuses
    /// an unknown one.
    fn fields_read<T: serde::de::DeserializeOwned>() -> BTreeSet<String> {
        let error = serde_json::from_value::<T>(json!({"not a field": 0}))
            .err()
            .unwrap()
            .to_string();
        let expected = error.split("expected").nth(1).unwrap();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    fn document() -> Document {
        Document {
            doc_id: "notes".into(),
            persona_id: None,
            title: None,
            metadata: json!({}),
            chars: 0,
            chunk_count: 0,
            created_at: "2026-11-01T00:00:00Z".parse().unwrap(),
            updated_at: "2026-11-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn cost() -> CostView {
        CostView {
            micros: 0,
            cents: 0,
        }
    }

    fn budget() -> BudgetView {
        BudgetView {
            remaining_micros: 0,
            remaining_cents: 0,
        }
    }

    #[test]
    fn the_openapi_memory_responses_list_exactly_the_fields_helix_sends() {
        let stored = DocumentStored {
            document: document(),
            cost: cost(),
            budget: budget(),
        };
        let stored = serde_json::to_value(stored).unwrap();
        assert_documents_exactly("DocumentStored", &stored);
        assert_documents_exactly("Cost", &stored["cost"]);
        assert_documents_exactly("RemainingBudget", &stored["budget"]);

        let list = serde_json::to_value(DocumentList {
            documents: vec![document()],
        })
        .unwrap();
        assert_documents_exactly("DocumentList", &list);
        assert_documents_exactly("Document", &list["documents"][0]);

        let hit = Hit {
            doc_id: "notes".into(),
            title: None,
            chunk_index: 0,
            content: String::new(),
            score: 1.0,
        };
        let found = serde_json::to_value(SearchResponse {
            results: vec![hit],
            cost: cost(),
            budget: budget(),
        })
        .unwrap();
        assert_documents_exactly("SearchResponse", &found);
        assert_documents_exactly("Hit", &found["results"][0]);
    }

    #[test]
    fn the_openapi_memory_requests_list_exactly_the_fields_helix_reads() {
        for (name, read) in [
            ("PostDocument", fields_read::<PostDocument>()),
            ("SearchRequest", fields_read::<SearchRequest>()),
        ] {
            let (required, properties) = documented(name);
            assert_eq!(properties, read, "{name}: properties");
            assert!(required.is_subset(&read), "{name}: required");
        }
        // What the spec calls required is exactly what a body cannot leave out.
        assert_eq!(
            documented("PostDocument").0,
            BTreeSet::from(["text".into()])
        );
        assert!(serde_json::from_value::<PostDocument>(json!({})).is_err());
        assert_eq!(
            documented("SearchRequest").0,
            BTreeSet::from(["query".into()])
        );
        assert!(serde_json::from_value::<SearchRequest>(json!({})).is_err());
    }
}
