//! Typed configuration, read once at start: process environment over `.env` over development
//! defaults. Secrets are `SecretString`s, so no `Debug` or log line can ever print them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::engine::anthropic::DEFAULT_ANTHROPIC_BASE_URL;
use crate::engine::openai::DEFAULT_OPENAI_BASE_URL;
use crate::engine::retry::RetryPolicy;
use crate::pricing::Price;
use crate::secrets;

mod models;
pub use models::{
    DEFAULT_LOCAL_CHAT_MODEL, EmbeddingConfig, LocalChatConfig, MAX_INDEXED_DIMENSIONS,
    MemoryConfig,
};

/// Development-only JWT secret: documented in the README, refused in production.
pub const DEV_JWT_SECRET: &str = "helix-development-only-jwt-secret-never-use-in-production";
/// Development-only passcodes (README) and their bcrypt hashes (cost 10), refused in production.
pub const DEV_MASTER_PASSCODE: &str = "helix-master-dev";
pub const DEV_FNBO_PASSCODE: &str = "helix-fnbo-dev";
const DEV_MASTER_PASS_HASH: &str = "$2b$10$xu7..Du13.PZcOt4eM8evu3h4mrf47R2.nQ7WCYVcwKqjhSZfpiWC";
const DEV_FNBO_PASS_HASH: &str = "$2b$10$Q/gIgYZcBAgbadnLKr2zeOY85v5yDnn9sOWCsY9V.Z2d53E2uci2a";

const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key {key} is required but not set")]
    Missing { key: &'static str },
    #[error("configuration key {key} is invalid: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("configuration key {key} is not safe for production: {reason}")]
    Insecure { key: &'static str, reason: String },
    #[error("could not read {path}: {reason}")]
    DotEnv { path: String, reason: String },
    #[error("secret {secret_id}: {reason}")]
    Secret { secret_id: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// One way in: a bcrypt hash of a passcode and the user it signs in as.
#[derive(Debug, Clone, Deserialize)]
pub struct PasscodeEntry {
    pub email: String,
    pub hash: SecretString,
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::User
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub engines: EngineConfig,
    pub pricing: PricingConfig,
    pub turns: TurnsConfig,
    /// Send an X-Ray subsegment per provider call (`HELIX_XRAY=on`; Lambda's active tracing).
    pub xray_enabled: bool,
    pub reconcile: ReconcileConfig,
    pub seed: SeedConfig,
    pub avatars: AvatarConfig,
    pub embeddings: EmbeddingConfig,
    pub memory: MemoryConfig,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub host: IpAddr,
    pub port: u16,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// A pooled connection idle at least this long is pinged before it is lent out.
    pub ping_after_idle: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub jwt_secret: SecretString,
    pub token_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub passcodes: Vec<PasscodeEntry>,
    /// Failed passcode attempts one source IP may make within `failure_window`.
    pub max_failures: u32,
    pub failure_window: Duration,
}

/// Provider credentials, endpoints and call resilience.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub openai_api_key: Option<SecretString>,
    pub anthropic_api_key: Option<SecretString>,
    pub openai_base_url: String,
    pub anthropic_base_url: String,
    /// An OpenAI-compatible server for `local`; without one the in-process model answers.
    pub local_base_url: Option<String>,
    pub local_chat: LocalChatConfig,
    /// Overrides Bedrock's endpoint; region and credentials come from the AWS configuration.
    pub bedrock_endpoint: Option<String>,
    /// An AWS region (or a Bedrock endpoint) is set: without one the SDK cannot call Bedrock.
    pub bedrock_reachable: bool,
    /// Anthropic requires `max_tokens`; this is sent when a turn does not set one.
    pub anthropic_default_max_tokens: u32,
    pub retry: RetryPolicy,
}

/// Where prices come from: the table compiled in, or a replacement file; local models' price.
#[derive(Debug, Clone)]
pub struct PricingConfig {
    pub override_file: Option<PathBuf>,
    pub local_price: Price,
}

#[derive(Debug, Clone)]
pub struct TurnsConfig {
    /// Output tokens asked for when neither the turn nor its personality says.
    pub default_max_tokens: u32,
}

#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// Correct a balance that drifted from its ledger (with an audit row), not just report it.
    pub repair: bool,
    /// Idempotency keys older than this are forgotten.
    pub idempotency_retention: Duration,
}

#[derive(Debug, Clone)]
pub struct SeedConfig {
    pub opening_budget_cents: i64,
}

/// Persona avatars: a private S3 bucket reached only through short-lived presigned URLs.
#[derive(Debug, Clone)]
pub struct AvatarConfig {
    /// Without a bucket the avatar route answers 503 and personas show no avatar.
    pub bucket: Option<String>,
    /// The largest upload a presigned URL allows; S3 enforces it through the signed Content-Length.
    pub max_bytes: u64,
    pub upload_ttl: Duration,
    pub download_ttl: Duration,
}

/// Avatars are small pictures; S3 would take 5 GiB in one PUT, so Helix caps what it signs.
pub const MAX_AVATAR_BYTES_LIMIT: u64 = 10 * 1024 * 1024;

/// Where configuration values come from, highest precedence first.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    layers: Vec<HashMap<String, String>>,
}

