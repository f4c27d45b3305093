//! The retry schedule: the Standard Webhooks default (immediately, 5 s, 5 m, 30 m, 2 h, 5 h, 10 h,
//! 14 h, 20 h, 24 h), or an endpoint's own. Each delay is jittered so that many deliveries failing
//! together do not come back together.

/// Delay before each attempt, in seconds; the first entry is the first attempt.
pub const DEFAULT_SCHEDULE: &[u64] = &[0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];
/// Longest schedule an endpoint may configure, and the longest single delay (7 days).
pub const MAX_ATTEMPTS: usize = 30;
pub const MAX_DELAY_SECONDS: u64 = 7 * 24 * 3600;
/// Jitter spreads each delay over ±this fraction of itself.
pub const JITTER: f64 = 0.2;
/// Longest wait a `Retry-After` may impose (beyond it the schedule applies).
pub const MAX_RETRY_AFTER_SECONDS: u64 = 24 * 3600;

/// What follows attempt number `attempts_made` (1-based) that failed retryably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again this many milliseconds from now.
    RetryInMillis(u64),
    /// The schedule is exhausted: dead-letter the delivery.
    Dead,
}

/// `unit` is a uniform random number in [0, 1) (the caller's RNG, or a fixed value in tests).
/// `retry_after_seconds` is the receiver's own request, honoured when longer than the schedule.
pub fn next_attempt(schedule: &[u64], attempts_made: u32, unit: f64, retry_after_seconds: Option<u64>) -> Next {
    let Some(&base) = schedule.get(attempts_made as usize) else {
        return Next::Dead;
    };
    let spread = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    let jittered = (base as f64 * 1000.0 * spread).round() as u64;
    let asked = retry_after_seconds
        .map(|s| s.min(MAX_RETRY_AFTER_SECONDS) * 1000)
        .unwrap_or(0);
    Next::RetryInMillis(jittered.max(asked))
}

/// Checks an endpoint's own schedule.
pub fn check(schedule: &[u64]) -> Result<(), String> {
    if schedule.is_empty() || schedule.len() > MAX_ATTEMPTS {
        return Err(format!(
            "list 1 to {MAX_ATTEMPTS} delays (the first is the first attempt)"
        ));
    }
    if schedule.iter().any(|d| *d > MAX_DELAY_SECONDS) {
        return Err(format!("each delay is at most {MAX_DELAY_SECONDS} seconds"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_with_bounded_jitter() {
        // Attempt 1 failed: the second entry (5 s) applies, jittered within ±20 %.
        assert_eq!(next_attempt(DEFAULT_SCHEDULE, 1, 0.5, None), Next::RetryInMillis(5000));
        assert_eq!(next_attempt(DEFAULT_SCHEDULE, 1, 0.0, None), Next::RetryInMillis(4000));
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 1, 0.999_999, None),
            Next::RetryInMillis(6000)
        );
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 2, 0.5, None),
            Next::RetryInMillis(300_000)
        );
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 9, 0.5, None),
            Next::RetryInMillis(86_400_000)
        );
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 10, 0.5, None),
            Next::Dead,
            "ten attempts in all"
        );
        for i in 0..100 {
            let Next::RetryInMillis(ms) = next_attempt(DEFAULT_SCHEDULE, 3, i as f64 / 100.0, None) else {
                panic!()
            };
            assert!((1_440_000..=2_160_000).contains(&ms), "{ms}");
        }
    }

    #[test]
    fn retry_after_wins_only_when_longer() {
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 1, 0.5, Some(60)),
            Next::RetryInMillis(60_000)
        );
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 2, 0.5, Some(60)),
            Next::RetryInMillis(300_000)
        );
        assert_eq!(
            next_attempt(DEFAULT_SCHEDULE, 1, 0.5, Some(10 * 86_400)),
            Next::RetryInMillis(86_400_000),
            "capped at a day"
        );
        assert_eq!(
            next_attempt(&[0], 1, 0.5, Some(60)),
            Next::Dead,
            "but never past the schedule"
        );
    }

    #[test]
    fn custom_schedules_are_checked() {
        assert!(check(&[0, 1, 2]).is_ok());
        assert!(check(&[]).is_err());
        assert!(check(&[0; 31]).is_err());
        assert!(check(&[0, 8 * 86_400]).is_err());
    }
}
