//! Typed configuration, read once at start: process environment over the AWS secret over `.env`
//! over development defaults. Each subsystem parses and checks its own settings; this module only
//! loads the sources and composes them. Secrets are `SecretString`s, so no `Debug` can print them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use crate::auth::settings::AuthConfig;
use crate::avatars::AvatarConfig;
use crate::budget::reconcile::ReconcileConfig;
use crate::budget::rules::CallLimits;
use crate::conversation::ConversationSettings;
use crate::db::DatabaseConfig;
use crate::db::seed::SeedConfig;
use crate::embedding::settings::EmbeddingConfig;
use crate::engine::settings::EngineConfig;
use crate::memory::settings::MemoryConfig;
use crate::orchestrator::TurnsConfig;
use crate::personality::PersonasConfig;
use crate::pricing::PricingConfig;
use crate::secrets;
use crate::settings::{ConfigError, Environment, Sources, invalid, parse_or, switch};
use crate::telemetry::LogConfig;

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
    pub call_limits: CallLimits,
    pub personas: PersonasConfig,
    /// Send an X-Ray subsegment per provider call (`HELIX_XRAY=on`; Lambda's active tracing).
    pub xray_enabled: bool,
    pub reconcile: ReconcileConfig,
    pub seed: SeedConfig,
    pub avatars: AvatarConfig,
    pub embeddings: EmbeddingConfig,
    pub memory: MemoryConfig,
    pub conversations: ConversationSettings,
}

/// Where the local gateway listens, the largest request body any function accepts, and the
/// secret CloudFront proves itself with.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub host: IpAddr,
    pub port: u16,
    pub max_body_bytes: usize,
    /// `HELIX_EDGE_SECRET`: the `x-helix-edge-secret` CloudFront adds to every API request; only a
    /// request carrying it may name its viewer's IP (`x-helix-viewer-ip`).
    pub edge_secret: Option<SecretString>,
}

/// An edge secret shorter than this could be guessed.
const MIN_EDGE_SECRET_CHARS: usize = 32;

impl HttpConfig {
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let config = HttpConfig {
            host: parse_or(sources, "HELIX_HOST", IpAddr::from([127, 0, 0, 1]))?,
            port: match sources.get("HELIX_PORT") {
                Some(_) => parse_or(sources, "HELIX_PORT", 3001)?,
                None => parse_or(sources, "PORT", 3001)?,
            },
            max_body_bytes: parse_or(sources, "HELIX_MAX_BODY_BYTES", 1024 * 1024)?,
            edge_secret: sources
                .get("HELIX_EDGE_SECRET")
                .map(|secret| SecretString::from(secret.to_owned())),
        };
        if config.max_body_bytes == 0 {
            return Err(invalid("HELIX_MAX_BODY_BYTES", "must be at least 1"));
        }
        if let Some(secret) = &config.edge_secret
            && secret.expose_secret().chars().count() < MIN_EDGE_SECRET_CHARS
        {
            return Err(invalid(
                "HELIX_EDGE_SECRET",
                format!("must be at least {MIN_EDGE_SECRET_CHARS} characters"),
            ));
        }
        Ok(config)
    }
}

/// The process environment, then the AWS secret named by `HELIX_SECRET_ID` (if set), then the
/// `.env` file in the working directory (if any).
pub async fn process_sources() -> Result<Sources, ConfigError> {
    let mut sources = Sources::default().with_layer(std::env::vars().collect());
    if let Some(secret_id) = sources.get("HELIX_SECRET_ID").map(str::to_owned) {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        sources = sources.with_layer(secrets::fetch_layer(&client, &secret_id).await?);
    }
    Ok(sources.with_layer(read_dotenv(Path::new(".env"))?))
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
        Self::from_sources(&process_sources().await?)
    }

    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let environment = Environment::from_sources(sources)?;
        let embeddings = EmbeddingConfig::from_sources(sources)?;
        Ok(Config {
            environment,
            http: HttpConfig::from_sources(sources)?,
            database: DatabaseConfig::from_sources(sources)?,
            log: LogConfig::from_sources(sources)?,
            auth: AuthConfig::from_sources(sources, environment)?,
            engines: EngineConfig::from_sources(sources)?,
            pricing: PricingConfig::from_sources(sources)?,
            turns: TurnsConfig::from_sources(sources)?,
            call_limits: CallLimits::from_sources(sources)?,
            personas: PersonasConfig::from_sources(sources)?,
            xray_enabled: switch(sources, "HELIX_XRAY")?,
            reconcile: ReconcileConfig::from_sources(sources)?,
            seed: SeedConfig::from_sources(sources)?,
            avatars: AvatarConfig::from_sources(sources)?,
            memory: MemoryConfig::from_sources(sources, &embeddings)?,
            conversations: ConversationSettings::from_sources(sources)?,
            embeddings,
        })
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }

    /// True when running on the development secrets the README publishes.
    pub fn uses_development_secrets(&self) -> bool {
        self.auth.uses_development_secrets()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::settings::*;
    use crate::avatars::MAX_AVATAR_BYTES_LIMIT;
    use crate::user::UserRole;

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
        assert_eq!(config.auth.passcodes[0].role, UserRole::Admin);
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
        assert_eq!(extra.role, UserRole::Admin);
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
