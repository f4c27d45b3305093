//! Per-destination protection (an endpoint for deliveries, a destination for flow steps): a concurrency cap, a token bucket for the endpoint's rate limit, a
//! pause while the receiver asked us to back off (429 with `Retry-After` or
//! `X-RateLimit-Reset`), and a circuit breaker. A worker asks for capacity before it claims
//! work, so an endpoint with none is never claimed for: a slow or broken endpoint holds back only
//! its own jobs. Times are microseconds, passed in, so tests control the clock.
//!
//! The counters are this node's; breaker transitions and pauses are [`Shared`] with the other
//! nodes through the store (see `delivery/shared.rs`), the newest change winning.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// Consecutive retryable failures that open the breaker.
pub const BREAKER_CONSECUTIVE: u32 = 10;
/// Or: at least this many attempts in the window, and at least half of them failed.
pub const BREAKER_MIN_ATTEMPTS: usize = 20;
pub const BREAKER_WINDOW_MICROS: i64 = 60_000_000;
/// First open period; each failed probe doubles it, up to the maximum.
pub const BREAKER_COOLDOWN_MICROS: i64 = 30_000_000;
pub const BREAKER_MAX_COOLDOWN_MICROS: i64 = 600_000_000;
/// Pause after a 429 that named no time.
pub const DEFAULT_429_PAUSE_MICROS: i64 = 1_000_000;

/// The breaker as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    /// No deliveries until `until` (µs); then one probe.
    Open {
        until: i64,
    },
    /// One probe delivery is allowed; its result closes or re-opens the breaker.
    HalfOpen,
}

/// How an attempt ended, as far as the guards care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Success,
    /// 5xx, timeout, connection failure: counts towards the breaker.
    Failure,
    /// The receiver asked to slow down; pause for this long (µs), not a breaker failure.
    RateLimited {
        pause_micros: Option<i64>,
    },
    /// A permanent answer (4xx): the receiver is up, the payload was refused.
    Rejected,
}

/// A breaker transition or a new pause, as written to and adopted from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shared {
    /// `None` when closed; else when the open period ends (half-open after it).
    pub open_until: Option<i64>,
    pub cooldown: i64,
    pub paused_until: i64,
    pub changed_at: i64,
}

#[derive(Debug)]
struct Guard {
    in_flight: u32,
    tokens: f64,
    refilled_at: i64,
    paused_until: i64,
    breaker: BreakerState,
    probing: bool,
    consecutive: u32,
    cooldown: i64,
    /// The end of the last open period (kept while half-open, for sharing).
    opened_until: i64,
    recent: VecDeque<(i64, bool)>,
    /// When the breaker or pause last changed here or was adopted; older news is ignored.
    changed_at: i64,
}

impl Guard {
    fn new(now: i64, rate: Option<f64>) -> Self {
        Guard {
            in_flight: 0,
            tokens: rate.map(burst).unwrap_or(0.0),
            refilled_at: now,
            paused_until: 0,
            breaker: BreakerState::Closed,
            probing: false,
            consecutive: 0,
            cooldown: BREAKER_COOLDOWN_MICROS,
            opened_until: 0,
            recent: VecDeque::new(),
            changed_at: 0,
        }
    }
}

/// Bucket size: one second's worth of the rate, at least one request.
fn burst(rate: f64) -> f64 {
    rate.max(1.0)
}

/// The limits of one endpoint, as configured.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_concurrency: u32,
    pub rate_per_second: Option<f64>,
}

#[derive(Default)]
pub struct Guards {
    map: Mutex<HashMap<String, Guard>>,
}

impl Guards {
    fn with<R>(&self, id: &str, now: i64, limits: Limits, f: impl FnOnce(&mut Guard) -> R) -> R {
        // A panic while holding this lock leaves counters that are still usable.
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let g = map
            .entry(id.to_string())
            .or_insert_with(|| Guard::new(now, limits.rate_per_second));
        refill(g, now, limits);
        if let BreakerState::Open { until } = g.breaker
            && now >= until
        {
            g.breaker = BreakerState::HalfOpen;
        }
        f(g)
    }

