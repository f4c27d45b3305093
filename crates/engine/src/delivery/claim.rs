//! How the delivery kind claims: which endpoints have due deliveries, and how many of each to take. Claims go
//! endpoint by endpoint, through that endpoint's own index range, and only for endpoints with
//! capacity on this node — so a backlog behind a slow or broken endpoint is never even read
//! while other endpoints are served.
//!
//! Due endpoints are known from hints (a local publish, a stored retry) and from discovery: a
//! periodic `due_endpoints` query that also finds work from other nodes, expired leases of dead
//! nodes, and replays.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use switchyard_core::time::now_micros;
use switchyard_store::{Claimed, Signal, StoreError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::dispatcher::{Inner, limits, send, settle_unsent};
use crate::endpoints::Endpoint;
use crate::jobs::{Lane, Round, Worker};

/// How often the store is asked which endpoints have pending deliveries.
const DISCOVERY_EVERY: Duration = Duration::from_secs(1);
/// The soonest a requested rediscovery runs after the previous one, so that a stream of
/// notifications costs at most ten discovery queries a second.
const REDISCOVERY_GAP: Duration = Duration::from_millis(100);

/// The delivery kind's [`Worker`]: claims endpoint by endpoint, and writes attempt results
/// through the completer until the lane drains.
pub(super) struct DeliveryWorker {
    inner: Arc<Inner>,
    state: tokio::sync::Mutex<Discovery>,
    /// Tells the completer that no send is in flight any more, and waits for its last write.
    drain: std::sync::Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

/// When the store was last asked for due endpoints and shared breakers.
struct Discovery {
    discovered: Instant,
    // Shared breakers are read once per discovery period (not at every rediscovery, which
    // notifications can ask for ten times a second), from the start, so a restarted node keeps
    // away from endpoints the cluster found broken. `breakers_read` is the store-side cursor (µs).
    breakers_checked: Option<Instant>,
    breakers_read: i64,
}

impl DeliveryWorker {
    pub(super) fn new(inner: Arc<Inner>, drain: oneshot::Sender<()>, completer: JoinHandle<()>) -> Self {
        DeliveryWorker {
            inner,
            state: tokio::sync::Mutex::new(Discovery {
                discovered: Instant::now(),
                breakers_checked: None,
                breakers_read: 0,
            }),
            drain: std::sync::Mutex::new(Some((drain, completer))),
        }
    }
}

#[async_trait::async_trait]
impl Worker for DeliveryWorker {
    fn lane(&self) -> &Arc<Lane> {
        &self.inner.lane
    }

    async fn claim(&self) -> Round {
        let inner = &self.inner;
        let mut state = self.state.lock().await;
        let asked = inner.rediscover.load(Ordering::Acquire) && state.discovered.elapsed() >= REDISCOVERY_GAP;
        if asked || state.discovered.elapsed() >= DISCOVERY_EVERY {
            inner.rediscover.store(false, Ordering::Release);
            match inner.store.due_endpoints().await {
                Ok(found) => {
                    // Merged, not replaced: a hint added while the query ran (a publish that
                    // committed after it read) must survive. A stale hint costs one empty claim.
                    for (endpoint, at) in found {
                        inner.hint(&endpoint, at);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "finding due deliveries failed; retrying"),
            }
            state.discovered = Instant::now();
        }
        if state.breakers_checked.is_none_or(|t| t.elapsed() >= DISCOVERY_EVERY) {
            if let Err(e) = super::shared::adopt_changes(inner, &mut state.breakers_read, now_micros()).await {
                tracing::warn!(error = %e, "reading shared breakers failed; retrying");
            }
            state.breakers_checked = Some(Instant::now());
        }
        let Claims { started, more } = match claim_round(inner).await {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = %e, "claiming deliveries failed; retrying");
                Claims::default()
            }
        };
        if started > 0 {
            // A busy round (the runner's `BUSY_ROUND`) lets deliveries arriving meanwhile share
            // the next claim, unless an endpoint had more due than this round could take.
            return Round {
                again: more,
                wake_at: None,
                claimed: started,
            };
        }
        // Sleep until the next known due time, a wake-up, freed capacity, or the next discovery.
        let now = now_micros();
        let next_due = inner.due_endpoints().next_after(now);
        let wait = next_due
            .map(|t| Duration::from_micros((t - now) as u64))
            .unwrap_or(inner.cfg.idle_poll)
            .min(inner.cfg.idle_poll)
            .min(DISCOVERY_EVERY.saturating_sub(state.discovered.elapsed()))
            .max(if inner.rediscover.load(Ordering::Acquire) {
                REDISCOVERY_GAP.saturating_sub(state.discovered.elapsed())
            } else {
                Duration::ZERO
            });
        Round {
            again: false,
            wake_at: Some(now + wait.as_micros() as i64),
            ..Round::default()
        }
    }

    async fn signal(&self, signal: &Signal) {
        match signal {
            Signal::Deliveries => {
                // Another node's publish or replay: find out which endpoints.
                self.inner.rediscover.store(true, Ordering::Release);
                self.inner.lane.wake();
            }
            Signal::EndpointsChanged => {
                if let Err(e) = self.inner.endpoints.refresh().await {
                    tracing::warn!(error = %e, "endpoint refresh on notification failed; the periodic one will retry");
                }
            }
            Signal::Runs | Signal::KeyRevoked => {}
        }
    }

    async fn drained(&self) {
        let pending = self.drain.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((drain, completer)) = pending {
            let _ = drain.send(());
            let _ = completer.await;
        }
    }
}

/// What one claim round did.
#[derive(Default)]
struct Claims {
    /// Deliveries started or settled.
    started: usize,
    /// Some endpoint had as many due as the round asked for: more may be claimable at once.
    more: bool,
}

/// Claims for every due endpoint with capacity, oldest due first.
async fn claim_round(inner: &Arc<Inner>) -> Result<Claims, StoreError> {
    let now = now_micros();
    let candidates = inner.due_endpoints().candidates(now);
    let lease_until = now + inner.cfg.lease.as_micros() as i64;
    let mut claims = Claims::default();
    for candidate in candidates {
        let endpoint_id = &candidate.endpoint;
        let free = inner.lane.free();
        if free == 0 {
            break;
        }
        let mut ep = inner.endpoints.lookup(endpoint_id);
        if ep.is_none() {
            // Created on another node moments ago? Look in the store before calling it deleted.
            inner
                .endpoints
                .refresh()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            ep = inner.endpoints.lookup(endpoint_id);
        }
        let want = match &ep {
            Some(e) if e.spec.enabled => {
                let cap = inner.guards.capacity(&e.id, now, limits(e));
                if cap > 0 && !super::shared::may_send(inner, &e.id, now, lease_until).await? {
                    0 // another node is sending the half-open probe
                } else {
                    i64::from(cap)
                }
            }
            // Deleted or disabled: its deliveries are settled without sending.
            _ => inner.cfg.claim_batch,
        }
        .min(free as i64)
        .min(inner.cfg.claim_batch);
        if want == 0 {
            continue;
        }
        let claimed = inner
            .store
            .claim_deliveries(inner.node(), now, lease_until, want, Some(endpoint_id))
            .await?;
        if (claimed.len() as i64) < want {
            // Nothing more is due now; later retries are hinted when stored, and discovery
            // finds the rest.
            inner.due_endpoints().claimed_all(&candidate);
        } else {
            claims.more = true;
        }
        claims.started += start(inner, ep, claimed, now).await?;
    }
    Ok(claims)
}

async fn start(
    inner: &Arc<Inner>,
    ep: Option<Arc<Endpoint>>,
    claimed: Vec<Claimed>,
    now: i64,
) -> Result<usize, StoreError> {
    let count = claimed.len();
    let mut give_back = Vec::new();
    for c in claimed {
        let Some(ep) = ep.clone() else {
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
            crate::metrics::rate_limit_wait("endpoint", ep.spec.name.as_deref().unwrap_or(&ep.id));
            give_back.push(c.job);
            continue;
        }
        tokio::spawn(send(inner.clone(), ep, c, inner.lane.slot()));
    }
    inner.store.release_claims(inner.node(), &give_back).await?;
    Ok(count - give_back.len())
}
