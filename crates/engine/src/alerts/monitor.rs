//! The alert monitor: every round it adds this node's health counts to the store, judges each
//! enabled rule, and moves the rules whose verdict changed. Every node runs it; the store's
//! compare-and-set makes one of them win each change, and the winner queues the notification
//! in the same transaction — a change is announced exactly once.
//!
//! Lifecycle of a rule: `ok` → `firing` notifies (unless the previous notification was less
//! than `cooldown_seconds` ago: then it notifies once the cooldown has passed, if it still
//! holds); `firing` → `ok` notifies `resolved` only if its firing was announced.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::alert::{AlertSpec, AlertState};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{AlertRow, AlertTransition, NewNotification, Store};
use tokio::sync::watch;

use super::evaluate::{Facts, Verdict, evaluate};
use super::health::HealthTally;
use super::{AlertBook, message};
use crate::jobs::Lane;

/// Health samples are kept this long: a day of windows plus the dashboard's hour.
const KEEP_SAMPLES_MICROS: i64 = 25 * 3600 * 1_000_000;
/// Old samples are purged every this many rounds.
const PURGE_EVERY_ROUNDS: u64 = 120;

pub(super) struct Monitor {
    pub store: Arc<dyn Store>,
    pub book: Arc<AlertBook>,
    pub health: Arc<HealthTally>,
    pub notifications: Arc<Lane>,
    pub public_url: String,
    pub every: Duration,
}

impl Monitor {
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut round: u64 = 0;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.every) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    // What was counted since the last round still counts.
                    let _ = self.health.flush(self.store.as_ref()).await;
                    return;
                }
                self.round().await;
                round += 1;
                if round.is_multiple_of(PURGE_EVERY_ROUNDS)
                    && let Err(e) = self
                        .store
                        .purge_health_samples(now_micros() - KEEP_SAMPLES_MICROS)
                        .await
                {
                    tracing::warn!(error = %e, "old health samples could not be purged");
                }
            }
        })
    }

    /// One round: flush, then judge every enabled rule.
    pub async fn round(&self) {
        if let Err(e) = self.health.flush(self.store.as_ref()).await {
            tracing::warn!(error = %e, "health samples could not be stored; kept for the next round");
        }
        let rules = match self.book.rules().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "alert rules could not be read");
                return;
            }
        };
        let facts = Facts::new(self.store.clone(), now_micros());
        let mut queued = false;
        for (row, spec) in rules {
            let verdict = if spec.enabled {
                match evaluate(&spec.rule, &facts).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(alert = %spec.name, error = %e, "an alert rule could not be evaluated");
                        continue;
                    }
                }
            } else {
                // A disabled rule is quiet: a firing one goes back to ok without a word.
                Verdict {
                    holds: false,
                    what: String::new(),
                    places: Vec::new(),
                }
            };
            match self.judge(&row, &spec, &verdict, facts.now).await {
                Ok(q) => queued |= q,
                Err(e) => tracing::warn!(alert = %spec.name, error = %e, "an alert's state could not be stored"),
            }
        }
        if queued {
            self.notifications.wake();
        }
    }

    /// Moves the rule if its verdict calls for it; true when a notification was queued.
    async fn judge(
        &self,
        row: &AlertRow,
        spec: &AlertSpec,
        verdict: &Verdict,
        now: i64,
    ) -> switchyard_store::StoreResult<bool> {
        let state: AlertState = row.state.parse().unwrap_or(AlertState::Ok);
        let cooled = row
            .last_notified_at
            .is_none_or(|at| now - at >= (spec.cooldown_seconds as i64).saturating_mul(1_000_000));
        let announced_firing = row.notified_state.as_deref() == Some("firing");
        let (to, since, announce) = match (state, verdict.holds) {
            (AlertState::Ok, true) => (AlertState::Firing, now, cooled.then_some("firing")),
            // Still firing; announce now what a cooldown held back.
            (AlertState::Firing, true) if !announced_firing && cooled => {
                (AlertState::Firing, row.since.unwrap_or(now), Some("firing"))
            }
            (AlertState::Firing, false) => (
                AlertState::Ok,
                now,
                (announced_firing && spec.enabled).then_some("resolved"),
            ),
            _ => return Ok(false),
        };
        let detail = if verdict.holds {
            serde_json::json!({
                "what": verdict.what,
                "where": verdict.places.iter().map(|p| serde_json::json!({"kind": p.kind, "id": p.id, "name": p.name, "page": p.page})).collect::<Vec<_>>(),
            })
        } else {
            row.detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let notification = announce.map(|state| {
            // A resolution says what had held and where.
            let (what, places) = if state == "resolved" {
                let what = detail["what"]
                    .as_str()
                    .map_or_else(|| "no longer holds".to_string(), |w| format!("no longer holds: {w}"));
                (what, Vec::new())
            } else {
                (verdict.what.clone(), verdict.places.clone())
            };
            let firing_since = if state == "resolved" {
                row.since.unwrap_or(now)
            } else {
                since
            };
            let rule = serde_json::to_value(&spec.rule).unwrap_or_default();
            let mut body = message::body(
                state,
                &row.id,
                &spec.name,
                &rule,
                &what,
                &places,
                firing_since,
                now,
                &self.public_url,
            );
            if state == "resolved" {
                body["where"] = detail["where"].clone();
            }
            NewNotification {
                id: new_id(IdKind::Notification),
                state: state.into(),
                body: body.to_string(),
            }
        });
        let queued = notification.is_some();
        let moved = self
            .store
            .transition_alert(&AlertTransition {
                alert_id: row.id.clone(),
                from_state: row.state.clone(),
                from_notified: row.notified_state.clone(),
                to_state: to.as_str().into(),
                since: Some(since),
                detail: (!detail.is_null()).then(|| detail.to_string()),
                notification,
                now,
            })
            .await?;
        if moved {
            tracing::info!(alert = %spec.name, from = %row.state, to = to.as_str(), notified = queued, what = %verdict.what, "alert changed state");
        }
        Ok(moved && queued)
    }
}
