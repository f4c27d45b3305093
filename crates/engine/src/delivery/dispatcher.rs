//! The delivery kind of the job runner: sends each claimed delivery on its own task and records
//! every attempt before the delivery moves on (how it claims is `claim.rs`). Invariants:
//! - only endpoints with capacity on this node are claimed for, and a claim that cannot start at
//!   once is given back, so a hanging endpoint never holds up another;
//! - a delivery is moved on only by its lease holder; a node that dies leaves leases that expire
//!   and are claimed again (at-least-once, same `webhook-id`);
//! - results are written in batches by one completer task, retried until stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use switchyard_core::delivery::DeliveryStatus;
use switchyard_core::delivery::outcome::Verdict;
use switchyard_core::delivery::schedule::{Next, next_attempt};
use switchyard_core::endpoint::{DEFAULT_DISABLE_AFTER_SECONDS, DEFAULT_MAX_CONCURRENCY};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{AttemptResult, AttemptRow, Claimed, EndpointHealth, Store};
use tokio::sync::mpsc;

use super::attempt::{Tried, attempt};
use super::due::DueEndpoints;
use crate::endpoints::{Endpoint, EndpointCatalog};
use crate::jobs::guard::{BreakerState, Ended, Guards, Limits};
use crate::jobs::{Lane, Slot, Worker};
use crate::outbound::OutboundClient;

/// An event about the delivery engine itself, published like any other so that alerting and
/// operational webhooks (endpoints subscribed to `switchyard.*`) see it.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationalEvent {
    pub event_type: &'static str,
    pub payload: serde_json::Value,
}

/// Published when an endpoint is disabled by the engine (410, or failing past its window).
pub const ENDPOINT_DISABLED: &str = "switchyard.endpoint.disabled";

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Deliveries in flight on this node, across endpoints.
    pub max_in_flight: usize,
    /// Most deliveries claimed by one query.
    pub claim_batch: i64,
    /// How long a claim lasts; must exceed the outbound total timeout.
    pub lease: Duration,
    /// Longest sleep when nothing is due (wake-ups usually come sooner).
    pub idle_poll: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_in_flight: 512,
            claim_batch: 256,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(500),
        }
    }
}

pub(super) struct Inner {
    pub(super) store: Arc<dyn Store>,
    pub(super) endpoints: Arc<EndpointCatalog>,
    client: OutboundClient,
    pub(super) guards: Guards,
    /// This kind's lane of the job runner: capacity, wake-ups and the node's lease identity.
    pub(super) lane: Arc<Lane>,
    pub(super) cfg: DispatchConfig,
    results: mpsc::UnboundedSender<AttemptResult>,
    /// Where events about the engine itself go (an endpoint disabled), to be published.
    operational: Option<mpsc::UnboundedSender<OperationalEvent>>,
    /// Endpoints known to have pending deliveries, and when the earliest falls due
    /// (through [`Inner::due_endpoints`]).
    due: Mutex<DueEndpoints>,
    /// Ask the claim loop to rediscover due endpoints from the store (after a replay).
    pub(super) rediscover: AtomicBool,
    /// Attempt outcomes for alerts and the dashboard.
    health: Arc<crate::alerts::HealthTally>,
}

impl Inner {
    /// Records that `endpoint` has deliveries due at `at` (the earlier time wins).
    pub(super) fn hint(&self, endpoint: &str, at: i64) {
        self.due_endpoints().hint(endpoint, at);
    }

    pub(super) fn due_endpoints(&self) -> std::sync::MutexGuard<'_, DueEndpoints> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn node(&self) -> &str {
        self.lane.owner()
    }
}

/// Handle to the delivery kind of the job runner.
#[derive(Clone)]
pub struct Dispatcher {
    pub(super) inner: Arc<Inner>,
}

pub(super) fn limits(ep: &Endpoint) -> Limits {
    Limits {
        max_concurrency: ep.spec.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY),
        rate_per_second: ep.spec.rate_limit_per_second,
    }
}

