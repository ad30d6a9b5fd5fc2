//! Budget periods and refills as pure functions: where a daily, weekly or monthly period begins and
//! ends in a time zone, its key, and what an allowance refill grants. No I/O.
//!
//! The SQL function `helix_period_start` (migration 20261206000001) is the same rule for the
//! reservation; the two agree everywhere but in zones whose clocks skip local midnight itself.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Daily,
    /// Monday to Sunday, as ISO weeks and Postgres's `date_trunc('week', …)`.
    Weekly,
    Monthly,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }
}

impl FromStr for Period {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "daily" => Ok(Period::Daily),
            "weekly" => Ok(Period::Weekly),
            "monthly" => Ok(Period::Monthly),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a refill treats what is left of the last period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefillRule {
    /// Bring the balance up to the allowance (never down).
    TopUp,
    /// Add the allowance; with a rollover cap, at most that much of the old balance carries over.
    Add,
}

impl RefillRule {
    pub fn as_str(self) -> &'static str {
        match self {
            RefillRule::TopUp => "top_up",
            RefillRule::Add => "add",
        }
    }
}

impl FromStr for RefillRule {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "top_up" => Ok(RefillRule::TopUp),
            "add" => Ok(RefillRule::Add),
            _ => Err(()),
        }
    }
}

/// One period of a policy: when it began, when the next begins, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `monthly:2026-12-01`: the period and its first local day. A time-zone change within a
    /// period keeps the key (no second refill); a new period kind gets a new one.
    pub key: String,
}

/// The period of `period` in `zone` that contains `at`.
pub fn window(period: Period, zone: Tz, at: DateTime<Utc>) -> Window {
    let first = first_day(period, at.with_timezone(&zone).date_naive());
    let next = match period {
        Period::Daily => first.checked_add_days(Days::new(1)),
        Period::Weekly => first.checked_add_days(Days::new(7)),
        Period::Monthly => first.checked_add_months(Months::new(1)),
    }
    .unwrap_or(NaiveDate::MAX);
    Window {
        start: local_midnight(zone, first),
        end: local_midnight(zone, next),
        key: format!("{period}:{first}"),
    }
}

/// The period of a user without a policy: the calendar month in UTC.
pub fn default_window(at: DateTime<Utc>) -> Window {
    window(Period::Monthly, Tz::UTC, at)
}

fn first_day(period: Period, day: NaiveDate) -> NaiveDate {
    match period {
        Period::Daily => day,
        Period::Weekly => day
            .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
            .unwrap_or(day),
        Period::Monthly => day.with_day(1).unwrap_or(day),
    }
}

/// The first instant of a local day: midnight, the earlier one when clocks go back over it, or
/// the first minute that exists when they skip it.
fn local_midnight(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut time = NaiveTime::MIN;
    for _ in 0..=24 * 60 {
        match zone.from_local_datetime(&day.and_time(time)) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => return at.to_utc(),
            LocalResult::None => time += chrono::TimeDelta::minutes(1),
        }
    }
    day.and_time(NaiveTime::MIN).and_utc()
}

/// What the refill of a period grants (negative: taken back, for a rollover cap), from the balance
/// at refill time (open holds already deducted from it).
pub fn refill_micros(
    rule: RefillRule,
    allowance_micros: i64,
    rollover_cap_micros: Option<i64>,
    balance_micros: i64,
) -> i64 {
    match (rule, rollover_cap_micros) {
        (RefillRule::TopUp, _) => allowance_micros.saturating_sub(balance_micros).max(0),
        (RefillRule::Add, None) => allowance_micros,
        (RefillRule::Add, Some(cap)) => {
            let carried = balance_micros.min(cap);
            carried
                .saturating_add(allowance_micros)
                .saturating_sub(balance_micros)
        }
    }
}

