//! Time as stored (integer microseconds since the Unix epoch, the same column type on SQLite and
//! PostgreSQL) and as shown (RFC 3339 UTC).

use chrono::{DateTime, SecondsFormat, Utc};

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
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
