//! The sign-in throttle's rules, free of storage: which source an attempt counts against (an IPv4
//! address, or an IPv6 /64), how long a source waits after its failures, and when distributed
//! guessing closes sign-in to sources that have not signed in before.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// How failed passcode attempts slow guessing down. A source's first `free_failures` failures
/// within `window` cost nothing; after that, each attempt must wait `backoff_base`, doubling
/// with every further failure up to `backoff_max`, after the source's latest failure. Attempts
/// refused for waiting are not failures (a typo and an impatient retry cost seconds, not more).
/// When all sources together failed `global_max_failures` times within `window`, only sources
/// that signed in within `known_source_ttl` may try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free_failures: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub window: Duration,
    pub global_max_failures: u32,
    pub known_source_ttl: Duration,
}

/// What the store counted before an attempt (the attempt itself excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// This source's failures within the window, attempts still being checked included.
    pub source_failures: u32,
    /// Time since this source's latest failure in the window, if it has one.
    pub since_last_failure: Option<Duration>,
    /// Every source's failures within the window.
    pub global_failures: u32,
    /// The source signed in successfully within `known_source_ttl`.
    pub known_source: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// The source must wait this much longer after its latest failure.
    Wait(Duration),
    /// Too many failures everywhere, and this source has not signed in before: the store knows
    /// when enough of them leave the window.
    GlobalCeiling,
}

impl ThrottlePolicy {
    /// The wait a source owes after `failures` failures within the window.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let Some(over) = failures.checked_sub(self.free_failures) else {
            return Duration::ZERO;
        };
        // 2^over, saturating long before u32 runs out: the cap applies anyway.
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .map_or(self.backoff_max, |delay| delay.min(self.backoff_max))
    }

    pub fn judge(&self, seen: &Observed) -> Verdict {
        if seen.global_failures >= self.global_max_failures && !seen.known_source {
            return Verdict::GlobalCeiling;
        }
        let owed = self.delay_after(seen.source_failures);
        match seen.since_last_failure {
            Some(since) if since < owed => Verdict::Wait(owed - since),
            _ => Verdict::Admit,
        }
    }

    /// The most failures one source can make within any one window, at full speed: every
    /// failure of it is still in the window, so each waits the longest it can. The global
    /// ceiling must be above this, or one address could close sign-in for every other.
    pub fn max_source_failures_per_window(&self) -> u64 {
        let mut failures = u64::from(self.free_failures);
        let mut elapsed = Duration::ZERO;
        loop {
            let next = self.delay_after(u32::try_from(failures).unwrap_or(u32::MAX));
            elapsed = elapsed.saturating_add(next);
            if elapsed > self.window {
                return failures;
            }
            failures += 1;
            if next.is_zero() || failures > 1_000_000 {
                // A zero base would mean no back-off at all; settings refuse it.
                return failures;
            }
        }
    }
}

/// The bucket an attempt counts against: an IPv4 address as it is, an IPv6 address as its /64
/// (one subscriber's usual allocation, where a host can pick any of 2^64 addresses), an
/// IPv4-mapped IPv6 address as the IPv4 it maps. Anything else (`unknown`) is its own bucket.
pub fn source_key(source_ip: &str) -> String {
    match source_ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
        Err(_) => source_ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            window: Duration::from_secs(3600),
            global_max_failures: 100,
            known_source_ttl: Duration::from_secs(30 * 86400),
        }
    }

    fn seen(source_failures: u32, since_last_secs: u64) -> Observed {
        Observed {
            source_failures,
            since_last_failure: Some(Duration::from_secs(since_last_secs)),
            global_failures: source_failures,
            known_source: false,
        }
    }

    #[test]
    fn a_few_typos_cost_nothing_then_seconds_doubling_up_to_the_cap() {
        let policy = policy();
        let delays: Vec<u64> = (0..16)
            .map(|failures| policy.delay_after(failures).as_secs())
            .collect();
        assert_eq!(
            delays,
            [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
        );
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn a_source_waits_only_what_it_still_owes_since_its_latest_failure() {
        let policy = policy();
        assert_eq!(policy.judge(&seen(4, 0)), Verdict::Admit);
        assert_eq!(
            policy.judge(&seen(7, 1)),
            Verdict::Wait(Duration::from_secs(3))
        );
        assert_eq!(policy.judge(&seen(7, 4)), Verdict::Admit);
        let first = Observed {
            since_last_failure: None,
            ..seen(0, 0)
        };
        assert_eq!(policy.judge(&first), Verdict::Admit);
    }

    #[test]
    fn the_global_ceiling_spares_known_sources_and_only_them() {
        let policy = policy();
        let busy = Observed {
            global_failures: 100,
            ..seen(0, 0)
        };
        assert_eq!(policy.judge(&busy), Verdict::GlobalCeiling);
        let known = Observed {
            known_source: true,
            ..busy
        };
        assert_eq!(policy.judge(&known), Verdict::Admit);
        let known_but_guessing = Observed {
            known_source: true,
            ..seen(9, 0)
        };
        assert_eq!(
            policy.judge(&known_but_guessing),
            Verdict::Wait(Duration::from_secs(16)),
            "a known source still backs off"
        );
    }

    #[test]
    fn one_source_cannot_reach_the_default_global_ceiling() {
        // 5 free, then waits of 1+2+…+256 (511 s) for 9 more, then 300 s each: 10 in the
        // remaining 3089 s.
        assert_eq!(policy().max_source_failures_per_window(), 24);
        assert!(policy().max_source_failures_per_window() < 100);
    }

    #[test]
    fn ipv6_sources_are_their_64_and_ipv4_stays_whole() {
        assert_eq!(source_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(source_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            source_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(source_key("2001:db8:1:3::1"), source_key("2001:db8:1:2::1"));
        assert_eq!(source_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(source_key("unknown"), "unknown");
    }
}
