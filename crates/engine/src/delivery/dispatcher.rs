//! The dispatcher: claims due deliveries (leases), sends each on its own task, and records every
//! attempt before the delivery moves on. Invariants:
//! - only endpoints with capacity on this node are claimed for, and a claim that cannot start at
//!   once is given back, so a hanging endpoint never holds up another;
//! - a delivery is moved on only by its lease holder; a node that dies leaves leases that expire
//!   and are claimed again (at-least-once, same `webhook-id`);
//! - results are written in batches by one completer task, retried until stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use switchyard_core::delivery::outcome::Verdict;
use switchyard_core::delivery::schedule::{Next, next_attempt};
use switchyard_core::endpoint::{DEFAULT_DISABLE_AFTER_SECONDS, DEFAULT_MAX_CONCURRENCY};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{AttemptResult, AttemptRow, Claimed, EndpointHealth, Signal, Store};
use tokio::sync::{Notify, mpsc, watch};

use super::attempt::{Tried, attempt};
use super::guard::{BreakerState, Ended, Guards, Limits};
use crate::endpoints::{Endpoint, EndpointCatalog};
use crate::outbound::OutboundClient;

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

struct Inner {
    store: Arc<dyn Store>,
    endpoints: Arc<EndpointCatalog>,
    client: OutboundClient,
    guards: Guards,
    /// New work (a publish, a replay, a notification from another node).
    wake: Notify,
    /// A send finished, so capacity may have come back.
    freed: Notify,
    node: String,
    cfg: DispatchConfig,
    in_flight: AtomicUsize,
    results: mpsc::UnboundedSender<AttemptResult>,
}

/// Handle to the running dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

fn limits(ep: &Endpoint) -> Limits {
    Limits {
        max_concurrency: ep.spec.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY),
        rate_per_second: ep.spec.rate_limit_per_second,
    }
}

impl Dispatcher {
    /// Starts the claim loop and the completer; both stop when `shutdown` turns true (in-flight
    /// sends finish and are recorded first).
    pub fn start(
        store: Arc<dyn Store>,
        endpoints: Arc<EndpointCatalog>,
        client: OutboundClient,
        cfg: DispatchConfig,
        shutdown: watch::Receiver<bool>,
    ) -> (Dispatcher, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            store,
            endpoints,
            client,
            guards: Guards::default(),
            wake: Notify::new(),
            freed: Notify::new(),
            node: new_id(IdKind::Request).replacen("req_", "node_", 1),
            cfg,
            in_flight: AtomicUsize::new(0),
            results: tx,
        });
        let (drain, drained) = tokio::sync::oneshot::channel();
        let completer = tokio::spawn(complete_loop(inner.store.clone(), inner.endpoints.clone(), rx, drained));
        tokio::spawn(relay_wakeups(Arc::downgrade(&inner)));
        let looping = inner.clone();
        let handle = tokio::spawn(async move {
            claim_loop(looping.clone(), shutdown).await;
            while looping.in_flight.load(Ordering::Acquire) > 0 {
                // `freed` is notified after each send; the timeout covers a notification that
                // raced with this check.
                let _ = tokio::time::timeout(Duration::from_millis(50), looping.freed.notified()).await;
            }
            let _ = drain.send(());
            let _ = completer.await;
        });
        (Dispatcher { inner }, handle)
    }

    /// New deliveries exist: claim now rather than at the next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn breaker(&self, endpoint_id: &str) -> BreakerState {
        self.inner.guards.breaker(endpoint_id, now_micros())
    }

    pub fn in_flight(&self, endpoint_id: &str) -> u32 {
        self.inner.guards.in_flight(endpoint_id)
    }
}

/// Wake-ups from other nodes (PostgreSQL `LISTEN`), relayed to this dispatcher while it lives.
async fn relay_wakeups(inner: std::sync::Weak<Inner>) {
    let subscribed = match inner.upgrade() {
        Some(i) => i.store.subscribe_deliveries().await,
        None => return,
    };
    let mut rx = match subscribed {
        Ok(Some(rx)) => rx,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe to delivery notifications; polling only");
            return;
        }
    };
    while let Some(signal) = rx.recv().await {
        let Some(i) = inner.upgrade() else { return };
        match signal {
            Signal::Deliveries => i.wake.notify_one(),
            Signal::EndpointsChanged => {
                if let Err(e) = i.endpoints.refresh().await {
                    tracing::warn!(error = %e, "endpoint refresh on notification failed; the periodic one will retry");
                }
            }
        }
    }
}

