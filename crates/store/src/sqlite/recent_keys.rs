//! SQLite's recent dedup keys: the keys won since the last merge, kept out of the big
//! `dedup_keys` B-tree so that intake does not write a random leaf of it per event.
//!
//! Why: real keys (provider ids, body hashes) are random, so each new key inserted into the tree
//! dirties its own leaf page, which the commit copies whole into the WAL; that page traffic, not
//! fsync, was what dedup cost (docs/BENCHMARKS.md). Here a won key is appended to `dedup_recent`
//! (a rowid table: a few pages per batch, in the event's own transaction) and held in memory;
//! intake reads the big tree but no longer writes it. Every [`MERGE_AT`] keys the writer moves
//! the recent rows into `dedup_keys` in key order, in one transaction, so neighbouring keys share
//! the leaf write.
//!
//! Invariants: the map holds the latest row of each key in `dedup_recent` (both change only on
//! the one writer connection, the map only after the transaction committed), so a key is live iff it is
//! live in the map or in `dedup_keys`. After a crash the map is empty and the rows are still in
//! `dedup_recent`: [`merge`] runs at start-up, or before the first batch when the file could not
//! be written at start-up.

use std::collections::HashMap;

use sqlx::{Executor, SqliteConnection};

use crate::StoreResult;

/// Keys held before the writer merges them. Bounds the map's memory (~200 bytes a key) and the
/// merge's pause; large enough that a merge's sorted run shares leaves (docs/BENCHMARKS.md).
pub(crate) const MERGE_AT: usize = 32_768;

/// The event that won a key, and when its window ends.
struct Held {
    event_id: String,
    expires_at: i64,
}

/// The in-memory mirror of `dedup_recent`: source id → key → holder.
#[derive(Default)]
pub(crate) struct RecentKeys {
    by_source: HashMap<String, HashMap<String, Held>>,
    len: usize,
}

impl RecentKeys {
    /// The event holding `key` of `source` whose window has not ended at `now`.
    pub(crate) fn live(&self, source: &str, key: &str, now: i64) -> Option<&str> {
        self.by_source
            .get(source)
            .and_then(|keys| keys.get(key))
            .filter(|h| h.expires_at > now)
            .map(|h| h.event_id.as_str())
    }

    /// Records a key won by a committed batch (a key whose window ended is taken over).
    pub(crate) fn insert(&mut self, source: &str, key: &str, event_id: &str, expires_at: i64) {
        let keys = self.by_source.entry(source.to_string()).or_default();
        let held = Held {
            event_id: event_id.to_string(),
            expires_at,
        };
        if keys.insert(key.to_string(), held).is_none() {
            self.len += 1;
        }
    }

    /// Calls `f` with each `(source, key)` held.
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(&str, &str)) {
        for (source, keys) in &self.by_source {
            for key in keys.keys() {
                f(source, key);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Forgets every key once they are in `dedup_keys`; a fresh map, so the memory goes too.
    pub(crate) fn clear(&mut self) {
        *self = RecentKeys::default();
    }
}

/// Moves every row of `dedup_recent` into `dedup_keys`, in key order, in one transaction on the
/// writer connection. A recent row always wins: it was won when no live holder existed, and every
/// merge empties `dedup_recent`, so it is newer than any row of `dedup_keys` (re-checking expiry
/// here against a wall clock that stepped back would drop a take-over). Within the recent rows a
/// later winner of a key is applied last (`seq`). The caller clears the map only when this
/// returns `Ok`.
pub(crate) async fn merge(conn: &mut SqliteConnection) -> StoreResult<()> {
    const MERGE: &str = "BEGIN IMMEDIATE; \
         INSERT INTO dedup_keys (source_id, key, event_id, expires_at) \
         SELECT source_id, key, event_id, expires_at FROM dedup_recent WHERE true ORDER BY source_id, key, seq \
         ON CONFLICT (source_id, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at; \
         DELETE FROM dedup_recent; COMMIT";
    match conn.execute(sqlx::raw_sql(MERGE)).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // Close a transaction a failed statement left open; the rows stay in `dedup_recent`.
            let _ = conn.execute(sqlx::raw_sql("ROLLBACK")).await;
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_live_until_its_window_ends_and_can_be_taken_over() {
        let mut keys = RecentKeys::default();
        keys.insert("src_a", "k", "evt_1", 100);
        assert_eq!(keys.live("src_a", "k", 99), Some("evt_1"));
        assert_eq!(keys.live("src_a", "k", 100), None, "the window ends at expires_at");
        assert_eq!(keys.live("src_b", "k", 0), None, "keys are per source");
        keys.insert("src_a", "k", "evt_2", 200);
        assert_eq!(keys.live("src_a", "k", 150), Some("evt_2"));
        assert_eq!(keys.len(), 1, "a taken-over key is still one row of the map");
        keys.insert("src_b", "k", "evt_3", 200);
        assert_eq!(keys.len(), 2);
        keys.clear();
        assert_eq!((keys.len(), keys.live("src_a", "k", 0)), (0, None));
    }
}