/// Parses an IANA time zone name (`Europe/Paris`, `UTC`).
pub fn parse_time_zone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn zone(name: &str) -> Tz {
        parse_time_zone(name).unwrap()
    }

    #[test]
    fn a_monthly_period_runs_from_the_first_to_the_first_of_the_next_month() {
        let w = window(Period::Monthly, Tz::UTC, at("2026-12-17T10:00:00Z"));
        assert_eq!(w.start, at("2026-12-01T00:00:00Z"));
        assert_eq!(w.end, at("2027-01-01T00:00:00Z"));
        assert_eq!(w.key, "monthly:2026-12-01");
    }

    #[test]
    fn the_last_instant_of_a_month_belongs_to_it_and_midnight_to_the_next() {
        let last = window(Period::Monthly, Tz::UTC, at("2026-01-31T23:59:59.999Z"));
        assert_eq!(last.key, "monthly:2026-01-01");
        assert_eq!(last.end, at("2026-02-01T00:00:00Z"));
        let next = window(Period::Monthly, Tz::UTC, at("2026-02-01T00:00:00Z"));
        assert_eq!(next.key, "monthly:2026-02-01");
        assert_eq!(next.start, last.end);
    }

    #[test]
    fn a_leap_day_is_its_own_day_and_part_of_a_29_day_february() {
        let day = window(Period::Daily, Tz::UTC, at("2028-02-29T12:00:00Z"));
        assert_eq!(day.key, "daily:2028-02-29");
        assert_eq!(day.end, at("2028-03-01T00:00:00Z"));
        let month = window(Period::Monthly, Tz::UTC, at("2028-02-29T12:00:00Z"));
        assert_eq!(month.end - month.start, chrono::TimeDelta::days(29));
        let plain = window(Period::Monthly, Tz::UTC, at("2027-02-15T00:00:00Z"));
        assert_eq!(plain.end - plain.start, chrono::TimeDelta::days(28));
    }

    #[test]
    fn weeks_start_on_monday_across_a_year_end() {
        // 2027-01-01 is a Friday; its week began on Monday 2026-12-28.
        let w = window(Period::Weekly, Tz::UTC, at("2027-01-01T08:00:00Z"));
        assert_eq!(w.key, "weekly:2026-12-28");
        assert_eq!(w.start, at("2026-12-28T00:00:00Z"));
        assert_eq!(w.end, at("2027-01-04T00:00:00Z"));
    }

    #[test]
    fn a_time_zone_moves_the_boundary_to_its_local_midnight() {
        // 20:00 UTC on 31 December is already January in Tokyo (UTC+9).
        let tokyo = window(
            Period::Monthly,
            zone("Asia/Tokyo"),
            at("2026-12-31T20:00:00Z"),
        );
        assert_eq!(tokyo.key, "monthly:2027-01-01");
        assert_eq!(tokyo.start, at("2026-12-31T15:00:00Z"));
        let utc = window(Period::Monthly, Tz::UTC, at("2026-12-31T20:00:00Z"));
        assert_eq!(utc.key, "monthly:2026-12-01");
    }

    #[test]
    fn a_day_with_a_clock_change_is_23_or_25_hours_long() {
        let paris = zone("Europe/Paris");
        let spring = window(Period::Daily, paris, at("2026-03-29T12:00:00Z"));
        assert_eq!(spring.end - spring.start, chrono::TimeDelta::hours(23));
        let autumn = window(Period::Daily, paris, at("2026-10-25T12:00:00Z"));
        assert_eq!(autumn.end - autumn.start, chrono::TimeDelta::hours(25));
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_its_first_existing_minute() {
        // Chile's clocks went from 24:00 to 01:00 on 2022-09-11 (America/Santiago).
        let w = window(
            Period::Daily,
            zone("America/Santiago"),
            at("2022-09-11T12:00:00Z"),
        );
        assert_eq!(w.start, at("2022-09-11T04:00:00Z"), "01:00 local, UTC-3");
    }

    #[test]
    fn changing_the_time_zone_within_a_period_keeps_its_key() {
        let instant = at("2026-12-10T12:00:00Z");
        let before = window(Period::Monthly, Tz::UTC, instant);
        let after = window(Period::Monthly, zone("America/New_York"), instant);
        assert_eq!(before.key, after.key);
        assert_ne!(before.start, after.start);
    }

    #[test]
    fn a_top_up_brings_the_balance_up_to_the_allowance_and_never_down() {
        assert_eq!(
            refill_micros(RefillRule::TopUp, 20_000_000, None, 5_000_000),
            15_000_000
        );
        assert_eq!(
            refill_micros(RefillRule::TopUp, 20_000_000, None, 25_000_000),
            0
        );
        assert_eq!(
            refill_micros(RefillRule::TopUp, 20_000_000, None, -1_000),
            20_001_000
        );
    }

    #[test]
    fn add_adds_the_allowance_and_a_rollover_cap_limits_what_carries_over() {
        assert_eq!(refill_micros(RefillRule::Add, 10, None, 500), 10);
        // 500 left, at most 100 carries over: the refill takes 400 back and adds 10.
        assert_eq!(refill_micros(RefillRule::Add, 10, Some(100), 500), -390);
        assert_eq!(refill_micros(RefillRule::Add, 10, Some(100), 50), 10);
        assert_eq!(refill_micros(RefillRule::Add, 10, Some(0), 50), -40);
        assert_eq!(refill_micros(RefillRule::Add, 10, Some(100), -20), 10);
    }

    #[test]
    fn names_parse_and_print_back() {
        for period in [Period::Daily, Period::Weekly, Period::Monthly] {
            assert_eq!(period.as_str().parse::<Period>(), Ok(period));
        }
        assert!("yearly".parse::<Period>().is_err());
        assert_eq!("add".parse::<RefillRule>(), Ok(RefillRule::Add));
        assert!(parse_time_zone("Mars/Olympus").is_none());
        assert_eq!(parse_time_zone("UTC"), Some(Tz::UTC));
    }
}
