//! Configuration from AWS Secrets Manager, against a real AWS API emulator (moto) on loopback.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use helix_shared::config::Config;
use helix_shared::secrets::fetch_layer;
use helix_shared::settings::{ConfigError, Sources};
use helix_tests::MotoServer;
use secrecy::ExposeSecret;

const JWT_SECRET: &str = "jwt-secret-from-secrets-manager-0123456789";
const MASTER_HASH: &str = "$2b$10$0123456789012345678901uAbCdEfGhIjKlMnOpQrStUvWxYz0123";
const DATABASE_URL: &str = "postgres://helix:db-password-in-secret@db.internal:5432/helix";

async fn client_with_secret(moto: &MotoServer, name: &str, value: &str) -> Client {
    let client = Client::new(&moto.sdk_config().await);
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    client
}

/// What a Lambda sees: its environment (production, non-secret settings) over the secret.
fn production_config(secret: HashMap<String, String>) -> Result<Config, ConfigError> {
    let environment = HashMap::from([
        ("HELIX_ENV".to_owned(), "production".to_owned()),
        ("HELIX_SECRET_ID".to_owned(), "helix/prod".to_owned()),
    ]);
    Config::from_sources(
        &Sources::default()
            .with_layer(environment)
            .with_layer(secret),
    )
}

#[tokio::test]
async fn a_complete_secret_configures_production() {
    let moto = MotoServer::start().await;
    let secret = serde_json::json!({
        "JWT_SECRET": JWT_SECRET,
        "MASTER_PASS_HASH": MASTER_HASH,
        "DATABASE_URL": DATABASE_URL,
        "HELIX_PASSCODES": [{"email": "ops@example.com", "hash": MASTER_HASH, "role": "admin"}],
    });
    let client = client_with_secret(&moto, "helix/prod", &secret.to_string()).await;

    let layer = fetch_layer(&client, "helix/prod").await.unwrap();
    let config = production_config(layer).unwrap();

    assert_eq!(config.auth.jwt_secret.expose_secret(), JWT_SECRET);
    assert_eq!(config.database.url.expose_secret(), DATABASE_URL);
    let emails: Vec<&str> = config
        .auth
        .passcodes
        .iter()
        .map(|p| p.email.as_str())
        .collect();
    assert_eq!(emails, ["master@helix.local", "ops@example.com"]);
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(JWT_SECRET) && !debug.contains("db-password-in-secret"),
        "{debug}"
    );
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_startup_error() {
    let moto = MotoServer::start().await;
    let client = Client::new(&moto.sdk_config().await);
    let error = fetch_layer(&client, "helix/absent")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("helix/absent"), "{error}");
    assert!(error.contains("ResourceNotFoundException"), "{error}");
}

#[tokio::test]
async fn a_malformed_secret_is_named_without_showing_its_value() {
    let moto = MotoServer::start().await;
    let client = client_with_secret(
        &moto,
        "helix/broken",
        &format!("{{\"JWT_SECRET\": \"{JWT_SECRET}\""),
    )
    .await;
    let error = fetch_layer(&client, "helix/broken")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("helix/broken") && error.contains("not valid JSON"),
        "{error}"
    );
    assert!(!error.contains(JWT_SECRET), "{error}");
}

#[tokio::test]
async fn a_secret_missing_a_key_names_the_key_and_no_value() {
    let moto = MotoServer::start().await;
    let secret =
        serde_json::json!({ "MASTER_PASS_HASH": MASTER_HASH, "DATABASE_URL": DATABASE_URL });
    let client = client_with_secret(&moto, "helix/partial", &secret.to_string()).await;
    let layer = fetch_layer(&client, "helix/partial").await.unwrap();

    let error = production_config(layer).unwrap_err();

    assert!(
        matches!(error, ConfigError::Missing { key: "JWT_SECRET" }),
        "{error}"
    );
    let shown = error.to_string();
    assert!(
        !shown.contains(MASTER_HASH) && !shown.contains("db.internal"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_weak_secret_is_refused_in_production() {
    let moto = MotoServer::start().await;
    let secret = serde_json::json!({ "JWT_SECRET": "change-me", "MASTER_PASS_HASH": MASTER_HASH, "DATABASE_URL": DATABASE_URL });
    let client = client_with_secret(&moto, "helix/weak", &secret.to_string()).await;
    let layer = fetch_layer(&client, "helix/weak").await.unwrap();
    let error = production_config(layer).unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::Insecure {
                key: "JWT_SECRET",
                ..
            }
        ),
        "{error}"
    );
}
