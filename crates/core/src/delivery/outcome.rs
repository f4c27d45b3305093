//! What an attempt's result means for the delivery (SPEC §3): 2xx succeeds; 3xx (redirects are
//! never followed), 408, 425, 429, 5xx and transport failures are retried; other 4xx fail for
//! good, and 410 also disables the endpoint.

use super::schedule::MAX_RETRY_AFTER_SECONDS;
use chrono::{DateTime, Utc};

/// Why an attempt failed without an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    Timeout,
    Dns,
    Connect,
    /// The connection broke mid-exchange (reset, closed early).
    Io,
    Tls,
    /// The SSRF guard refused the resolved address.
    DestinationRefused,
    /// The URL or request could not be built.
    InvalidRequest,
}

impl TransportError {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Dns => "dns",
            TransportError::Connect => "connect",
            TransportError::Io => "io",
            TransportError::Tls => "tls",
            TransportError::DestinationRefused => "destination_refused",
            TransportError::InvalidRequest => "invalid_request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Try again per the schedule; `retry_after_seconds` is the receiver's own request.
    Retry {
        retry_after_seconds: Option<u64>,
    },
    /// Never try again.
    Permanent,
    /// 410 Gone: permanent, and the endpoint is disabled.
    Gone,
}

impl Verdict {
    /// The class recorded with the attempt (`null` on success).
    pub fn error_class(self, status: Option<u16>, transport: Option<TransportError>) -> Option<String> {
        if self == Verdict::Success {
            return None;
        }
        Some(match (status, transport) {
            (_, Some(t)) => t.as_str().to_string(),
            (Some(code), None) => format!("http_{code}"),
            (None, None) => "unknown".to_string(),
        })
    }
}

/// The verdict for an HTTP answer. `retry_after` is the raw `Retry-After` header (seconds or an
/// HTTP-date), `rate_limit_reset` the raw `X-RateLimit-Reset` (used on 429 only); `now` is unix
/// seconds.
pub fn classify_status(status: u16, retry_after: Option<&str>, rate_limit_reset: Option<&str>, now: i64) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        410 => Verdict::Gone,
        408 | 425 | 429 | 300..=399 | 500..=599 | 100..=199 => {
            let after = retry_after.and_then(|v| parse_retry_after(v, now));
            let reset = (status == 429)
                .then(|| rate_limit_reset.and_then(|v| parse_rate_limit_reset(v, now)))
                .flatten();
            // Both present: the longer wait wins, so neither of the receiver's limits is broken.
            let wait = match (after, reset) {
                (Some(a), Some(r)) => Some(a.max(r)),
                (a, r) => a.or(r),
            };
            Verdict::Retry {
                retry_after_seconds: wait,
            }
        }
        _ => Verdict::Permanent,
    }
}

