//! Resilience for provider calls: a timeout per attempt, an overall deadline, and bounded retries
//! with exponential backoff and full jitter that honour `Retry-After`. Every attempt is logged.

use std::time::{Duration, Instant};

use super::EngineError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub attempt_timeout: Duration,
    /// No attempt starts, and no wait is taken, past this much time since the first attempt.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the wait before attempt `attempt + 1` (exponential, capped).
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait after failed attempt `attempt`: full jitter under the backoff ceiling, but never
    /// less than the provider's `Retry-After`. `jitter` is in [0, 1].
    pub fn delay_after(&self, attempt: u32, error: &EngineError, jitter: f64) -> Duration {
        let jittered = self
            .backoff_ceiling(attempt)
            .mul_f64(jitter.clamp(0.0, 1.0));
        match error {
            EngineError::RateLimited {
                retry_after: Some(wait),
            } => jittered.max(*wait),
            _ => jittered,
        }
    }
}

/// Who is being called, for the per-attempt log lines.
#[derive(Debug, Clone, Copy)]
pub struct CallSite<'a> {
    pub engine: &'static str,
    pub provider: &'static str,
    pub model: &'a str,
}

/// Runs `attempt` until it succeeds, fails for good, runs out of attempts or of time.
pub async fn call_with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    site: CallSite<'_>,
    mut attempt: F,
) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    let started = Instant::now();
    let mut number = 0;
    loop {
        number += 1;
        let remaining = policy.deadline.saturating_sub(started.elapsed());
        let timeout = policy.attempt_timeout.min(remaining);
        let attempt_started = Instant::now();
        let outcome = match tokio::time::timeout(timeout, attempt()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(EngineError::Timeout),
        };
        log_attempt(site, number, attempt_started.elapsed(), &outcome);
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !error.is_retryable() || number >= policy.max_attempts {
            return Err(error);
        }
        let wait = policy.delay_after(number, &error, fastrand::f64());
        if started.elapsed() + wait >= policy.deadline {
            return Err(error);
        }
        tokio::time::sleep(wait).await;
    }
}

fn log_attempt<T>(
    site: CallSite<'_>,
    attempt: u32,
    latency: Duration,
    outcome: &Result<T, EngineError>,
) {
    let latency_ms = latency.as_secs_f64() * 1000.0;
    match outcome {
        Ok(_) => tracing::info!(
            engine = site.engine,
            provider = site.provider,
            model = site.model,
            attempt,
            latency_ms,
            status = "ok",
            "provider call"
        ),
        Err(error) => tracing::warn!(
            engine = site.engine,
            provider = site.provider,
            model = site.model,
            attempt,
            latency_ms,
            status = error_status(error),
            error = %error,
            "provider call failed"
        ),
    }
}

fn error_status(error: &EngineError) -> String {
    match error {
        EngineError::Auth => "401".into(),
        EngineError::RateLimited { .. } => "429".into(),
        EngineError::Upstream { status } => status.to_string(),
        EngineError::InvalidRequest { .. } | EngineError::ContextLength => "400".into(),
        EngineError::Timeout => "timeout".into(),
        EngineError::StreamCut => "stream_cut".into(),
        EngineError::Malformed { .. } => "malformed".into(),
        EngineError::Unreachable { .. } => "unreachable".into(),
        EngineError::NotConfigured { .. } => "not_configured".into(),
        EngineError::LocalModelUnavailable { .. } => "local_model_unavailable".into(),
        EngineError::LocalModelFailed { .. } => "local_model_failed".into(),
        EngineError::ModelNotServed { .. } | EngineError::Unsupported { .. } => "400".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const SITE: CallSite<'static> = CallSite {
        engine: "openai",
        provider: "openai",
        model: "m",
    };

    fn fast_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            attempt_timeout: Duration::from_millis(200),
            deadline: Duration::from_secs(2),
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(250));
        assert_eq!(policy.backoff_ceiling(2), Duration::from_millis(500));
        assert_eq!(policy.backoff_ceiling(3), Duration::from_secs(1));
        assert_eq!(policy.backoff_ceiling(30), Duration::from_secs(8));
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        let upstream = EngineError::Upstream { status: 502 };
        assert_eq!(policy.delay_after(2, &upstream, 0.0), Duration::ZERO);
        assert_eq!(
            policy.delay_after(2, &upstream, 1.0),
            Duration::from_millis(500)
        );
        let limited = EngineError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(policy.delay_after(1, &limited, 0.5), Duration::from_secs(3));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = call_with_retries(&fast_policy(), SITE, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(EngineError::Upstream { status: 503 }),
                1 => Err(EngineError::Unreachable {
                    detail: "reset".into(),
                }),
                _ => Ok("done"),
            }
        })
        .await;
        assert_eq!(result, Ok("done"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = call_with_retries(&fast_policy(), SITE, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(EngineError::InvalidRequest {
                message: "no".into(),
            })
        })
        .await;
        assert!(matches!(result, Err(EngineError::InvalidRequest { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = call_with_retries(&fast_policy(), SITE, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(EngineError::Upstream { status: 500 })
        })
        .await;
        assert_eq!(result, Err(EngineError::Upstream { status: 500 }));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_slow_attempt_times_out() {
        let policy = RetryPolicy {
            max_attempts: 1,
            attempt_timeout: Duration::from_millis(20),
            ..fast_policy()
        };
        let result: Result<(), _> = call_with_retries(&policy, SITE, || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        assert_eq!(result, Err(EngineError::Timeout));
    }

    #[tokio::test]
    async fn no_wait_is_taken_past_the_deadline() {
        let policy = RetryPolicy {
            deadline: Duration::from_millis(100),
            ..fast_policy()
        };
        let started = Instant::now();
        let result: Result<(), _> = call_with_retries(&policy, SITE, || async {
            Err(EngineError::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            })
        })
        .await;
        assert!(matches!(result, Err(EngineError::RateLimited { .. })));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
