//! Cron schedules of flows (SPEC §7): 5 fields, or 6 with seconds first, read in a time zone
//! (UTC unless one is named). Searches run along real time, so daylight-saving changes behave
//! as cron users expect (croner, following Vixie cron): a fixed time inside a skipped hour runs
//! right after the gap, a fixed time inside a repeated hour runs once, and interval patterns run
//! by the wall clock.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("not a cron pattern of 5 fields (or 6 with seconds first): {0}")]
    Pattern(String),
    #[error("unknown time zone {0:?}; use an IANA name such as Europe/Berlin")]
    TimeZone(String),
}

impl ScheduleError {
    /// The definition field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ScheduleError::Pattern(_) => "trigger.cron",
            ScheduleError::TimeZone(_) => "trigger.timezone",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

impl Schedule {
    pub fn parse(pattern: &str, timezone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let tz: Tz = match timezone {
            None => Tz::UTC,
            Some(name) => name.parse().map_err(|_| ScheduleError::TimeZone(name.to_string()))?,
        };
        let fields = pattern.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(ScheduleError::Pattern(format!("{fields} fields")));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(pattern)
            .map_err(|e| ScheduleError::Pattern(e.to_string()))?;
        Ok(Schedule { cron, tz })
    }

    /// The first tick strictly after `after` (µs since the epoch).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = self.tz.from_utc_datetime(&utc(after).naive_utc());
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
    }

    /// The latest tick at or before `at`: after downtime, the one missed tick that fires.
    pub fn latest_at_or_before(&self, at: i64) -> Option<i64> {
        let start = self.tz.from_utc_datetime(&utc(at).naive_utc());
        self.cron
            .find_previous_occurrence(&start, true)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_micros())
    }

    /// The next `n` ticks after `after`.
    pub fn upcoming(&self, after: i64, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        let mut from = after;
        while out.len() < n {
            match self.next_after(from) {
                Some(t) => {
                    out.push(t);
                    from = t;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    fn show(t: i64) -> String {
        utc(t).to_rfc3339()
    }

    #[test]
    fn five_or_six_fields_in_a_time_zone() {
        let nightly = Schedule::parse("0 2 * * *", Some("Europe/Berlin")).unwrap();
        // 02:00 in Berlin in winter is 01:00 UTC.
        assert_eq!(
            show(nightly.next_after(at("2026-12-05T12:00:00Z")).unwrap()),
            "2026-12-06T01:00:00+00:00"
        );
        let every_15s = Schedule::parse("*/15 * * * * *", None).unwrap();
        assert_eq!(
            show(every_15s.next_after(at("2026-12-05T12:00:00Z")).unwrap()),
            "2026-12-05T12:00:15+00:00"
        );
        assert_eq!(
            every_15s
                .upcoming(at("2026-12-05T12:00:00Z"), 3)
                .into_iter()
                .map(show)
                .collect::<Vec<_>>(),
            [
                "2026-12-05T12:00:15+00:00",
                "2026-12-05T12:00:30+00:00",
                "2026-12-05T12:00:45+00:00"
            ]
        );
        assert_eq!(Schedule::parse("* * * *", None).unwrap_err().field(), "trigger.cron");
        assert_eq!(Schedule::parse("61 * * * *", None).unwrap_err().field(), "trigger.cron");
        assert_eq!(
            Schedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err().field(),
            "trigger.timezone"
        );
    }

    #[test]
    fn after_downtime_only_the_latest_missed_tick() {
        let hourly = Schedule::parse("0 * * * *", None).unwrap();
        assert_eq!(
            show(hourly.latest_at_or_before(at("2026-12-05T13:30:00Z")).unwrap()),
            "2026-12-05T13:00:00+00:00"
        );
        assert_eq!(
            show(hourly.latest_at_or_before(at("2026-12-05T13:00:00Z")).unwrap()),
            "2026-12-05T13:00:00+00:00"
        );
    }

    #[test]
    fn daylight_saving_changes() {
        // Berlin springs forward at 02:00 local on 2026-03-29: 02:30 does not exist that day and
        // runs right after the gap (03:00 CEST = 01:00 UTC); the day before and after, 02:30.
        let s = Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let ticks: Vec<String> = s
            .upcoming(at("2026-03-28T00:00:00Z"), 3)
            .into_iter()
            .map(show)
            .collect();
        assert_eq!(
            ticks,
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T00:30:00+00:00"
            ]
        );
        // It falls back at 03:00 local on 2026-10-25: 02:30 happens twice; a fixed time runs once.
        let ticks: Vec<String> = s
            .upcoming(at("2026-10-24T12:00:00Z"), 2)
            .into_iter()
            .map(show)
            .collect();
        assert_eq!(ticks, ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]);
        // An interval pattern runs by the wall clock: the repeated hour's ticks both run.
        let half_hourly = Schedule::parse("*/30 * * * *", Some("Europe/Berlin")).unwrap();
        let ticks: Vec<String> = half_hourly
            .upcoming(at("2026-10-24T23:45:00Z"), 4)
            .into_iter()
            .map(show)
            .collect();
        assert_eq!(
            ticks,
            [
                "2026-10-25T00:00:00+00:00",
                "2026-10-25T00:30:00+00:00",
                "2026-10-25T01:00:00+00:00",
                "2026-10-25T01:30:00+00:00"
            ]
        );
    }
}