    /// How many deliveries of this endpoint may start now.
    pub fn capacity(&self, id: &str, now: i64, limits: Limits) -> u32 {
        self.with(id, now, limits, |g| capacity_of(g, now, limits))
    }

    /// Takes one slot if there is one; the caller must later call [`Guards::end`].
    pub fn try_begin(&self, id: &str, now: i64, limits: Limits) -> bool {
        self.with(id, now, limits, |g| {
            if capacity_of(g, now, limits) == 0 {
                return false;
            }
            g.in_flight += 1;
            if limits.rate_per_second.is_some() {
                g.tokens -= 1.0;
            }
            if g.breaker == BreakerState::HalfOpen {
                g.probing = true;
            }
            true
        })
    }

    /// Ends a send begun with [`Guards::try_begin`]; returns the change to share when the
    /// breaker moved or a pause began.
    pub fn end(&self, id: &str, now: i64, limits: Limits, ended: Ended) -> Option<Shared> {
        self.with(id, now, limits, |g| {
            g.in_flight = g.in_flight.saturating_sub(1);
            let probe = std::mem::take(&mut g.probing);
            let (breaker_was, paused_was) = (g.breaker, g.paused_until);
            match ended {
                Ended::Success | Ended::Rejected => {
                    g.consecutive = 0;
                    record(g, now, true);
                    if probe || g.breaker == BreakerState::HalfOpen {
                        close(g);
                    }
                }
                Ended::RateLimited { pause_micros } => {
                    g.paused_until = g
                        .paused_until
                        .max(now + pause_micros.unwrap_or(DEFAULT_429_PAUSE_MICROS));
                }
                Ended::Failure => {
                    g.consecutive += 1;
                    record(g, now, false);
                    let failed = g.recent.iter().filter(|(_, ok)| !ok).count();
                    let ratio_trips = g.recent.len() >= BREAKER_MIN_ATTEMPTS && failed * 2 >= g.recent.len();
                    if probe || g.breaker == BreakerState::HalfOpen {
                        g.cooldown = (g.cooldown * 2).min(BREAKER_MAX_COOLDOWN_MICROS);
                        open(g, now + g.cooldown);
                    } else if g.breaker == BreakerState::Closed && (g.consecutive >= BREAKER_CONSECUTIVE || ratio_trips)
                    {
                        open(g, now + g.cooldown);
                    }
                }
            }
            if g.breaker == breaker_was && g.paused_until == paused_was {
                return None;
            }
            // Later than anything this node has seen, even from a node whose clock runs ahead,
            // so that a change made after adopting another one also wins over it in the store.
            g.changed_at = now.max(g.changed_at + 1);
            Some(Shared {
                open_until: (g.breaker != BreakerState::Closed).then_some(g.opened_until),
                cooldown: g.cooldown,
                paused_until: g.paused_until,
                changed_at: g.changed_at,
            })
        })
    }

    /// Takes in another node's change (or this node's own, read back: then nothing happens).
    pub fn adopt(&self, id: &str, now: i64, limits: Limits, s: Shared) {
        self.with(id, now, limits, |g| {
            if s.changed_at <= g.changed_at {
                return;
            }
            g.changed_at = s.changed_at;
            g.paused_until = g.paused_until.max(s.paused_until);
            match s.open_until {
                Some(until) => {
                    g.cooldown = s.cooldown;
                    open(g, until);
                    if now >= until {
                        g.breaker = BreakerState::HalfOpen;
                    }
                }
                None if g.breaker != BreakerState::Closed => close(g),
                None => {}
            }
        })
    }

    /// When this node's pause for the endpoint ends (µs; in the past when not paused).
    pub fn paused_until(&self, id: &str) -> i64 {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map_or(0, |g| g.paused_until)
    }

    pub fn breaker(&self, id: &str, now: i64) -> BreakerState {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(id).map(|g| g.breaker) {
            Some(BreakerState::Open { until }) if now >= until => BreakerState::HalfOpen,
            Some(s) => s,
            None => BreakerState::Closed,
        }
    }