async fn claim_loop(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claimed = match claim_and_start(&inner).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "claiming deliveries failed; retrying");
                0
            }
        };
        if claimed > 0 {
            continue;
        }
        let wait = match inner.store.next_due_at().await {
            Ok(Some(due)) if due > now_micros() => {
                Duration::from_micros((due - now_micros()) as u64).min(inner.cfg.idle_poll)
            }
            _ => inner.cfg.idle_poll,
        };
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = inner.freed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One claim round; returns how many deliveries were started or settled.
async fn claim_and_start(inner: &Arc<Inner>) -> Result<usize, switchyard_store::StoreError> {
    let free = inner
        .cfg
        .max_in_flight
        .saturating_sub(inner.in_flight.load(Ordering::Acquire));
    if free == 0 {
        return Ok(0);
    }
    let now = now_micros();
    let exclude = inner
        .guards
        .exhausted(now, |id| inner.endpoints.lookup(id).map(|e| limits(&e)));
    let lease_until = now + inner.cfg.lease.as_micros() as i64;
    let batch = inner.cfg.claim_batch.min(free as i64);
    let claimed = inner
        .store
        .claim_deliveries(&inner.node, now, lease_until, batch, &exclude)
        .await?;
    let count = claimed.len();
    // An endpoint created on another node may not be in this node's view yet: look again in
    // the store before treating it as deleted.
    if claimed
        .iter()
        .any(|c| inner.endpoints.lookup(&c.delivery.endpoint_id).is_none())
        && let Err(e) = inner.endpoints.refresh().await
    {
        tracing::warn!(error = %e, "endpoint refresh failed; giving the claims back");
        let ids: Vec<String> = claimed.iter().map(|c| c.delivery.id.clone()).collect();
        inner.store.release_claims(&inner.node, &ids).await?;
        return Ok(0);
    }
    let mut give_back = Vec::new();
    for c in claimed {
        let Some(ep) = inner.endpoints.lookup(&c.delivery.endpoint_id) else {
            settle_unsent(inner, c, "endpoint_deleted", "the endpoint no longer exists");
            continue;
        };
        if !ep.spec.enabled {
            settle_unsent(
                inner,
                c,
                "endpoint_disabled",
                "the endpoint is disabled; replay after enabling it",
            );
            continue;
        }
        if !inner.guards.try_begin(&ep.id, now, limits(&ep)) {
            give_back.push(c.delivery.id.clone());
            continue;
        }
        inner.in_flight.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(send(inner.clone(), ep, c));
    }
    let started = count - give_back.len();
    inner.store.release_claims(&inner.node, &give_back).await?;
    Ok(started)
}

async fn send(inner: Arc<Inner>, ep: Arc<Endpoint>, c: Claimed) {
    let began = now_micros();
    let tried = attempt(&inner.client, &ep, &c.delivery.event_id, c.payload.clone(), began).await;
    let now = now_micros();
    let ended = match tried.verdict {
        Verdict::Success => Ended::Success,
        Verdict::Permanent | Verdict::Gone => Ended::Rejected,
        Verdict::Retry { retry_after_seconds } if tried.status_code == Some(429) => Ended::RateLimited {
            pause_micros: retry_after_seconds.map(|s| s as i64 * 1_000_000),
        },
        Verdict::Retry { .. } => Ended::Failure,
    };
    inner.guards.end(&ep.id, now, limits(&ep), ended);
    let result = decide(&ep, &c, tried, began, now, &inner.node);
    // The receiver lives as long as the dispatcher; after shutdown the lease recovers it.
    let _ = inner.results.send(result);
    inner.in_flight.fetch_sub(1, Ordering::AcqRel);
    inner.freed.notify_one();
}

/// Where an attempt leaves its delivery and endpoint.
fn decide(ep: &Endpoint, c: &Claimed, tried: Tried, at: i64, now: i64, node: &str) -> AttemptResult {
    let attempts_made = c.delivery.attempts as u32 + 1;
    let failing = || {
        let window = ep.spec.disable_after_seconds.unwrap_or(DEFAULT_DISABLE_AFTER_SECONDS) as i64 * 1_000_000;
        match ep.failing_since {
            Some(since) if now - since > window => {
                tracing::warn!(alert = "endpoint_disabled", endpoint_id = %ep.id, failing_since = since,
                    "endpoint failed continuously for longer than its disable window; disabling it");
                EndpointHealth::Disable(format!("failing continuously for more than {} s", window / 1_000_000))
            }
            _ => EndpointHealth::Failing,
        }
    };
    let (status, next_attempt_at, health) = match tried.verdict {
        Verdict::Success => ("succeeded", None, EndpointHealth::Healthy),
        Verdict::Gone => {
            tracing::warn!(alert = "endpoint_disabled", endpoint_id = %ep.id, "endpoint answered 410 Gone; disabling it");
            (
                "failed",
                None,
                EndpointHealth::Disable("the endpoint answered 410 Gone".into()),
            )
        }
        Verdict::Permanent => ("failed", None, failing()),
        Verdict::Retry { retry_after_seconds } => {
            let unit: f64 = rand::thread_rng().r#gen();
            match next_attempt(ep.spec.schedule(), attempts_made, unit, retry_after_seconds) {
                Next::RetryInMillis(ms) => ("pending", Some(now + ms as i64 * 1000), failing()),
                Next::Dead => {
                    tracing::warn!(delivery_id = %c.delivery.id, endpoint_id = %ep.id, "delivery dead-lettered after its last attempt");
                    ("dead", None, failing())
                }
            }
        }
    };
    AttemptResult {
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
        status: status.into(),
        next_attempt_at,
        health,
    }
}

/// Fails a delivery that cannot be sent at all (its endpoint is gone or disabled); it stays
/// replayable.
fn settle_unsent(inner: &Inner, c: Claimed, class: &str, why: &str) {
    let now = now_micros();
    let _ = inner.results.send(AttemptResult {
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
        lease_owner: inner.node.clone(),
        status: "failed".into(),
        next_attempt_at: None,
        health: EndpointHealth::Unchanged,
    });
}

/// Writes results in batches; a failed write is retried, never dropped, while the process lives.
/// After `drain` fires (no send is in flight any more) it writes what is queued and ends.
async fn complete_loop(
    store: Arc<dyn Store>,
    endpoints: Arc<EndpointCatalog>,
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
        let disables = batch.iter().any(|r| matches!(r.health, EndpointHealth::Disable(_)));
        let mut backoff = Duration::from_millis(100);
        loop {
            match store.complete_attempts(&batch, now_micros()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, results = batch.len(), "recording attempts failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
        if disables && let Err(e) = endpoints.refresh().await {
            tracing::warn!(error = %e, "endpoint refresh after a disable failed");
        }
        if last {
            return;
        }
    }
}
