//! Time as stored (integer microseconds since the Unix epoch, the same column type on SQLite and
//! PostgreSQL) and as shown (RFC 3339 UTC).

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// A source of "now" for work that must be testable with controlled time (retention, refusal
/// windows): production uses [`SystemClock`], tests a [`ManualClock`] they move by hand.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        now_micros()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Default, Clone)]
pub struct ManualClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl ManualClock {
    pub fn at(micros: i64) -> Self {
        ManualClock(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(micros)))
    }

    pub fn set(&self, micros: i64) {
        self.0.store(micros, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(by, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Microseconds in `days` days.
pub const fn days_micros(days: u32) -> i64 {
    days as i64 * 86_400_000_000
}

/// RFC 3339 UTC with microseconds, the API's timestamp format.
pub fn to_rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an RFC 3339 timestamp (any offset) into stored microseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc3339("2026-11-22T10:00:00.123456+01:00").unwrap();
        assert_eq!(to_rfc3339(t), "2026-11-22T09:00:00.123456Z");
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
