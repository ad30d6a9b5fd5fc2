//! Who may sign in and how tokens are made: the JWT secret and lifetime, the passcodes (bcrypt
//! hashes) with the user each signs in as, and the failed-attempt throttle's policy. Production
//! refuses the published development secrets.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::auth::backoff::ThrottlePolicy;
use crate::settings::{ConfigError, Environment, Sources, duration_or, invalid, parse_or};
use crate::user::UserRole;

/// Development-only JWT secret: documented in the README, refused in production.
pub const DEV_JWT_SECRET: &str = "helix-development-only-jwt-secret-never-use-in-production";
/// Development-only passcodes (README) and their bcrypt hashes (cost 10), refused in production.
pub const DEV_MASTER_PASSCODE: &str = "helix-master-dev";
pub const DEV_FNBO_PASSCODE: &str = "helix-fnbo-dev";
pub(crate) const DEV_MASTER_PASS_HASH: &str =
    "$2b$10$xu7..Du13.PZcOt4eM8evu3h4mrf47R2.nQ7WCYVcwKqjhSZfpiWC";
pub(crate) const DEV_FNBO_PASS_HASH: &str =
    "$2b$10$Q/gIgYZcBAgbadnLKr2zeOY85v5yDnn9sOWCsY9V.Z2d53E2uci2a";

const MIN_JWT_SECRET_BYTES: usize = 32;

/// One way in: a bcrypt hash of a passcode and the user it signs in as.
#[derive(Debug, Clone, Deserialize)]
pub struct PasscodeEntry {
    pub email: String,
    pub hash: SecretString,
    #[serde(default = "default_role")]
    pub role: UserRole,
}

fn default_role() -> UserRole {
    UserRole::User
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub jwt_secret: SecretString,
    pub token_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub passcodes: Vec<PasscodeEntry>,
    /// How failed sign-ins slow guessing down (per source, and across all of them).
    pub throttle: ThrottlePolicy,
}

impl AuthConfig {
    pub fn from_sources(sources: &Sources, environment: Environment) -> Result<Self, ConfigError> {
        let jwt_secret = match (sources.get("JWT_SECRET"), environment) {
            (Some(secret), _) => SecretString::from(secret),
            (None, Environment::Development) => SecretString::from(DEV_JWT_SECRET),
            (None, Environment::Production) => {
                return Err(ConfigError::Missing { key: "JWT_SECRET" });
            }
        };
        let passcodes = passcodes(sources, environment)?;
        if environment == Environment::Production {
            check_production_secret(&jwt_secret)?;
            check_production_passcodes(&passcodes)?;
        }
        let config = AuthConfig {
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
            throttle: throttle_policy(sources)?,
        };
        config.check_bounds()?;
        Ok(config)
    }

    /// True when signing in with the development secrets the README publishes.
    pub fn uses_development_secrets(&self) -> bool {
        self.jwt_secret.expose_secret() == DEV_JWT_SECRET
            || self.passcodes.iter().any(is_development_passcode)
    }

    fn check_bounds(&self) -> Result<(), ConfigError> {
        if !(Duration::from_secs(60)..=Duration::from_secs(30 * 24 * 3600))
            .contains(&self.token_ttl)
        {
            return Err(invalid("TOKEN_TTL", "must be between 1m and 30days"));
        }
        check_throttle_bounds(&self.throttle)
    }
}

/// `HELIX_AUTH_MAX_FAILURES`, the old lock-out threshold, still sets the free failures (the
/// failures before a source is slowed down) when the new key is not set.
fn throttle_policy(sources: &Sources) -> Result<ThrottlePolicy, ConfigError> {
    let free_failures = match sources.get("HELIX_AUTH_FREE_FAILURES") {
        Some(_) => parse_or(sources, "HELIX_AUTH_FREE_FAILURES", 5)?,
        None => parse_or(sources, "HELIX_AUTH_MAX_FAILURES", 5)?,
    };
    Ok(ThrottlePolicy {
        free_failures,
        backoff_base: duration_or(sources, "HELIX_AUTH_BACKOFF_BASE", Duration::from_secs(1))?,
        backoff_max: duration_or(sources, "HELIX_AUTH_BACKOFF_MAX", Duration::from_secs(300))?,
        window: duration_or(
            sources,
            "HELIX_AUTH_FAILURE_WINDOW",
            Duration::from_secs(3600),
        )?,
        global_max_failures: parse_or(sources, "HELIX_AUTH_GLOBAL_MAX_FAILURES", 100)?,
        known_source_ttl: duration_or(
            sources,
            "HELIX_AUTH_KNOWN_SOURCE_TTL",
            Duration::from_secs(30 * 86400),
        )?,
    })
}

fn check_throttle_bounds(policy: &ThrottlePolicy) -> Result<(), ConfigError> {
    if !(1..=1000).contains(&policy.free_failures) {
        return Err(invalid("HELIX_AUTH_FREE_FAILURES", "must be 1 to 1000"));
    }
    if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&policy.backoff_base) {
        return Err(invalid(
            "HELIX_AUTH_BACKOFF_BASE",
            "must be between 100ms and 1m",
        ));
    }
    if !(policy.backoff_base..=Duration::from_secs(24 * 3600)).contains(&policy.backoff_max) {
        return Err(invalid(
            "HELIX_AUTH_BACKOFF_MAX",
            "must be between HELIX_AUTH_BACKOFF_BASE and 24h",
        ));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&policy.window) {
        return Err(invalid(
            "HELIX_AUTH_FAILURE_WINDOW",
            "must be between 1s and 24h",
        ));
    }
    if !(Duration::from_secs(3600)..=Duration::from_secs(365 * 86400))
        .contains(&policy.known_source_ttl)
    {
        return Err(invalid(
            "HELIX_AUTH_KNOWN_SOURCE_TTL",
            "must be between 1h and 365days",
        ));
    }
    let one_source = policy.max_source_failures_per_window();
    if u64::from(policy.global_max_failures) <= one_source {
        return Err(invalid(
            "HELIX_AUTH_GLOBAL_MAX_FAILURES",
            format!(
                "must be above {one_source}, the most failures one source can make within \
                 HELIX_AUTH_FAILURE_WINDOW under this back-off: else one address could close \
                 sign-in for every other"
            ),
        ));
    }
    Ok(())
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
            UserRole::Admin,
            DEV_MASTER_PASS_HASH,
        ),
        (
            "FNBO_PASS_HASH",
            "HELIX_FNBO_EMAIL",
            "fnbo@helix.local",
            UserRole::User,
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