    pub fn in_flight(&self, id: &str) -> u32 {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map_or(0, |g| g.in_flight)
    }
}

fn open(g: &mut Guard, until: i64) {
    g.breaker = BreakerState::Open { until };
    g.opened_until = until;
}

fn close(g: &mut Guard) {
    g.breaker = BreakerState::Closed;
    g.cooldown = BREAKER_COOLDOWN_MICROS;
    g.consecutive = 0;
    g.recent.clear();
}

fn refill(g: &mut Guard, now: i64, limits: Limits) {
    if let Some(rate) = limits.rate_per_second {
        let elapsed = (now - g.refilled_at).max(0) as f64 / 1e6;
        g.tokens = (g.tokens + elapsed * rate).min(burst(rate));
    }
    g.refilled_at = now;
}

fn record(g: &mut Guard, now: i64, ok: bool) {
    g.recent.push_back((now, ok));
    while g.recent.front().is_some_and(|(t, _)| *t < now - BREAKER_WINDOW_MICROS) || g.recent.len() > 1000 {
        g.recent.pop_front();
    }
}

fn capacity_of(g: &Guard, now: i64, limits: Limits) -> u32 {
    if now < g.paused_until {
        return 0;
    }
    let mut cap = limits.max_concurrency.saturating_sub(g.in_flight);
    match g.breaker {
        BreakerState::Open { .. } => return 0,
        BreakerState::HalfOpen => cap = if g.probing { 0 } else { cap.min(1) },
        BreakerState::Closed => {}
    }
    if limits.rate_per_second.is_some() {
        cap = cap.min(g.tokens.max(0.0).floor() as u32);
    }
    cap
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_concurrency: 2,
        rate_per_second: None,
    };

    #[test]
    fn concurrency_cap_and_exhaustion() {
        let g = Guards::default();
        assert!(g.try_begin("a", 0, L));
        assert!(g.try_begin("a", 0, L));
        assert!(!g.try_begin("a", 0, L), "capped at 2");
        assert_eq!(g.capacity("a", 0, L), 0);
        g.end("a", 1, L, Ended::Success);
        assert_eq!(g.capacity("a", 1, L), 1);
    }

    #[test]
    fn token_bucket_refills_at_the_rate() {
        let l = Limits {
            max_concurrency: 100,
            rate_per_second: Some(2.0),
        };
        let g = Guards::default();
        assert!(g.try_begin("a", 0, l));
        assert!(g.try_begin("a", 0, l));
        assert!(!g.try_begin("a", 0, l), "burst of one second's worth");
        assert!(!g.try_begin("a", 400_000, l));
        assert!(g.try_begin("a", 500_000, l), "one token after half a second");
    }

    #[test]
    fn a_429_pauses_the_endpoint() {
        let g = Guards::default();
        assert!(g.try_begin("a", 0, L));
        g.end(
            "a",
            0,
            L,
            Ended::RateLimited {
                pause_micros: Some(5_000_000),
            },
        );
        assert_eq!(g.capacity("a", 4_999_999, L), 0);
        assert_eq!(g.capacity("a", 5_000_000, L), 2);
        assert_eq!(
            g.breaker("a", 0),
            BreakerState::Closed,
            "rate limiting is not an outage"
        );
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let g = Guards::default();
        let l = Limits {
            max_concurrency: 50,
            rate_per_second: None,
        };
        for i in 0..BREAKER_CONSECUTIVE as i64 {
            assert!(g.try_begin("a", i, l));
            g.end("a", i, l, Ended::Failure);
        }
        let t = BREAKER_CONSECUTIVE as i64;
        assert_eq!(
            g.breaker("a", t),
            BreakerState::Open {
                until: t - 1 + BREAKER_COOLDOWN_MICROS
            }
        );
        assert_eq!(g.capacity("a", t, l), 0);
        // After the cooldown: one probe only.
        let later = t + BREAKER_COOLDOWN_MICROS;
        assert_eq!(g.breaker("a", later), BreakerState::HalfOpen);
        assert!(g.try_begin("a", later, l));
        assert!(!g.try_begin("a", later, l), "a single probe");
        // The probe fails: open again, for twice as long.
        g.end("a", later, l, Ended::Failure);
        assert_eq!(
            g.breaker("a", later),
            BreakerState::Open {
                until: later + 2 * BREAKER_COOLDOWN_MICROS
            }
        );
        let probe = later + 2 * BREAKER_COOLDOWN_MICROS;
        assert!(g.try_begin("a", probe, l));
        g.end("a", probe, l, Ended::Success);
        assert_eq!(g.breaker("a", probe), BreakerState::Closed);
        assert_eq!(g.capacity("a", probe, l), 50);
    }

    #[test]
    fn breaker_opens_on_a_failure_ratio() {
        let g = Guards::default();
        let l = Limits {
            max_concurrency: 50,
            rate_per_second: None,
        };
        // Alternating outcomes ending on a failure: never 10 in a row, but half of 21 failed.
        for i in 0..=BREAKER_MIN_ATTEMPTS as i64 {
            assert!(g.try_begin("a", i, l));
            g.end("a", i, l, if i % 2 == 0 { Ended::Failure } else { Ended::Success });
        }
        assert!(matches!(g.breaker("a", 100), BreakerState::Open { .. }));
    }

    #[test]
    fn breaker_changes_travel_between_nodes() {
        let (a, b) = (Guards::default(), Guards::default());
        let l = Limits {
            max_concurrency: 50,
            rate_per_second: None,
        };
        let mut shared = None;
        for i in 0..BREAKER_CONSECUTIVE as i64 {
            assert!(a.try_begin("e", i, l));
            let changed = a.end("e", i, l, Ended::Failure);
            assert_eq!(
                changed.is_some(),
                i == BREAKER_CONSECUTIVE as i64 - 1,
                "only the trip is news"
            );
            shared = shared.or(changed);
        }
        let opened = shared.expect("the trip is shared");
        let until = opened.open_until.expect("open");
        assert_eq!(b.capacity("e", 20, l), 50);
        b.adopt("e", 20, l, opened);
        assert_eq!(b.breaker("e", 20), BreakerState::Open { until });
        assert_eq!(b.capacity("e", 20, l), 0, "the other node stops calling too");
        a.adopt("e", 20, l, opened);
        assert_eq!(
            a.breaker("e", 20),
            BreakerState::Open { until },
            "reading back its own change"
        );

        // B sends the probe, which succeeds; A learns the breaker closed.
        assert!(b.try_begin("e", until, l));
        let closed = b.end("e", until, l, Ended::Success).expect("closing is news");
        assert_eq!(closed.open_until, None);
        a.adopt("e", until, l, closed);
        assert_eq!(a.breaker("e", until), BreakerState::Closed);
        assert_eq!(a.capacity("e", until, l), 50);
        // A stale change (older than what A knows) is ignored.
        a.adopt("e", until + 1, l, opened);
        assert_eq!(a.breaker("e", until + 1), BreakerState::Closed);

        // A pause from a 429 on one node holds the other too.
        assert!(a.try_begin("e", until + 10, l));
        let paused = a
            .end(
                "e",
                until + 10,
                l,
                Ended::RateLimited {
                    pause_micros: Some(1_000_000),
                },
            )
            .expect("a pause is news");
        b.adopt("e", until + 10, l, paused);
        assert_eq!(b.capacity("e", until + 20, l), 0);
        assert_eq!(b.paused_until("e"), until + 1_000_010);
        assert_eq!(b.capacity("e", until + 1_000_010, l), 50);

        // A node whose clock lags still stamps its later change after what it adopted.
        let ahead = Shared {
            changed_at: until + 5_000_000,
            ..paused
        };
        a.adopt("e", until + 20, l, ahead);
        assert!(a.try_begin("e", until + 2_000_000, l));
        let lagging = a
            .end(
                "e",
                until + 2_000_000,
                l,
                Ended::RateLimited {
                    pause_micros: Some(1_000_000),
                },
            )
            .expect("a longer pause is news");
        assert!(lagging.changed_at > ahead.changed_at);
    }
}
