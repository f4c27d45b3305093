//! Breakers and pauses shared across nodes through the store: a node writes the changes its own
//! attempts cause, reads everyone's at each discovery, and takes the half-open probe through the
//! store so that a cluster sends one probe to a broken receiver, not one per node.

use std::sync::Arc;

use switchyard_store::{BreakerRow, StoreResult};

use super::dispatcher::{Inner, limits};
use crate::jobs::guard::{BreakerState, Shared};

/// How far back each read looks beyond the previous one: a change stamped before the last read
/// may commit after it (and another node's clock may lag).
const READ_OVERLAP_MICROS: i64 = 10_000_000;

/// Writes this node's change in the background; a failed write is logged, and the other nodes
/// then learn of the endpoint's trouble from their own attempts, as they would without sharing.
pub(super) fn publish(inner: &Arc<Inner>, endpoint_id: &str, s: Shared) {
    let row = BreakerRow {
        endpoint_id: endpoint_id.to_string(),
        open_until: s.open_until,
        cooldown: s.cooldown,
        paused_until: s.paused_until,
        changed_at: s.changed_at,
    };
    let store = inner.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.put_breaker(&row).await {
            tracing::warn!(error = %e, endpoint_id = %row.endpoint_id, "sharing a breaker change failed");
        }
    });
}

/// Adopts the changes written since `*since` (minus the overlap) and moves `*since` on.
pub(super) async fn adopt_changes(inner: &Arc<Inner>, since: &mut i64, now: i64) -> StoreResult<()> {
    let rows = inner
        .store
        .breakers_changed_since(since.saturating_sub(READ_OVERLAP_MICROS))
        .await?;
    let mut next = now;
    for row in rows {
        if row.changed_at == 0 {
            continue; // a probe lease taken before any change was stored: nothing to adopt
        }
        // An endpoint this node does not know yet is read again next time, until it is known.
        let Some(ep) = inner.endpoints.lookup(&row.endpoint_id) else {
            next = next.min(row.changed_at);
            continue;
        };
        let shared = Shared {
            open_until: row.open_until,
            cooldown: row.cooldown,
            paused_until: row.paused_until,
            changed_at: row.changed_at,
        };
        inner.guards.adopt(&ep.id, now, limits(&ep), shared);
    }
    *since = next;
    Ok(())
}

/// Whether this node may send to the endpoint under its breaker: always when closed; when
/// half-open only if it holds the cluster's probe (held until `until`).
pub(super) async fn may_send(inner: &Arc<Inner>, endpoint_id: &str, now: i64, until: i64) -> StoreResult<bool> {
    if inner.guards.breaker(endpoint_id, now) != BreakerState::HalfOpen {
        return Ok(true);
    }
    inner.store.claim_probe(endpoint_id, inner.node(), now, until).await
}