impl Dispatcher {
    /// The delivery worker for the job runner's lane `lane` (see [`crate::jobs`]), with its
    /// completer: attempt results are written in batches until the lane drains.
    pub fn new(
        lane: Arc<Lane>,
        store: Arc<dyn Store>,
        endpoints: Arc<EndpointCatalog>,
        client: OutboundClient,
        cfg: DispatchConfig,
        operational: Option<mpsc::UnboundedSender<OperationalEvent>>,
        health: Arc<crate::alerts::HealthTally>,
    ) -> (Dispatcher, Arc<dyn Worker>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            store,
            endpoints,
            client,
            guards: Guards::default(),
            lane,
            cfg,
            results: tx,
            operational,
            due: Mutex::default(),
            rediscover: AtomicBool::new(true),
            health,
        });
        let (drain, drained) = tokio::sync::oneshot::channel();
        let completer = inner.lane.writes().spawn(complete_loop(inner.clone(), rx, drained));
        let worker = super::claim::DeliveryWorker::new(inner.clone(), drain, completer);
        (Dispatcher { inner }, Arc::new(worker))
    }

    /// These endpoints have new deliveries due now (a publish on this node): claim at once.
    pub fn hint<'a>(&self, endpoints: impl IntoIterator<Item = &'a str>) {
        let now = now_micros();
        for ep in endpoints {
            self.inner.hint(ep, now);
        }
        self.inner.lane.wake();
    }

    /// Deliveries changed in ways only the store knows (a replay): look for due work now.
    pub fn rediscover(&self) {
        self.inner.rediscover.store(true, Ordering::Release);
        self.inner.lane.wake();
    }

    pub fn breaker(&self, endpoint_id: &str) -> BreakerState {
        self.inner.guards.breaker(endpoint_id, now_micros())
    }

    /// When the endpoint's 429 pause ends (µs; in the past when not paused).
    pub fn paused_until(&self, endpoint_id: &str) -> i64 {
        self.inner.guards.paused_until(endpoint_id)
    }

    pub fn in_flight(&self, endpoint_id: &str) -> u32 {
        self.inner.guards.in_flight(endpoint_id)
    }
}

/// Sends one claimed delivery; `slot` is its capacity in the lane, given back when it returns.
pub(super) async fn send(inner: Arc<Inner>, ep: Arc<Endpoint>, mut c: Claimed, slot: Slot) {
    let began = now_micros();
    let payload = std::mem::take(&mut c.payload);
    let tried = attempt(
        &inner.client,
        &ep,
        &c.delivery.event_id,
        payload,
        c.content_type.as_deref(),
        began,
    )
    .await;
    let now = now_micros();
    let ended = match tried.verdict {
        Verdict::Success => Ended::Success,
        Verdict::Permanent | Verdict::Gone => Ended::Rejected,
        Verdict::Retry { retry_after_seconds } if tried.status_code == Some(429) => Ended::RateLimited {
            // Parsed waits are capped at a day, so this cannot overflow; saturate anyway.
            pause_micros: retry_after_seconds.map(|s| i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1_000_000)),
        },
        Verdict::Retry { .. } => Ended::Failure,
    };
    if let Some(change) = inner.guards.end(&ep.id, now, limits(&ep), ended) {
        tracing::info!(endpoint_id = %ep.id, breaker = ?change, "endpoint breaker changed state");
        super::shared::publish(&inner, &ep.id, change);
    }
    let result = decide(&ep, &c, tried, began, now, inner.node());
    let outcome = match result.status {
        DeliveryStatus::Pending => "retrying",
        other => other.as_str(),
    };
    let label = ep.spec.name.as_deref().unwrap_or(&ep.id);
    crate::metrics::delivery_attempt(label, outcome, (now - began).max(0) as f64 / 1e6);
    inner.health.record(
        switchyard_core::alert::ScopeKind::Endpoint,
        &ep.id,
        match (&result.status, result.attempt.status_code) {
            (DeliveryStatus::Succeeded, _) => crate::alerts::Outcome::Ok,
            (_, Some(401 | 403)) => crate::alerts::Outcome::Rejected,
            _ => crate::alerts::Outcome::Failed,
        },
    );
    log_attempt(&c, &result, outcome);
    // The receiver lives as long as the dispatcher; after shutdown the lease recovers it.
    let _ = inner.results.send(result);
    drop(slot);
}

