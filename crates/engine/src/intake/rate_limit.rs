//! Per-source intake rate limits: a token bucket per source on this node. Checked before the body
//! is read, so a flood costs almost nothing. Not shared across nodes: N nodes admit up to N times
//! the rate, which the operator sizes for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use switchyard_core::source::RateLimit;

struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token for `source_id`; `Err(seconds)` says when to retry.
    pub fn admit(&self, source_id: &str, limit: &RateLimit, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(limit.burst.unwrap_or(limit.per_second.ceil() as u32).max(1));
        // A poisoned lock only means a panic mid-update of plain numbers; the map is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(source_id.to_string()).or_insert(Bucket {
            rate: limit.per_second,
            capacity,
            tokens: capacity,
            at: now,
        });
        if bucket.rate != limit.per_second || bucket.capacity != capacity {
            // The limit was changed: start over under the new one.
            *bucket = Bucket {
                rate: limit.per_second,
                capacity,
                tokens: capacity,
                at: now,
            };
        }
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / bucket.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let rl = RateLimiter::default();
        let limit = RateLimit {
            per_second: 2.0,
            burst: Some(3),
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.admit("s", &limit, t0).is_ok());
        }
        assert_eq!(rl.admit("s", &limit, t0), Err(1));
        assert!(rl.admit("other", &limit, t0).is_ok(), "buckets are per source");
        assert!(
            rl.admit("s", &limit, t0 + Duration::from_millis(500)).is_ok(),
            "refilled one token"
        );
        assert!(rl.admit("s", &limit, t0 + Duration::from_millis(500)).is_err());
        let slow = RateLimit {
            per_second: 0.1,
            burst: None,
        };
        assert!(rl.admit("slow", &slow, t0).is_ok());
        assert_eq!(rl.admit("slow", &slow, t0), Err(10));
    }
}
