//! Housekeeping: the periodic upkeep that keeps every stored table bounded without ever touching
//! the intake path — retention of events, receipts, deliveries and attempts, deleted sources'
//! tombstones, expired idempotency and dedup keys.
//!
//! Retention rules (the README's table): everything is kept `--retention-days` (default 30)
//! unless its source or endpoint says otherwise (`retention_days`). Published events, events of
//! deleted sources past their tombstone, and receipts of unknown source names follow the server
//! default. What must survive is enforced by the store's delete (`store/src/retention.rs`): an
//! event with a pending delivery, and a pending delivery, are never removed.
//!
//! Time comes from an injected [`Clock`], so tests drive a whole pass with controlled time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_core::endpoint::EndpointSpec;
use switchyard_core::source::SourceSpec;
use switchyard_core::time::{Clock, days_micros};
use switchyard_store::{Retained, Store, StoreResult, TombstoneRow};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Rows read per retention window (and deleted per transaction at most).
const WINDOW: i64 = 500;
/// Pause between deleting transactions, so the writer serves intake in between.
const PAUSE: Duration = Duration::from_millis(20);

/// What housekeeping needs.
#[derive(Clone)]
pub struct Housekeeping {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// `--retention-days`: the default for everything that does not say.
    pub default_days: u32,
}

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub events: u64,
    pub receipts: u64,
    pub deliveries: u64,
    pub tombstones: u64,
}

/// The retention in force for each owner in one pass.
struct Rules {
    default_days: u32,
    days: HashMap<String, u32>,
    /// The shortest retention in force: a row created after `now - shortest` cannot be expired.
    shortest: u32,
}

impl Rules {
    fn days(&self, owner: Option<&str>) -> u32 {
        owner
            .and_then(|o| self.days.get(o))
            .copied()
            .unwrap_or(self.default_days)
    }
}

impl Housekeeping {
    /// Runs a pass every `every` until the process ends.
    pub fn spawn(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.pass().await;
            }
        })
    }

    /// One full round of upkeep; failures are logged and retried at the next round.
    pub async fn pass(&self) -> Purged {
        let now = self.clock.now_micros();
        let cutoff = now.saturating_sub(i64::try_from(IDEMPOTENCY_RETENTION.as_micros()).unwrap_or(i64::MAX));
        match self.store.purge_idempotency(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "idempotency key cleanup failed"),
        }
        match self.store.purge_dedup_keys(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired dedup keys removed"),
            Err(e) => tracing::warn!(error = %e, "dedup key cleanup failed"),
        }
        match self.retention(now).await {
            Ok(p) => {
                if p != Purged::default() {
                    tracing::info!(
                        events = p.events,
                        receipts = p.receipts,
                        deliveries = p.deliveries,
                        tombstones = p.tombstones,
                        "expired rows removed"
                    );
                }
                p
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention cleanup failed; retried at the next pass");
                Purged::default()
            }
        }
    }

    async fn retention(&self, now: i64) -> StoreResult<Purged> {
        let tombstones = self.store.source_tombstones().await?;
        let (sources, endpoints) = self.rules(&tombstones).await?;
        let mut purged = Purged {
            events: self.walk(Retained::Events, &sources, now).await?,
            receipts: self.walk(Retained::Receipts, &sources, now).await?,
            deliveries: self.walk(Retained::Deliveries, &endpoints, now).await?,
            tombstones: 0,
        };
        // A tombstone outlives its source's retention by nothing: every event it governed was
        // received before the deletion, so all of them have expired by now.
        for t in &tombstones {
            let days = sources.days(Some(&t.id));
            if t.deleted_at < now.saturating_sub(days_micros(days)) {
                self.store.drop_source_tombstone(&t.id).await?;
                purged.tombstones += 1;
            }
        }
        Ok(purged)
    }

    /// Retention per source (live and tombstoned) and per endpoint, read fresh each pass.
    async fn rules(&self, tombstones: &[TombstoneRow]) -> StoreResult<(Rules, Rules)> {
        // A definition that does not parse (it always should) falls back to the default.
        let days = |days: Option<u32>| days.unwrap_or(self.default_days);
        let source_days = |config: &str| {
            days(
                serde_json::from_str::<SourceSpec>(config)
                    .ok()
                    .and_then(|s| s.retention_days),
            )
        };
        let mut sources: HashMap<String, u32> = self
            .store
            .all_sources()
            .await?
            .into_iter()
            .map(|row| (row.id, source_days(&row.config)))
            .collect();
        sources.extend(tombstones.iter().map(|t| (t.id.clone(), source_days(&t.config))));
        let endpoints: HashMap<String, u32> = self
            .store
            .all_endpoints()
            .await?
            .into_iter()
            .map(|row| {
                let d = serde_json::from_str::<EndpointSpec>(&row.config)
                    .ok()
                    .and_then(|s| s.retention_days);
                (row.id, days(d))
            })
            .collect();
        let rules = |days: HashMap<String, u32>| Rules {
            default_days: self.default_days,
            shortest: days
                .values()
                .copied()
                .chain([self.default_days])
                .min()
                .unwrap_or(self.default_days),
            days,
        };
        Ok((rules(sources), rules(endpoints)))
    }

    /// Walks `kind` oldest first in `seq` windows and deletes what expired. Stops at the first
    /// window whose rows are all younger than the shortest retention: `seq` follows time, so
    /// nothing after it can have expired (anything a clock skew hides is found next pass).
    async fn walk(&self, kind: Retained, rules: &Rules, now: i64) -> StoreResult<u64> {
        let youngest_expirable = now.saturating_sub(days_micros(rules.shortest));
        let mut after = 0;
        let mut removed = 0;
        loop {
            let rows = self.store.retained_window(kind, after, WINDOW).await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            let expired: Vec<i64> = rows
                .iter()
                .filter(|r| {
                    let cutoff = now.saturating_sub(days_micros(rules.days(r.owner.as_deref())));
                    r.ended_at.is_some_and(|t| t < cutoff)
                })
                .map(|r| r.seq)
                .collect();
            if !expired.is_empty() {
                removed += self.store.delete_retained(kind, &expired).await?;
                tokio::time::sleep(PAUSE).await;
            }
            if (rows.len() as i64) < WINDOW || rows.iter().all(|r| r.created_at >= youngest_expirable) {
                break;
            }
        }
        Ok(removed)
    }
}