/// One line per attempt: DEBUG when delivered, WARN when a retry is scheduled, ERROR when the
/// delivery ended undelivered (it needs a human: a fix, then a replay).
fn log_attempt(c: &Claimed, r: &AttemptResult, outcome: &str) {
    let (delivery_id, event_id, endpoint_id) = (&c.delivery.id, &c.delivery.event_id, &r.endpoint_id);
    let (attempt, status_code, error_class) = (c.delivery.attempts + 1, r.attempt.status_code, &r.attempt.error_class);
    let duration_ms = r.attempt.duration_ms;
    match r.status {
        DeliveryStatus::Succeeded => {
            tracing::debug!(delivery_id = %delivery_id, event_id = %event_id, endpoint_id = %endpoint_id,
            attempt, status_code, duration_ms, outcome, "delivery attempt succeeded")
        }
        DeliveryStatus::Pending => {
            tracing::warn!(delivery_id = %delivery_id, event_id = %event_id, endpoint_id = %endpoint_id,
            attempt, status_code, error_class, duration_ms, next_attempt_at = r.next_attempt_at, outcome, "delivery attempt failed; retry scheduled")
        }
        _ => tracing::error!(delivery_id = %delivery_id, event_id = %event_id, endpoint_id = %endpoint_id,
            attempt, status_code, error_class, duration_ms, outcome, "delivery ended undelivered; replay it once the endpoint is fixed"),
    }
}

/// Where an attempt leaves its delivery and endpoint.
fn decide(ep: &Endpoint, c: &Claimed, tried: Tried, at: i64, now: i64, node: &str) -> AttemptResult {
    let attempts_made = c.delivery.attempts as u32 + 1;
    let failing = || {
        let window = ep.spec.disable_after_seconds.unwrap_or(DEFAULT_DISABLE_AFTER_SECONDS) as i64 * 1_000_000;
        match ep.failing_since {
            Some(since) if now - since > window => {
                tracing::info!(alert = "endpoint_disabled", endpoint_id = %ep.id, failing_since = since,
                    "endpoint failed continuously for longer than its disable window; disabling it");
                EndpointHealth::Disable(format!("failing continuously for more than {} s", window / 1_000_000))
            }
            // A streak already running needs no write.
            Some(_) => EndpointHealth::Unchanged,
            None => EndpointHealth::Failing,
        }
    };
    let (status, next_attempt_at, health) = match tried.verdict {
        // An endpoint that was not failing needs no write (the common case: no per-batch update).
        Verdict::Success if ep.failing_since.is_none() => (DeliveryStatus::Succeeded, None, EndpointHealth::Unchanged),
        Verdict::Success => (DeliveryStatus::Succeeded, None, EndpointHealth::Healthy),
        Verdict::Gone => {
            tracing::info!(alert = "endpoint_disabled", endpoint_id = %ep.id, "endpoint answered 410 Gone; disabling it");
            (
                DeliveryStatus::Failed,
                None,
                EndpointHealth::Disable("the endpoint answered 410 Gone".into()),
            )
        }
        Verdict::Permanent => (DeliveryStatus::Failed, None, failing()),
        Verdict::Retry { retry_after_seconds } => {
            let unit: f64 = rand::thread_rng().r#gen();
            match next_attempt(ep.spec.schedule(), attempts_made, unit, retry_after_seconds) {
                Next::RetryInMillis(ms) => (DeliveryStatus::Pending, Some(now + ms as i64 * 1000), failing()),
                // Logged with the attempt (`log_attempt`).
                Next::Dead => (DeliveryStatus::Dead, None, failing()),
            }
        }
    };
    AttemptResult {
        job: c.job,
        attempt: AttemptRow {
            id: new_id(IdKind::Attempt),
            delivery_id: c.delivery.id.clone(),
            at,
            duration_ms: tried.duration_ms,
            status_code: tried.status_code.map(i64::from),
            error_class: tried.error_class,
            request_headers: tried.request_headers,
            response_excerpt: tried.response_excerpt,
        },
        endpoint_id: ep.id.clone(),
        lease_owner: node.to_string(),
        status,
        next_attempt_at,
        health,
    }
}