impl Sources {
    /// The process environment, then the AWS secret named by `HELIX_SECRET_ID` (if set), then
    /// the `.env` file in the working directory (if any).
    pub async fn from_process() -> Result<Self, ConfigError> {
        let mut sources = Self::default().with_layer(std::env::vars().collect());
        if let Some(secret_id) = sources.get("HELIX_SECRET_ID").map(str::to_owned) {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_secretsmanager::Client::new(&sdk);
            sources = sources.with_layer(secrets::fetch_layer(&client, &secret_id).await?);
        }
        Ok(sources.with_layer(read_dotenv(Path::new(".env"))?))
    }

    /// Adds a layer below the existing ones (lower precedence).
    pub fn with_layer(mut self, layer: HashMap<String, String>) -> Self {
        self.layers.push(layer);
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.layers
            .iter()
            .find_map(|layer| layer.get(key))
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let to_error = |reason: String| ConfigError::DotEnv {
        path: path.display().to_string(),
        reason,
    };
    dotenvy::from_path_iter(path)
        .map_err(|e| to_error(e.to_string()))?
        .map(|item| item.map_err(|e| to_error(e.to_string())))
        .collect()
}

impl Config {
    /// Loads from the process environment, the AWS secret (in AWS) and `.env`.
    pub async fn load() -> Result<Self, ConfigError> {
        Self::from_sources(&Sources::from_process().await?)
    }

    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let environment = environment(sources)?;
        let embeddings = models::embeddings(sources)?;
        let config = Config {
            environment,
            http: HttpConfig {
                host: parse_or(sources, "HELIX_HOST", IpAddr::from([127, 0, 0, 1]))?,
                port: match sources.get("HELIX_PORT") {
                    Some(_) => parse_or(sources, "HELIX_PORT", 3001)?,
                    None => parse_or(sources, "PORT", 3001)?,
                },
                max_body_bytes: parse_or(sources, "HELIX_MAX_BODY_BYTES", 1024 * 1024)?,
            },
            database: DatabaseConfig {
                url: SecretString::from(sources.get("DATABASE_URL").ok_or(
                    ConfigError::Missing {
                        key: "DATABASE_URL",
                    },
                )?),
                max_connections: parse_or(sources, "HELIX_DB_MAX_CONNECTIONS", 10)?,
                acquire_timeout: duration_or(
                    sources,
                    "HELIX_DB_ACQUIRE_TIMEOUT",
                    Duration::from_secs(5),
                )?,
                ping_after_idle: duration_or(
                    sources,
                    "HELIX_DB_PING_AFTER_IDLE",
                    Duration::from_secs(10),
                )?,
            },
            log: LogConfig {
                // llama.cpp narrates every model load at info level (hundreds of lines).
                filter: sources
                    .get("HELIX_LOG")
                    .unwrap_or("info,llama-cpp-2=warn")
                    .to_owned(),
                format: log_format(sources)?,
            },
            auth: auth(sources, environment)?,
            engines: engines(sources)?,
            pricing: PricingConfig {
                override_file: sources.get("HELIX_PRICING_FILE").map(PathBuf::from),
                local_price: Price {
                    input_per_mtok_micros: parse_or(
                        sources,
                        "HELIX_LOCAL_INPUT_PER_MTOK_MICROS",
                        0,
                    )?,
                    cached_input_per_mtok_micros: parse_or(
                        sources,
                        "HELIX_LOCAL_CACHED_INPUT_PER_MTOK_MICROS",
                        0,
                    )?,
                    output_per_mtok_micros: parse_or(
                        sources,
                        "HELIX_LOCAL_OUTPUT_PER_MTOK_MICROS",
                        0,
                    )?,
                },
            },
            turns: TurnsConfig {
                default_max_tokens: parse_or(sources, "HELIX_DEFAULT_MAX_TOKENS", 1024)?,
            },
            xray_enabled: match sources.get("HELIX_XRAY") {
                None | Some("off") => false,
                Some("on") => true,
                Some(_) => return Err(invalid("HELIX_XRAY", "expected on or off")),
            },
            reconcile: ReconcileConfig {
                repair: match sources.get("HELIX_RECONCILE_REPAIR") {
                    None | Some("off") => false,
                    Some("on") => true,
                    Some(_) => return Err(invalid("HELIX_RECONCILE_REPAIR", "expected on or off")),
                },
                idempotency_retention: duration_or(
                    sources,
                    "HELIX_IDEMPOTENCY_RETENTION",
                    Duration::from_secs(24 * 3600),
                )?,
            },
            seed: SeedConfig {
                opening_budget_cents: parse_or(sources, "HELIX_SEED_BUDGET_CENTS", 1_000)?,
            },
            avatars: AvatarConfig {
                bucket: sources
                    .get("HELIX_AVATAR_BUCKET")
                    .map(|b| b.trim().to_owned()),
                max_bytes: parse_or(sources, "HELIX_AVATAR_MAX_BYTES", 2 * 1024 * 1024)?,
                upload_ttl: duration_or(
                    sources,
                    "HELIX_AVATAR_UPLOAD_TTL",
                    Duration::from_secs(5 * 60),
                )?,
                download_ttl: duration_or(
                    sources,
                    "HELIX_AVATAR_DOWNLOAD_TTL",
                    Duration::from_secs(15 * 60),
                )?,
            },
            memory: models::memory(sources, &embeddings)?,
            embeddings,
        };
        config.check_bounds()?;
        Ok(config)
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }

