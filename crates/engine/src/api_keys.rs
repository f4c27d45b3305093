//! API keys as authentication reads them. Reading the key on every request was one database
//! round trip per call (on PostgreSQL, a query on the server shared with the publishes it
//! authenticates), so a verified key is remembered here for at most [`RECHECK`].
//!
//! Invariant: a key revoked through this engine is refused on its next request (the revocation
//! forgets it before answering); on PostgreSQL every other node forgets it when the revocation's
//! notification arrives; in any case a key revoked elsewhere (another node, the CLI straight on
//! the database) is refused within [`RECHECK`]. Only keys that were valid and unrevoked when read
//! are remembered; unknown keys are read every time, so guessing fills no memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_core::time::Clock;
use switchyard_store::{ApiKeyRow, Signal, Store, StoreError};

use crate::jobs::Follower;

/// Longest time a remembered key is trusted before it is read again.
pub const RECHECK: Duration = Duration::from_secs(1);
/// Remembered keys at most; the memory is cleared when full (keys are few, and only a valid
/// key gets in).
const CAPACITY: usize = 10_000;

/// Verified keys by hash, each with the time it was read.
pub struct ApiKeys {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// By hash: the key and when it was read (µs).
    keys: HashMap<String, (Arc<ApiKeyRow>, i64)>,
    /// Revocations through this engine so far: a read that a revocation overtook is not kept.
    revocations: u64,
}

impl ApiKeys {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Arc<ApiKeys> {
        Arc::new(ApiKeys {
            store,
            clock,
            known: Mutex::new(Known::default()),
        })
    }

    /// The unrevoked key with this hash, if any.
    pub async fn verify(&self, hash: &str) -> Result<Option<Arc<ApiKeyRow>>, StoreError> {
        let read_at = self.clock.now_micros();
        let revocations = {
            let known = self.lock();
            if let Some((row, then)) = known.keys.get(hash)
                && (*then..*then + RECHECK.as_micros() as i64).contains(&read_at)
            {
                return Ok(Some(row.clone()));
            }
            known.revocations
        };
        let row = match self.store.api_key_by_hash(hash).await? {
            Some(row) if row.revoked_at.is_none() => Arc::new(row),
            _ => {
                self.lock().keys.remove(hash);
                return Ok(None);
            }
        };
        let mut known = self.lock();
        if known.revocations == revocations {
            if known.keys.len() >= CAPACITY {
                known.keys.clear();
            }
            known.keys.insert(hash.to_string(), (row.clone(), read_at));
        }
        Ok(Some(row))
    }

    /// Revokes key `id` and forgets it, so this node refuses it from the next request on.
    /// `false` when no active key has that id.
    pub async fn revoke(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_api_key(id, at).await;
        // Forgotten whatever the store answered: it may have revoked the key and failed after,
        // and when it says the key was not active another node may have revoked it a moment
        // ago while this node still remembers it.
        self.forget(|row| row.id == id);
        revoked
    }

    /// Forgets the remembered keys `which` picks (their next request reads them again) and
    /// counts a revocation, so a read it overtook is not kept.
    fn forget(&self, which: impl Fn(&ApiKeyRow) -> bool) {
        let mut known = self.lock();
        known.revocations += 1;
        known.keys.retain(|_, (row, _)| !which(row));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        // Plain data: a panic elsewhere while holding the lock leaves it consistent.
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A revocation on another node (or with the CLI on a PostgreSQL database) arrives as a
/// notification: everything remembered is forgotten, since the notification does not say which
/// key (a revocation is rare; each key is read once more). A lost notification falls back to
/// the [`RECHECK`] bound.
impl Follower for ApiKeys {
    fn signal(&self, signal: &Signal) {
        if *signal == Signal::KeyRevoked {
            self.forget(|_| true);
        }
    }
}
