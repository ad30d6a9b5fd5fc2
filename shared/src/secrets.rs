//! AWS Secrets Manager: in AWS every function reads one JSON secret (`HELIX_SECRET_ID`) once per
//! cold start; its keys become a configuration layer. Errors name the secret and keys, never values.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use serde_json::Value;

use crate::settings::ConfigError;

/// Fetches the secret and flattens it into configuration keys.
pub async fn fetch_layer(
    client: &Client,
    secret_id: &str,
) -> Result<HashMap<String, String>, ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| {
            let error = error.into_service_error();
            secret_error(
                secret_id,
                format!(
                    "Secrets Manager refused GetSecretValue: {} ({})",
                    error.code().unwrap_or("unknown error"),
                    error.message().unwrap_or("no message")
                ),
            )
        })?;
    let text = output.secret_string().ok_or_else(|| {
        secret_error(
            secret_id,
            "the secret has no SecretString (binary secrets are not supported)",
        )
    })?;
    parse_layer(secret_id, text)
}

/// `{"JWT_SECRET": "…", "MASTER_PASS_HASH": "…", "HELIX_PASSCODES": [ … ], …}`: strings as they
/// are; arrays and objects (such as `HELIX_PASSCODES`) as their JSON text.
pub fn parse_layer(secret_id: &str, text: &str) -> Result<HashMap<String, String>, ConfigError> {
    // serde_json's error says where the syntax broke, never what the text was.
    let parsed: Value = serde_json::from_str(text)
        .map_err(|e| secret_error(secret_id, format!("the secret is not valid JSON ({e})")))?;
    let Value::Object(entries) = parsed else {
        return Err(secret_error(
            secret_id,
            "the secret must be a JSON object of configuration keys",
        ));
    };
    entries
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Array(_) | Value::Object(_) => Ok((key, value.to_string())),
            Value::Number(number) => Ok((key, number.to_string())),
            Value::Bool(_) | Value::Null => Err(secret_error(
                secret_id,
                format!("the value of key {key} must be a string"),
            )),
        })
        .collect()
}

fn secret_error(secret_id: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Secret {
        secret_id: secret_id.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_numbers_and_lists_become_configuration_values() {
        let layer = parse_layer("s", r#"{"JWT_SECRET":"x","TOKEN_TTL":"2h","HELIX_AUTH_MAX_FAILURES":3,"HELIX_PASSCODES":[{"email":"a@b.c"}]}"#).unwrap();
        assert_eq!(layer["JWT_SECRET"], "x");
        assert_eq!(layer["HELIX_AUTH_MAX_FAILURES"], "3");
        assert_eq!(layer["HELIX_PASSCODES"], r#"[{"email":"a@b.c"}]"#);
    }

    #[test]
    fn malformed_json_is_reported_without_its_content() {
        let err = parse_layer("helix/prod", r#"{"JWT_SECRET": "hunter2-very-secret""#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("helix/prod") && err.contains("not valid JSON"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn non_objects_and_non_string_values_are_refused_by_key() {
        assert!(parse_layer("s", r#"["a"]"#).is_err());
        let err = parse_layer("s", r#"{"JWT_SECRET": true}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
    }
}