    /// True when running on the development secrets the README publishes.
    pub fn uses_development_secrets(&self) -> bool {
        self.auth.jwt_secret.expose_secret() == DEV_JWT_SECRET
            || self.auth.passcodes.iter().any(is_development_passcode)
    }

    fn check_bounds(&self) -> Result<(), ConfigError> {
        if self.database.max_connections == 0 {
            return Err(invalid("HELIX_DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.http.max_body_bytes == 0 {
            return Err(invalid("HELIX_MAX_BODY_BYTES", "must be at least 1"));
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(30 * 24 * 3600))
            .contains(&self.auth.token_ttl)
        {
            return Err(invalid("TOKEN_TTL", "must be between 1m and 30days"));
        }
        if !(1..=32_768).contains(&self.turns.default_max_tokens) {
            return Err(invalid("HELIX_DEFAULT_MAX_TOKENS", "must be 1 to 32768"));
        }
        if self.auth.max_failures == 0 {
            return Err(invalid("HELIX_AUTH_MAX_FAILURES", "must be at least 1"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600))
            .contains(&self.auth.failure_window)
        {
            return Err(invalid(
                "HELIX_AUTH_FAILURE_WINDOW",
                "must be between 1s and 24h",
            ));
        }
        if self.seed.opening_budget_cents < 0 {
            return Err(invalid("HELIX_SEED_BUDGET_CENTS", "must not be negative"));
        }
        self.avatars.check_bounds()?;
        Ok(())
    }
}

impl AvatarConfig {
    fn check_bounds(&self) -> Result<(), ConfigError> {
        if let Some(bucket) = &self.bucket
            && !is_bucket_name(bucket)
        {
            return Err(invalid(
                "HELIX_AVATAR_BUCKET",
                "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens",
            ));
        }
        if !(1..=MAX_AVATAR_BYTES_LIMIT).contains(&self.max_bytes) {
            return Err(invalid(
                "HELIX_AVATAR_MAX_BYTES",
                format!("must be 1 to {MAX_AVATAR_BYTES_LIMIT} (10 MiB)"),
            ));
        }
        // Presigned URLs die with the credentials that signed them (a Lambda role's last hours),
        // so long lifetimes would only promise what S3 may not keep.
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.upload_ttl) {
            return Err(invalid(
                "HELIX_AVATAR_UPLOAD_TTL",
                "must be between 1s and 1h",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(12 * 3600)).contains(&self.download_ttl) {
            return Err(invalid(
                "HELIX_AVATAR_DOWNLOAD_TTL",
                "must be between 1s and 12h",
            ));
        }
        Ok(())
    }
}

/// S3's rules, loosely: a typo (an ARN, a URL, upper case) is caught at start, not at first upload.
fn is_bucket_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&name.len())
        && name.chars().all(allowed)
        && name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric)
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn environment(sources: &Sources) -> Result<Environment, ConfigError> {
    match sources.get("HELIX_ENV") {
        Some("development") => Ok(Environment::Development),
        Some("production") => Ok(Environment::Production),
        Some(_) => Err(invalid("HELIX_ENV", "expected development or production")),
        // Inside Lambda nothing defaults to the published development secrets.
        None if sources.get("AWS_LAMBDA_FUNCTION_NAME").is_some() => Ok(Environment::Production),
        None => Ok(Environment::Development),
    }
}

fn log_format(sources: &Sources) -> Result<LogFormat, ConfigError> {
    match sources.get("HELIX_LOG_FORMAT") {
        None | Some("json") => Ok(LogFormat::Json),
        Some("pretty") => Ok(LogFormat::Pretty),
        Some(_) => Err(invalid("HELIX_LOG_FORMAT", "expected json or pretty")),
    }
}

fn parse_or<T: std::str::FromStr>(
    sources: &Sources,
    key: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match sources.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| invalid(key, e.to_string())),
    }
}