/// Transport failures are retried, except a refused destination or a request that cannot be
/// built, which no retry can fix.
pub fn classify_transport(e: TransportError) -> Verdict {
    match e {
        TransportError::DestinationRefused | TransportError::InvalidRequest => Verdict::Permanent,
        _ => Verdict::Retry {
            retry_after_seconds: None,
        },
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` → seconds from `now`,
/// at most [`MAX_RETRY_AFTER_SECONDS`] (a receiver cannot park a delivery for a century, and
/// callers can multiply the result without overflow).
pub fn parse_retry_after(v: &str, now: i64) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.min(MAX_RETRY_AFTER_SECONDS));
    }
    let at: DateTime<Utc> = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some(seconds_until(at.timestamp(), now))
}

/// Seconds from `now` to `at` (0 when past), capped at [`MAX_RETRY_AFTER_SECONDS`].
fn seconds_until(at: i64, now: i64) -> u64 {
    u64::try_from(at.saturating_sub(now))
        .unwrap_or(0)
        .min(MAX_RETRY_AFTER_SECONDS)
}

/// `X-RateLimit-Reset` is an epoch time at some providers (GitHub) and a number of seconds at
/// others; values that can only be epoch times are read as such.
pub fn parse_rate_limit_reset(v: &str, now: i64) -> Option<u64> {
    let n: u64 = v.trim().parse().ok()?;
    if n > 1_000_000_000 {
        Some(seconds_until(i64::try_from(n).unwrap_or(i64::MAX), now))
    } else {
        Some(n.min(MAX_RETRY_AFTER_SECONDS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_445_412_480; // 2015-10-21T07:28:00Z

    #[test]
    fn status_codes_per_spec() {
        let retry = Verdict::Retry {
            retry_after_seconds: None,
        };
        for (code, want) in [
            (200, Verdict::Success),
            (204, Verdict::Success),
            (301, retry),
            (302, retry),
            (408, retry),
            (425, retry),
            (429, retry),
            (500, retry),
            (503, retry),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (404, Verdict::Permanent),
            (422, Verdict::Permanent),
            (410, Verdict::Gone),
        ] {
            assert_eq!(classify_status(code, None, None, NOW), want, "{code}");
        }
        assert_eq!(
            Verdict::Permanent.error_class(Some(404), None).as_deref(),
            Some("http_404")
        );
        assert_eq!(Verdict::Success.error_class(Some(200), None), None);
        assert_eq!(
            retry.error_class(None, Some(TransportError::Timeout)).as_deref(),
            Some("timeout")
        );
    }

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        assert_eq!(parse_retry_after("120", NOW), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", NOW), Some(120));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", NOW),
            Some(0),
            "past dates mean now"
        );
        assert_eq!(parse_retry_after("soon", NOW), None);
        assert_eq!(
            classify_status(503, Some("30"), None, NOW),
            Verdict::Retry {
                retry_after_seconds: Some(30)
            }
        );
        assert_eq!(
            classify_status(429, None, Some(&(NOW + 90).to_string()), NOW),
            Verdict::Retry {
                retry_after_seconds: Some(90)
            },
            "epoch reset"
        );
        assert_eq!(
            classify_status(429, None, Some("15"), NOW),
            Verdict::Retry {
                retry_after_seconds: Some(15)
            },
            "delta reset"
        );
    }

    #[test]
    fn the_longer_of_retry_after_and_rate_limit_reset_wins() {
        let wait = |after: &str, reset: &str| match classify_status(429, Some(after), Some(reset), NOW) {
            Verdict::Retry { retry_after_seconds } => retry_after_seconds,
            v => panic!("{v:?}"),
        };
        assert_eq!(wait("10", "60"), Some(60));
        assert_eq!(wait("120", "60"), Some(120));
        assert_eq!(wait("10", &(NOW + 300).to_string()), Some(300));
        // Only 429 reads X-RateLimit-Reset.
        assert_eq!(
            classify_status(503, Some("10"), Some("60"), NOW),
            Verdict::Retry {
                retry_after_seconds: Some(10)
            }
        );
    }

    #[test]
    fn hostile_waits_are_capped_not_wrapped() {
        let cap = Some(MAX_RETRY_AFTER_SECONDS);
        assert_eq!(parse_retry_after("18446744073709551615", NOW), cap);
        assert_eq!(parse_retry_after("99999999999999", NOW), cap);
        assert_eq!(parse_rate_limit_reset("18446744073709551615", NOW), cap);
        assert_eq!(parse_rate_limit_reset("9223372036854775807", NOW), cap);
        assert_eq!(parse_rate_limit_reset("999999999", NOW), cap);
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW), cap);
        assert_eq!(parse_retry_after("-5", NOW), None);
    }

    #[test]
    fn transport_failures() {
        assert!(matches!(
            classify_transport(TransportError::Timeout),
            Verdict::Retry { .. }
        ));
        assert!(matches!(classify_transport(TransportError::Io), Verdict::Retry { .. }));
        assert!(matches!(classify_transport(TransportError::Dns), Verdict::Retry { .. }));
        assert_eq!(
            classify_transport(TransportError::DestinationRefused),
            Verdict::Permanent
        );
    }
}
