//! Brute-force protection for passcode sign-in, counted in Postgres because Lambda instances share
//! nothing else: failures per source (`auth_failures`, whose `source_ip` holds the source key), the
//! sources that signed in recently (`auth_known_sources`), and the rules of `auth::backoff`.

use std::time::Duration;

use sqlx::PgPool;

use crate::auth::backoff::{Observed, ThrottlePolicy, Verdict, source_key};

/// An attempt counted against its source before the passcode is checked; forgiven on success.
#[derive(Debug)]
pub struct Attempt {
    id: i64,
    source_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// This source failed recently and must wait.
    Backoff,
    /// Failures across every source reached the ceiling, and this source has not signed in before.
    GlobalCeiling,
}

impl ThrottleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::Backoff => "backoff",
            ThrottleReason::GlobalCeiling => "global_ceiling",
        }
    }
}

#[derive(Debug)]
pub enum Admission {
    Admitted(Attempt),
    /// Refused without checking the passcode (and not counted as a failure).
    Throttled {
        retry_after_secs: u64,
        reason: ThrottleReason,
    },
}

pub struct Throttle<'a> {
    pool: &'a PgPool,
    policy: &'a ThrottlePolicy,
}

impl<'a> Throttle<'a> {
    pub fn new(pool: &'a PgPool, policy: &'a ThrottlePolicy) -> Self {
        Throttle { pool, policy }
    }

    /// Records the attempt as a failure up front, so concurrent guesses all count against each
    /// other; a refused attempt's row is removed again (waiting costs no more waiting).
    pub async fn begin(&self, source_ip: &str) -> Result<Admission, sqlx::Error> {
        let key = source_key(source_ip);
        let window_secs = self.policy.window.as_secs_f64();
        let id: i64 =
            sqlx::query_scalar("INSERT INTO auth_failures (source_ip) VALUES ($1) RETURNING id")
                .bind(&key)
                .fetch_one(self.pool)
                .await?;
        let (source_failures, since_last_secs, global_failures, known_source): (
            i64,
            Option<f64>,
            i64,
            bool,
        ) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE source_ip = $1),
                    EXTRACT(EPOCH FROM clock_timestamp()
                        - max(failed_at) FILTER (WHERE source_ip = $1))::float8,
                    count(*),
                    EXISTS (SELECT 1 FROM auth_known_sources
                            WHERE source_key = $1
                              AND last_success_at > clock_timestamp() - make_interval(secs => $4))
             FROM auth_failures
             WHERE failed_at > clock_timestamp() - make_interval(secs => $2) AND id <> $3",
        )
        .bind(&key)
        .bind(window_secs)
        .bind(id)
        .bind(self.policy.known_source_ttl.as_secs_f64())
        .fetch_one(self.pool)
        .await?;
        let seen = Observed {
            source_failures: count(source_failures),
            since_last_failure: since_last_secs
                .and_then(|secs| Duration::try_from_secs_f64(secs.max(0.0)).ok()),
            global_failures: count(global_failures),
            known_source,
        };
        let (wait, reason) = match self.policy.judge(&seen) {
            Verdict::Admit => {
                return Ok(Admission::Admitted(Attempt {
                    id,
                    source_key: key,
                }));
            }
            Verdict::Wait(wait) => (wait, ThrottleReason::Backoff),
            Verdict::GlobalCeiling => (
                self.until_under_ceiling(seen.global_failures).await?,
                ThrottleReason::GlobalCeiling,
            ),
        };
        self.remove(id).await?;
        Ok(Admission::Throttled {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            reason,
        })
    }

    /// How long until enough failures leave the window for the count to drop below the ceiling:
    /// with failures f0 ≤ f1 ≤ … (oldest first), when f[count − max] has gone.
    async fn until_under_ceiling(&self, global_failures: u32) -> Result<Duration, sqlx::Error> {
        let window_secs = self.policy.window.as_secs_f64();
        let offset = global_failures.saturating_sub(self.policy.global_max_failures);
        let remaining: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM failed_at + make_interval(secs => $1) - clock_timestamp())::float8
             FROM auth_failures
             WHERE failed_at > clock_timestamp() - make_interval(secs => $1)
             ORDER BY failed_at, id
             OFFSET $2 LIMIT 1",
        )
        .bind(window_secs)
        .bind(i64::from(offset))
        .fetch_optional(self.pool)
        .await?;
        Ok(remaining
            .and_then(|secs| Duration::try_from_secs_f64(secs.max(0.0)).ok())
            .unwrap_or(Duration::from_secs(1)))
    }

    /// The passcode was right: the attempt was not a failure, and its source is known from now on
    /// (it may sign in while distributed guessing holds the others back). Its earlier failures
    /// stay: a valid passcode must not buy more guesses at another.
    pub async fn succeed(&self, attempt: Attempt) -> Result<(), sqlx::Error> {
        sqlx::query(
            "WITH forgiven AS (DELETE FROM auth_failures WHERE id = $1)
             INSERT INTO auth_known_sources (source_key) VALUES ($2)
             ON CONFLICT ON CONSTRAINT auth_known_sources_pkey
             DO UPDATE SET last_success_at = clock_timestamp()",
        )
        .bind(attempt.id)
        .bind(&attempt.source_key)
        .execute(self.pool)
        .await?;
        Ok(())
    }

    /// The passcode was wrong: the failure stays counted; failures older than the window, and
    /// sources not seen signing in for `known_source_ttl`, go.
    pub async fn keep_failure(&self, _attempt: Attempt) -> Result<(), sqlx::Error> {
        sqlx::query(
            "WITH stale_sources AS (
                 DELETE FROM auth_known_sources
                 WHERE last_success_at < clock_timestamp() - make_interval(secs => $2)
             )
             DELETE FROM auth_failures WHERE failed_at < clock_timestamp() - make_interval(secs => $1)",
        )
        .bind(self.policy.window.as_secs_f64())
        .bind(self.policy.known_source_ttl.as_secs_f64())
        .execute(self.pool)
        .await?;
        Ok(())
    }

    async fn remove(&self, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM auth_failures WHERE id = $1")
            .bind(id)
            .execute(self.pool)
            .await?;
        Ok(())
    }
}

fn count(rows: i64) -> u32 {
    u32::try_from(rows).unwrap_or(u32::MAX)
}