fn duration_or(
    sources: &Sources,
    key: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match sources.get(key) {
        None => Ok(default),
        Some(raw) => humantime::parse_duration(raw.trim())
            .map_err(|e| invalid(key, format!("{e} (expected e.g. 30s, 15m, 6h)"))),
    }
}

fn engines(sources: &Sources) -> Result<EngineConfig, ConfigError> {
    let secret = |key: &str| sources.get(key).map(SecretString::from);
    let url = |key: &'static str, default: &str| -> Result<String, ConfigError> {
        let value = sources
            .get(key)
            .unwrap_or(default)
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if value.starts_with("http://") || value.starts_with("https://") {
            Ok(value)
        } else {
            Err(invalid(key, "must be an http:// or https:// URL"))
        }
    };
    let defaults = RetryPolicy::default();
    let retry = RetryPolicy {
        max_attempts: parse_or(sources, "HELIX_ENGINE_MAX_ATTEMPTS", defaults.max_attempts)?,
        attempt_timeout: duration_or(sources, "HELIX_ENGINE_TIMEOUT", defaults.attempt_timeout)?,
        deadline: duration_or(sources, "HELIX_ENGINE_DEADLINE", defaults.deadline)?,
        ..defaults
    };
    if !(1..=10).contains(&retry.max_attempts) {
        return Err(invalid("HELIX_ENGINE_MAX_ATTEMPTS", "must be 1 to 10"));
    }
    if retry.attempt_timeout.is_zero() || retry.deadline < retry.attempt_timeout {
        return Err(invalid(
            "HELIX_ENGINE_DEADLINE",
            "must be at least HELIX_ENGINE_TIMEOUT, which must be positive",
        ));
    }
    Ok(EngineConfig {
        openai_api_key: secret("OPENAI_API_KEY"),
        anthropic_api_key: secret("ANTHROPIC_API_KEY"),
        openai_base_url: url("HELIX_OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL)?,
        anthropic_base_url: url("HELIX_ANTHROPIC_BASE_URL", DEFAULT_ANTHROPIC_BASE_URL)?,
        local_base_url: sources
            .get("HELIX_LOCAL_BASE_URL")
            .map(|_| url("HELIX_LOCAL_BASE_URL", ""))
            .transpose()?,
        local_chat: models::local_chat(sources)?,
        bedrock_endpoint: sources
            .get("HELIX_BEDROCK_ENDPOINT")
            .map(|_| url("HELIX_BEDROCK_ENDPOINT", ""))
            .transpose()?,
        bedrock_reachable: ["AWS_REGION", "AWS_DEFAULT_REGION", "HELIX_BEDROCK_ENDPOINT"]
            .iter()
            .any(|key| sources.get(key).is_some()),
        anthropic_default_max_tokens: parse_or(sources, "HELIX_ANTHROPIC_MAX_TOKENS", 1024)?,
        retry,
    })
}