/// Fails a delivery that cannot be sent at all (its endpoint is gone or disabled); it stays
/// replayable.
pub(super) fn settle_unsent(inner: &Inner, c: Claimed, class: &str, why: &str) {
    let now = now_micros();
    let _ = inner.results.send(AttemptResult {
        job: c.job,
        attempt: AttemptRow {
            id: new_id(IdKind::Attempt),
            delivery_id: c.delivery.id.clone(),
            at: now,
            duration_ms: 0,
            status_code: None,
            error_class: Some(class.into()),
            request_headers: "{}".into(),
            response_excerpt: Some(why.into()),
        },
        endpoint_id: c.delivery.endpoint_id,
        lease_owner: inner.node().to_string(),
        status: DeliveryStatus::Failed,
        next_attempt_at: None,
        health: EndpointHealth::Unchanged,
    });
}

/// Writes results in batches; a failed write is retried, never dropped, while the process lives.
/// After `drain` fires (no send is in flight any more) it writes what is queued and ends.
async fn complete_loop(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<AttemptResult>,
    mut drain: tokio::sync::oneshot::Receiver<()>,
) {
    let mut batch = Vec::new();
    let mut last = false;
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, 512) => if n == 0 { return },
            _ = &mut drain, if !last => {
                last = true;
                while let Ok(r) = rx.try_recv() {
                    batch.push(r);
                }
            }
        }
        if batch.is_empty() && last {
            return;
        }
        let mut disabled: Vec<(String, String)> = batch
            .iter()
            .filter_map(|r| match &r.health {
                EndpointHealth::Disable(why) => Some((r.endpoint_id.clone(), why.clone())),
                _ => None,
            })
            .collect();
        disabled.sort();
        disabled.dedup_by(|a, b| a.0 == b.0);
        // Out of the fan-out before the write that readers will see, not after the refresh
        // that follows it.
        inner.endpoints.disabling(disabled.iter().map(|(id, _)| id.clone()));
        let mut backoff = Duration::from_millis(100);
        loop {
            match inner.store.complete_attempts(&batch, now_micros()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, results = batch.len(), "recording attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        // Retries are due again later: tell the claim loop when, now that they are stored.
        for r in batch.iter().filter(|r| r.status == DeliveryStatus::Pending) {
            if let Some(at) = r.next_attempt_at {
                inner.hint(&r.endpoint_id, at);
            }
        }
        inner.lane.wake();
        batch.clear();
        if !disabled.is_empty() {
            // Refreshed first, so the disabled endpoint is not sent its own notice.
            if let Err(e) = inner.endpoints.refresh().await {
                tracing::warn!(error = %e, "endpoint refresh after a disable failed");
            }
            inner.endpoints.disable_stored(disabled.iter().map(|(id, _)| id));
            for (endpoint_id, reason) in disabled {
                let payload = serde_json::json!({
                    "endpoint_id": endpoint_id,
                    "reason": reason,
                    "at": switchyard_core::time::to_rfc3339(now_micros()),
                });
                if let Some(tx) = &inner.operational {
                    let _ = tx.send(OperationalEvent {
                        event_type: ENDPOINT_DISABLED,
                        payload,
                    });
                }
            }
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::DeliveryRow;

    fn endpoint(failing_since: Option<i64>, schedule: &[u64]) -> Endpoint {
        Endpoint {
            id: "ep_1".into(),
            spec: serde_json::from_value(serde_json::json!({
                "url": "https://example.com", "retry_schedule_seconds": schedule, "disable_after_seconds": 3600
            }))
            .unwrap(),
            secrets: vec![],
            disabled_reason: None,
            failing_since,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn claimed(attempts: i64) -> Claimed {
        Claimed {
            job: 1,
            delivery: DeliveryRow {
                seq: 1,
                id: "dlv_1".into(),
                event_id: "evt_1".into(),
                endpoint_id: "ep_1".into(),
                status: DeliveryStatus::Pending,
                attempts,
                next_attempt_at: Some(0),
                last_status_code: None,
                last_error: None,
                created_at: 0,
                updated_at: 0,
            },
            event_type: None,
            payload: vec![],
            content_type: None,
            received_at: 0,
        }
    }

    fn tried(verdict: Verdict, code: u16) -> Tried {
        Tried {
            verdict,
            status_code: Some(code),
            error_class: verdict.error_class(Some(code), None),
            duration_ms: 1,
            request_headers: "{}".into(),
            response_excerpt: None,
        }
    }

    const NOW: i64 = 10_000_000_000;
    const RETRY: Verdict = Verdict::Retry {
        retry_after_seconds: None,
    };

    #[test]
    fn retries_follow_the_schedule_then_dead_letter() {
        let ep = endpoint(None, &[0, 60]);
        let r = decide(&ep, &claimed(0), tried(RETRY, 503), NOW, NOW, "n");
        assert_eq!(r.status, DeliveryStatus::Pending);
        let wait = r.next_attempt_at.unwrap() - NOW;
        assert!((48_000_000..=72_000_000).contains(&wait), "60 s ± 20 %: {wait}");
        assert_eq!(r.health, EndpointHealth::Failing, "a streak starts");
        let r = decide(&ep, &claimed(1), tried(RETRY, 503), NOW, NOW, "n");
        assert_eq!((r.status.as_str(), r.next_attempt_at), ("dead", None));
        assert_eq!(r.attempt.status_code, Some(503));
        assert_eq!(r.lease_owner, "n");
    }

    #[test]
    fn endpoint_health_changes_only_when_it_must() {
        let healthy = endpoint(None, &[0]);
        let ok = decide(&healthy, &claimed(0), tried(Verdict::Success, 200), NOW, NOW, "n");
        assert_eq!(
            (ok.status.as_str(), ok.health),
            ("succeeded", EndpointHealth::Unchanged)
        );
        let recovering = endpoint(Some(NOW - 1_000_000), &[0]);
        let ok = decide(&recovering, &claimed(0), tried(Verdict::Success, 200), NOW, NOW, "n");
        assert_eq!(ok.health, EndpointHealth::Healthy, "a success ends the streak");
        let r = decide(&recovering, &claimed(0), tried(Verdict::Permanent, 400), NOW, NOW, "n");
        assert_eq!(
            (r.status.as_str(), r.health),
            ("failed", EndpointHealth::Unchanged),
            "the streak runs on"
        );
        let gone = decide(&healthy, &claimed(0), tried(Verdict::Gone, 410), NOW, NOW, "n");
        assert!(matches!(gone.health, EndpointHealth::Disable(ref why) if why.contains("410")));
    }

    #[test]
    fn failing_past_the_disable_window_disables() {
        // disable_after_seconds is 3600: a streak that began 3601 s ago disables the endpoint.
        let ep = endpoint(Some(NOW - 3_601_000_000), &[0, 5]);
        let r = decide(&ep, &claimed(0), tried(RETRY, 500), NOW, NOW, "n");
        assert!(matches!(r.health, EndpointHealth::Disable(_)), "{:?}", r.health);
        let young = endpoint(Some(NOW - 3_599_000_000), &[0, 5]);
        let r = decide(&young, &claimed(0), tried(RETRY, 500), NOW, NOW, "n");
        assert_eq!(r.health, EndpointHealth::Unchanged);
    }
}
