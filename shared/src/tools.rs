//! The catalog of function tools Helix knows. Helix never runs a tool: it hands these definitions to
//! the model and returns the model's calls to the client, which runs them and sends the results back.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::chat::ToolDefinition;

/// Every tool Helix knows, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCatalog {
    /// Ordered by name so listings are stable across cold starts.
    tools: BTreeMap<String, ToolDefinition>,
}

impl ToolCatalog {
    /// The tools Helix ships with.
    pub fn builtin() -> Self {
        let tools = builtin_definitions()
            .into_iter()
            .map(|tool| (tool.name.clone(), tool))
            .collect();
        ToolCatalog { tools }
    }

    pub fn get(&self, name: &str) -> Option<&ToolDefinition> {
        self.tools.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// Tool names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }
}

fn builtin_definitions() -> [ToolDefinition; 5] {
    [
        get_current_time(),
        calculator(),
        web_search(),
        fetch_url(),
        search_memory(),
    ]
}

fn get_current_time() -> ToolDefinition {
    tool(
        "get_current_time",
        "Get the current date and time in a time zone. Use it whenever the answer depends on \
         today's date, the current time, the day of the week, or how long until or since a date: \
         you have no clock of your own.",
        object_schema(
            json!({
                "timezone": {
                    "type": "string",
                    "minLength": 1,
                    "description": "IANA time zone name, such as \"Europe/Paris\" or \
                                    \"America/New_York\". Use \"UTC\" when the user's time zone \
                                    is unknown."
                }
            }),
            &["timezone"],
        ),
    )
}

fn calculator() -> ToolDefinition {
    tool(
        "calculator",
        "Evaluate an arithmetic expression and return the exact result. Use it for any \
         calculation beyond trivial mental arithmetic (totals, percentages, growth rates, unit \
         conversions) instead of working the numbers out yourself.",
        object_schema(
            json!({
                "expression": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The expression to evaluate, written with numbers, decimal \
                                    points, + - * / ^ and parentheses, e.g. \
                                    \"(1250 - 980) / 980 * 100\"."
                }
            }),
            &["expression"],
        ),
    )
}

fn web_search() -> ToolDefinition {
    tool(
        "web_search",
        "Search the web and return results, each with a title, URL and snippet. Use it for \
         current events, facts that may have changed since your training, or anything you are not \
         sure of; then read the most relevant results in full with fetch_url.",
        object_schema(
            json!({
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "What to search for, phrased as a search engine query."
                },
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10,
                    "description": "How many results to return, from 1 to 10."
                }
            }),
            &["query"],
        ),
    )
}

fn fetch_url() -> ToolDefinition {
    tool(
        "fetch_url",
        "Fetch a web page or document and return its main text. Use it to read a page found with \
         web_search, or a link the user shared, before quoting or summarising it.",
        object_schema(
            json!({
                "url": {
                    "type": "string",
                    "format": "uri",
                    "description": "The absolute http or https URL to fetch."
                }
            }),
            &["url"],
        ),
    )
}

fn search_memory() -> ToolDefinition {
    tool(
        "search_memory",
        "Search the user's long-term memory: notes, facts and preferences saved from earlier \
         conversations and documents. Use it when the user refers to something they told you \
         before, or when their past context would change your answer.",
        object_schema(
            json!({
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "What to look for, in natural language."
                },
                "k": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 20,
                    "description": "How many of the most relevant memories to return, from 1 to 20."
                }
            }),
            &["query"],
        ),
    )
}

fn tool(name: &str, description: &str, parameters: Value) -> ToolDefinition {
    ToolDefinition {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    }
}

/// Closed schemas, so a model that invents an argument is told so instead of being silently ignored.
fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const KNOWN_TOOLS: [&str; 5] = [
        "calculator",
        "fetch_url",
        "get_current_time",
        "search_memory",
        "web_search",
    ];

    fn is_snake_case(name: &str) -> bool {
        name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('_')
            && !name.contains("__")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    fn required_params(schema: &Value) -> Vec<&str> {
        schema["required"]
            .as_array()
            .expect("required is an array")
            .iter()
            .map(|name| name.as_str().expect("required names are strings"))
            .collect()
    }

    #[test]
    fn the_builtin_catalog_holds_exactly_the_known_tools_in_name_order() {
        let catalog = ToolCatalog::builtin();

        assert_eq!(catalog.names().collect::<Vec<_>>(), KNOWN_TOOLS);
    }

    #[test]
    fn a_tool_is_found_by_its_name_and_an_unknown_name_finds_nothing() {
        let catalog = ToolCatalog::builtin();

        assert_eq!(
            catalog.get("calculator").map(|tool| tool.name.as_str()),
            Some("calculator")
        );
        assert!(catalog.contains("web_search"));
        assert!(catalog.get("run_shell").is_none());
        assert!(!catalog.contains("run_shell"));
    }

    #[test]
    fn every_catalog_tool_has_an_object_schema_that_rejects_unknown_properties() {
        for tool in builtin_definitions() {
            let schema = &tool.parameters;

            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert!(schema["properties"].is_object(), "{}", tool.name);
            assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
        }
    }

    #[test]
    fn every_required_parameter_of_a_catalog_tool_is_listed_in_its_properties() {
        for tool in builtin_definitions() {
            let properties = &tool.parameters["properties"];
            let required = required_params(&tool.parameters);

            assert!(!required.is_empty(), "{} requires nothing", tool.name);
            for param in required {
                assert!(
                    properties.get(param).is_some(),
                    "{} requires {param} but does not describe it",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn every_catalog_tool_and_parameter_tells_the_model_what_it_is_for() {
        for tool in builtin_definitions() {
            assert!(!tool.description.trim().is_empty(), "{}", tool.name);
            let properties = tool.parameters["properties"]
                .as_object()
                .expect("properties is an object");
            for (param, schema) in properties {
                let description = schema["description"].as_str().unwrap_or_default();
                assert!(!description.is_empty(), "{}.{param}", tool.name);
            }
        }
    }

    #[test]
    fn catalog_tool_names_are_unique_and_snake_case() {
        let definitions = builtin_definitions();
        let mut seen = HashSet::new();

        for tool in &definitions {
            assert!(is_snake_case(&tool.name), "{} is not snake_case", tool.name);
            assert!(
                seen.insert(tool.name.as_str()),
                "{} is listed twice",
                tool.name
            );
        }
        assert_eq!(ToolCatalog::builtin().names().count(), definitions.len());
    }

    #[test]
    fn bounded_count_parameters_carry_their_limits_in_the_schema() {
        let catalog = ToolCatalog::builtin();
        let bounds = |tool: &str, param: &str| {
            let schema = &catalog.get(tool).expect("known tool").parameters["properties"][param];
            (schema["minimum"].as_u64(), schema["maximum"].as_u64())
        };

        assert_eq!(bounds("web_search", "max_results"), (Some(1), Some(10)));
        assert_eq!(bounds("search_memory", "k"), (Some(1), Some(20)));
    }
}
