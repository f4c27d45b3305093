//! Outcomes counted where they happen — a request at `/in`, a delivery attempt, a flow run's
//! end, a call to a destination — per 10-second bucket, and added to the store's
//! `health_samples` by every node. Failure ratios, credential streaks and the dashboard's rates
//! read those sums, so no evaluation scans attempts or runs, and every node sees the cluster's
//! outcomes, not only its own.
//!
//! Recording is a map update under a short lock, with no allocation once a thing was seen in a
//! bucket. A failed flush keeps the counts for the next one (bounded: past [`MAX_KEYS`] things
//! per node, new ones are dropped and said so).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use switchyard_core::alert::ScopeKind;
use switchyard_core::time::now_micros;
use switchyard_store::{HealthSample, Store, StoreResult};

/// The width of a bucket (µs).
pub const BUCKET_MICROS: i64 = 10_000_000;
/// Counted things held in memory at most (buckets × things), should the store stay unreachable.
const MAX_KEYS: usize = 50_000;

/// How one thing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// Refused our credentials (401/403), or a signature failed verification at `/in`.
    Rejected,
    /// An OAuth2 token request was refused.
    Refused,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    total: i64,
    failed: i64,
    rejected: i64,
    refused: i64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        self.total += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Failed => self.failed += 1,
            Outcome::Rejected => {
                self.failed += 1;
                self.rejected += 1;
            }
            Outcome::Refused => {
                self.failed += 1;
                self.refused += 1;
            }
        }
    }
}

type Buckets = HashMap<(i64, ScopeKind), HashMap<String, Counts>>;

#[derive(Default)]
pub struct HealthTally {
    counts: Mutex<Buckets>,
    /// Whether new things are being dropped (said once, not per outcome).
    dropping: AtomicBool,
}

/// The bucket `at` (µs) falls in.
pub fn bucket_of(at: i64) -> i64 {
    at - at.rem_euclid(BUCKET_MICROS)
}

impl HealthTally {
    fn counts(&self) -> std::sync::MutexGuard<'_, Buckets> {
        // Every update is a few additions; a panic elsewhere cannot leave one half done.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, scope: ScopeKind, name: &str, outcome: Outcome) {
        self.record_at(now_micros(), scope, name, outcome);
    }

    pub fn record_at(&self, at: i64, scope: ScopeKind, name: &str, outcome: Outcome) {
        let key = (bucket_of(at), scope);
        let mut all = self.counts();
        // The common case: this thing was already counted in this bucket.
        if let Some(c) = all.get_mut(&key).and_then(|things| things.get_mut(name)) {
            c.add(outcome);
            return;
        }
        let held: usize = all.values().map(HashMap::len).sum();
        if held >= MAX_KEYS {
            if !self.dropping.swap(true, Ordering::Relaxed) {
                tracing::warn!("health samples cannot be stored; dropping new ones until they can");
            }
            return;
        }
        all.entry(key)
            .or_default()
            .entry(name.to_string())
            .or_default()
            .add(outcome);
    }

    /// Adds what was counted since the last flush to the store; on failure the counts are
    /// kept for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<()> {
        let taken = std::mem::take(&mut *self.counts());
        let samples: Vec<HealthSample> = taken
            .iter()
            .flat_map(|((bucket, scope), things)| {
                things.iter().map(move |(name, c)| HealthSample {
                    bucket: *bucket,
                    scope: scope.as_str().into(),
                    name: name.clone(),
                    total: c.total,
                    failed: c.failed,
                    rejected: c.rejected,
                    refused: c.refused,
                })
            })
            .collect();
        let stored = store.add_health_samples(&samples).await;
        if stored.is_ok() {
            self.dropping.store(false, Ordering::Relaxed);
        }
        if let Err(e) = stored {
            let mut all = self.counts();
            for (key, things) in taken {
                let into = all.entry(key).or_default();
                for (name, c) in things {
                    let t = into.entry(name).or_default();
                    t.total += c.total;
                    t.failed += c.failed;
                    t.rejected += c.rejected;
                    t.refused += c.refused;
                }
            }
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_into_their_bucket() {
        let t = HealthTally::default();
        let at = 1_700_000_003_000_000;
        t.record_at(at, ScopeKind::Endpoint, "ep_1", Outcome::Ok);
        t.record_at(at + 1, ScopeKind::Endpoint, "ep_1", Outcome::Rejected);
        t.record_at(at + 2, ScopeKind::Destination, "crm", Outcome::Refused);
        t.record_at(at + BUCKET_MICROS, ScopeKind::Endpoint, "ep_1", Outcome::Failed);
        let all = t.counts();
        let first = &all[&(bucket_of(at), ScopeKind::Endpoint)]["ep_1"];
        assert_eq!(
            *first,
            Counts {
                total: 2,
                failed: 1,
                rejected: 1,
                refused: 0
            }
        );
        let crm = &all[&(bucket_of(at), ScopeKind::Destination)]["crm"];
        assert_eq!(
            *crm,
            Counts {
                total: 1,
                failed: 1,
                rejected: 0,
                refused: 1
            }
        );
        assert_eq!(
            all[&(bucket_of(at) + BUCKET_MICROS, ScopeKind::Endpoint)]["ep_1"].failed,
            1
        );
        assert_eq!(bucket_of(at) % BUCKET_MICROS, 0);
    }
}