fn auth(sources: &Sources, environment: Environment) -> Result<AuthConfig, ConfigError> {
    let jwt_secret = match (sources.get("JWT_SECRET"), environment) {
        (Some(secret), _) => SecretString::from(secret),
        (None, Environment::Development) => SecretString::from(DEV_JWT_SECRET),
        (None, Environment::Production) => return Err(ConfigError::Missing { key: "JWT_SECRET" }),
    };
    let passcodes = passcodes(sources, environment)?;
    if environment == Environment::Production {
        check_production_secret(&jwt_secret)?;
        check_production_passcodes(&passcodes)?;
    }
    Ok(AuthConfig {
        jwt_secret,
        token_ttl: duration_or(sources, "TOKEN_TTL", Duration::from_secs(6 * 3600))?,
        issuer: sources
            .get("HELIX_JWT_ISSUER")
            .unwrap_or("helix")
            .to_owned(),
        audience: sources
            .get("HELIX_JWT_AUDIENCE")
            .unwrap_or("helix-api")
            .to_owned(),
        passcodes,
        max_failures: parse_or(sources, "HELIX_AUTH_MAX_FAILURES", 5)?,
        failure_window: duration_or(
            sources,
            "HELIX_AUTH_FAILURE_WINDOW",
            Duration::from_secs(15 * 60),
        )?,
    })
}

/// `MASTER_PASS_HASH` (an admin) and `FNBO_PASS_HASH` from the seed's `.env`, plus any number of
/// entries in `HELIX_PASSCODES` (a JSON list of `{email, hash, role?}`), so teams add passcodes
/// without code changes.
fn passcodes(
    sources: &Sources,
    environment: Environment,
) -> Result<Vec<PasscodeEntry>, ConfigError> {
    let dev = environment == Environment::Development;
    let named = [
        (
            "MASTER_PASS_HASH",
            "HELIX_MASTER_EMAIL",
            "master@helix.local",
            Role::Admin,
            DEV_MASTER_PASS_HASH,
        ),
        (
            "FNBO_PASS_HASH",
            "HELIX_FNBO_EMAIL",
            "fnbo@helix.local",
            Role::User,
            DEV_FNBO_PASS_HASH,
        ),
    ];
    let mut entries = Vec::new();
    for (hash_key, email_key, default_email, role, dev_hash) in named {
        let hash = match sources.get(hash_key) {
            Some(hash) => hash,
            None if dev => dev_hash,
            None => continue,
        };
        entries.push(PasscodeEntry {
            email: sources.get(email_key).unwrap_or(default_email).to_owned(),
            hash: SecretString::from(hash),
            role,
        });
    }
    if let Some(raw) = sources.get("HELIX_PASSCODES") {
        let extra: Vec<PasscodeEntry> = serde_json::from_str(raw).map_err(|e| {
            invalid(
                "HELIX_PASSCODES",
                format!("expected [{{\"email\",\"hash\",\"role\"?}}]: {e}"),
            )
        })?;
        entries.extend(extra);
    }
    for entry in &mut entries {
        entry.email = normalise_email(&entry.email).ok_or_else(|| {
            invalid(
                "HELIX_PASSCODES",
                format!("{:?} is not an email address", entry.email),
            )
        })?;
        if !looks_like_bcrypt(entry.hash.expose_secret()) {
            return Err(invalid(
                "HELIX_PASSCODES",
                format!("the hash for {} is not a bcrypt hash", entry.email),
            ));
        }
    }
    Ok(entries)
}

