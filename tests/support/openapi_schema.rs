// docs/openapi.json for the unit tests that hold each function's serde types to the spec. A plain
// file the functions' test modules `include!`: no crate, no build plumbing. Paths are relative to
// the including crate (functions/<name>).

use std::collections::BTreeSet;

use serde_json::Value;

/// The whole document, read from the repository at test time.
pub fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `components.schemas.<name>`.
pub fn schema(name: &str) -> Value {
    spec()["components"]["schemas"][name].clone()
}

/// An object's keys.
pub fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// An array of strings (a schema's `required`).
pub fn strings(value: &Value) -> BTreeSet<String> {
    let items = value.as_array().unwrap().iter();
    items.map(|k| k.as_str().unwrap().to_owned()).collect()
}
