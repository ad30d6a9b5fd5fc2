//! Brute-force protection for passcode sign-in: at most N failed attempts per source IP within a
//! sliding window, counted in Postgres because Lambda instances share nothing else.

use std::time::Duration;

use sqlx::PgPool;

/// An attempt counted against its source before the passcode is checked; forgiven on success.
#[derive(Debug)]
pub struct Attempt {
    id: i64,
}

#[derive(Debug)]
pub enum Admission {
    Admitted(Attempt),
    /// Locked out: seconds until enough counted failures leave the window.
    Throttled {
        retry_after_secs: u64,
    },
}

pub struct Throttle<'a> {
    pool: &'a PgPool,
    max_failures: u32,
    window: Duration,
}

impl<'a> Throttle<'a> {
    pub fn new(pool: &'a PgPool, max_failures: u32, window: Duration) -> Self {
        Throttle {
            pool,
            max_failures,
            window,
        }
    }

    /// Records the attempt as a failure up front, so concurrent guesses all count; a source
    /// over the limit is refused (and that refused attempt is not counted).
    pub async fn begin(&self, source_ip: &str) -> Result<Admission, sqlx::Error> {
        let window_secs = self.window.as_secs_f64();
        let id: i64 =
            sqlx::query_scalar("INSERT INTO auth_failures (source_ip) VALUES ($1) RETURNING id")
                .bind(source_ip)
                .fetch_one(self.pool)
                .await?;
        // The (max+1)-th most recent failure in the window, ours included: if it exists, the
        // source is over the limit until the max-th most recent one ages out.
        let blocking: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM (failed_at + make_interval(secs => $2) - clock_timestamp()))::float8
             FROM auth_failures
             WHERE source_ip = $1 AND failed_at > clock_timestamp() - make_interval(secs => $2) AND id <> $4
             ORDER BY failed_at DESC
             OFFSET $3 - 1 LIMIT 1",
        )
        .bind(source_ip)
        .bind(window_secs)
        .bind(i64::from(self.max_failures))
        .bind(id)
        .fetch_optional(self.pool)
        .await?;
        match blocking {
            Some(remaining_secs) => {
                self.forgive(Attempt { id }).await?;
                Ok(Admission::Throttled {
                    retry_after_secs: remaining_secs.ceil().max(1.0) as u64,
                })
            }
            None => Ok(Admission::Admitted(Attempt { id })),
        }
    }

    /// The passcode was right: the attempt was not a failure after all.
    pub async fn forgive(&self, attempt: Attempt) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM auth_failures WHERE id = $1")
            .bind(attempt.id)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// The passcode was wrong: the failure stays counted; failures older than the window go.
    pub async fn keep_failure(&self, _attempt: Attempt) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM auth_failures WHERE failed_at < clock_timestamp() - make_interval(secs => $1)")
            .bind(self.window.as_secs_f64())
            .execute(self.pool)
            .await?;
        Ok(())
    }
}