/// Lower-cased and trimmed; `None` unless it has a local part, an `@` and a domain.
pub fn normalise_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace);
    plausible.then_some(email)
}

fn looks_like_bcrypt(hash: &str) -> bool {
    let prefix_ok = ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| hash.starts_with(p));
    prefix_ok && hash.len() == 60
}

fn is_development_passcode(entry: &PasscodeEntry) -> bool {
    let hash = entry.hash.expose_secret();
    hash == DEV_MASTER_PASS_HASH || hash == DEV_FNBO_PASS_HASH
}

fn check_production_secret(secret: &SecretString) -> Result<(), ConfigError> {
    let secret = secret.expose_secret();
    let reason = if secret == DEV_JWT_SECRET {
        Some("it is the published development secret".to_owned())
    } else if secret.eq_ignore_ascii_case("change-me") {
        Some("it is the placeholder change-me".to_owned())
    } else if secret.len() < MIN_JWT_SECRET_BYTES {
        Some(format!("it must be at least {MIN_JWT_SECRET_BYTES} bytes"))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConfigError::Insecure {
            key: "JWT_SECRET",
            reason,
        }),
        None => Ok(()),
    }
}

fn check_production_passcodes(passcodes: &[PasscodeEntry]) -> Result<(), ConfigError> {
    if passcodes.is_empty() {
        return Err(ConfigError::Missing {
            key: "MASTER_PASS_HASH",
        });
    }
    if passcodes.iter().any(is_development_passcode) {
        return Err(ConfigError::Insecure {
            key: "MASTER_PASS_HASH",
            reason: "a published development passcode is configured".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        Sources::default().with_layer(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    const DB: (&str, &str) = (
        "DATABASE_URL",
        "postgres://helix:s3cr3t-db-pw@localhost/helix",
    );
    const STRONG: &str = "a-production-secret-that-is-long-enough-1234";
    const OTHER_HASH: &str = "$2b$10$0123456789012345678901uAbCdEfGhIjKlMnOpQrStUvWxYz0123";

    #[test]
    fn development_defaults_need_only_a_database_url() {
        let config = Config::from_sources(&sources(&[DB])).unwrap();
        assert!(config.is_development());
        assert_eq!(config.http.port, 3001);
        assert_eq!(config.auth.token_ttl, Duration::from_secs(6 * 3600));
        assert_eq!(config.auth.passcodes.len(), 2);
        assert_eq!(config.auth.passcodes[0].role, Role::Admin);
        assert!(config.uses_development_secrets());
    }

    #[test]
    fn missing_database_url_is_named() {
        let err = Config::from_sources(&sources(&[])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let config = Config::from_sources(&sources(&[
            DB,
            ("JWT_SECRET", STRONG),
            ("MASTER_PASS_HASH", OTHER_HASH),
        ]))
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t-db-pw"), "{debug}");
        assert!(!debug.contains(STRONG), "{debug}");
        assert!(!debug.contains(OTHER_HASH), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }

    #[test]
    fn earlier_layers_win_over_later_ones() {
        let s = sources(&[DB, ("HELIX_PORT", "4000")])
            .with_layer([("HELIX_PORT".to_owned(), "5000".to_owned())].into());
        assert_eq!(Config::from_sources(&s).unwrap().http.port, 4000);
    }

    #[test]
    fn port_falls_back_to_the_seed_port_key() {
        let config = Config::from_sources(&sources(&[DB, ("PORT", "4100")])).unwrap();
        assert_eq!(config.http.port, 4100);
    }

    #[test]
    fn lambda_defaults_to_production_and_refuses_missing_secrets() {
        let err = Config::from_sources(&sources(&[DB, ("AWS_LAMBDA_FUNCTION_NAME", "turns")]))
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::Missing { key: "JWT_SECRET" }),
            "{err}"
        );
    }

    #[test]
    fn production_refuses_weak_or_published_jwt_secrets() {
        for weak in ["change-me", "short", DEV_JWT_SECRET] {
            let err = Config::from_sources(&sources(&[
                DB,
                ("HELIX_ENV", "production"),
                ("JWT_SECRET", weak),
                ("MASTER_PASS_HASH", OTHER_HASH),
            ]))
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Insecure {
                        key: "JWT_SECRET",
                        ..
                    }
                ),
                "{weak}: {err}"
            );
            assert!(
                !err.to_string().contains(weak) || weak == "change-me",
                "{err}"
            );
        }
    }

    #[test]
    fn production_refuses_development_passcodes_and_requires_one() {
        let base = [DB, ("HELIX_ENV", "production"), ("JWT_SECRET", STRONG)];
        let err = Config::from_sources(&sources(&base)).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }), "{err}");
        let mut with_dev = base.to_vec();
        with_dev.push(("MASTER_PASS_HASH", DEV_MASTER_PASS_HASH));
        let err = Config::from_sources(&sources(&with_dev)).unwrap_err();
        assert!(matches!(err, ConfigError::Insecure { .. }), "{err}");
    }

    #[test]
    fn production_accepts_strong_settings() {
        let config = Config::from_sources(&sources(&[
            DB,
            ("HELIX_ENV", "production"),
            ("JWT_SECRET", STRONG),
            ("MASTER_PASS_HASH", OTHER_HASH),
            ("TOKEN_TTL", "2h"),
        ]))
        .unwrap();
        assert!(!config.uses_development_secrets());
        assert_eq!(config.auth.token_ttl, Duration::from_secs(7200));
        assert_eq!(config.auth.passcodes.len(), 1);
    }

    #[test]
    fn extra_passcodes_come_from_a_json_list() {
        let list =
            format!(r#"[{{"email":" Ops@Example.COM ","hash":"{OTHER_HASH}","role":"admin"}}]"#);
        let config = Config::from_sources(&sources(&[DB, ("HELIX_PASSCODES", &list)])).unwrap();
        let extra = config.auth.passcodes.last().unwrap();
        assert_eq!(extra.email, "ops@example.com");
        assert_eq!(extra.role, Role::Admin);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("HELIX_PORT", "eighty"),
            ("TOKEN_TTL", "forever"),
            ("TOKEN_TTL", "1s"),
            ("HELIX_ENV", "staging"),
            ("HELIX_LOG_FORMAT", "xml"),
            ("HELIX_DB_MAX_CONNECTIONS", "0"),
            ("MASTER_PASS_HASH", "not-a-hash"),
            ("HELIX_PASSCODES", "{"),
        ];
        for (key, value) in cases {
            let err = Config::from_sources(&sources(&[DB, (key, value)])).unwrap_err();
            let shown = err.to_string();
            let named = shown.contains(key)
                || (key == "MASTER_PASS_HASH" && shown.contains("HELIX_PASSCODES"));
            assert!(named, "{key}={value}: {shown}");
        }
    }

    #[test]
    fn the_default_log_filter_parses_and_quietens_llama_cpp() {
        let config = Config::from_sources(&sources(&[DB])).unwrap();
        assert_eq!(config.log.filter, "info,llama-cpp-2=warn");
        tracing_subscriber::EnvFilter::try_new(&config.log.filter).unwrap();
    }

    #[test]
    fn provider_keys_are_optional_and_never_printed() {
        let config = Config::from_sources(&sources(&[DB])).unwrap();
        assert!(config.engines.openai_api_key.is_none());
        assert_eq!(
            config.engines.local_base_url, None,
            "the in-process model by default"
        );
        let config = Config::from_sources(&sources(&[
            DB,
            ("OPENAI_API_KEY", "sk-live-abcdef"),
            ("HELIX_OPENAI_BASE_URL", "http://127.0.0.1:9999/v1/"),
        ]))
        .unwrap();
        assert_eq!(config.engines.openai_base_url, "http://127.0.0.1:9999/v1");
        assert!(!format!("{config:?}").contains("sk-live-abcdef"));
    }

    #[test]
    fn engine_settings_are_validated() {
        for (key, value) in [
            ("HELIX_LOCAL_BASE_URL", "localhost:11434"),
            ("HELIX_ENGINE_MAX_ATTEMPTS", "0"),
            ("HELIX_ENGINE_DEADLINE", "1s"),
        ] {
            let err = Config::from_sources(&sources(&[DB, (key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalise_email(" A@B.io "), Some("a@b.io".to_owned()));
        assert_eq!(normalise_email("nobody"), None);
        assert_eq!(normalise_email("a@b@c"), None);
        assert_eq!(normalise_email("@b.io"), None);
    }

    #[test]
    fn avatars_default_to_off_with_2_mib_5m_uploads_and_15m_downloads() {
        let avatars = Config::from_sources(&sources(&[DB])).unwrap().avatars;
        assert_eq!(avatars.bucket, None);
        assert_eq!(avatars.max_bytes, 2 * 1024 * 1024);
        assert_eq!(avatars.upload_ttl, Duration::from_secs(300));
        assert_eq!(avatars.download_ttl, Duration::from_secs(900));
    }

    #[test]
    fn avatar_settings_within_bounds_are_accepted() {
        let avatars = Config::from_sources(&sources(&[
            DB,
            ("HELIX_AVATAR_BUCKET", "helix-avatars.prod-1"),
            ("HELIX_AVATAR_MAX_BYTES", "10485760"),
            ("HELIX_AVATAR_UPLOAD_TTL", "1h"),
            ("HELIX_AVATAR_DOWNLOAD_TTL", "12h"),
        ]))
        .unwrap()
        .avatars;
        assert_eq!(avatars.bucket.as_deref(), Some("helix-avatars.prod-1"));
        assert_eq!(avatars.max_bytes, MAX_AVATAR_BYTES_LIMIT);
        assert_eq!(avatars.download_ttl, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn avatar_settings_out_of_bounds_name_their_key() {
        let cases = [
            ("HELIX_AVATAR_BUCKET", "Helix_Avatars"),
            ("HELIX_AVATAR_BUCKET", "arn:aws:s3:::helix"),
            ("HELIX_AVATAR_BUCKET", "ab"),
            ("HELIX_AVATAR_MAX_BYTES", "0"),
            ("HELIX_AVATAR_MAX_BYTES", "10485761"),
            ("HELIX_AVATAR_MAX_BYTES", "two"),
            ("HELIX_AVATAR_UPLOAD_TTL", "2h"),
            ("HELIX_AVATAR_UPLOAD_TTL", "0s"),
            ("HELIX_AVATAR_DOWNLOAD_TTL", "13h"),
            ("HELIX_AVATAR_DOWNLOAD_TTL", "soon"),
        ];
        for (key, value) in cases {
            let err = Config::from_sources(&sources(&[DB, (key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn the_published_development_hashes_match_the_published_passcodes() {
        assert!(bcrypt::verify(DEV_MASTER_PASSCODE, DEV_MASTER_PASS_HASH).unwrap());
        assert!(bcrypt::verify(DEV_FNBO_PASSCODE, DEV_FNBO_PASS_HASH).unwrap());
    }
}
