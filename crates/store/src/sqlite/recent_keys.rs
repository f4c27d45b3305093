//! SQLite's recent dedup keys: the keys won since the last merge, kept out of the big
//! `dedup_digests` B-tree so that intake does not write a random leaf of it per event.
//!
//! Why: real keys (provider ids, body hashes) are random, so each new key inserted into the tree
//! dirties its own leaf page, which the commit copies whole into the WAL; that page traffic, not
//! fsync, was what dedup cost (docs/BENCHMARKS.md). Here a won key is appended to
//! `dedup_recent_digests` (a rowid table: a few pages per batch, in the event's own transaction)
//! and held in memory; intake reads the big tree but no longer writes it. Every [`MERGE_AT`] keys
//! the writer moves the recent rows into `dedup_digests` in key order, in one transaction, so
//! neighbouring keys share the leaf write. Keys are 16-byte digests (`store/src/key_digest.rs`).
//!
//! Invariants: the map holds the latest row of each key in `dedup_recent_digests` (both change
//! only on the one writer connection, the map only after the transaction committed), so a key is
//! live iff it is live in the map or in `dedup_digests`. After a crash the map is empty and the
//! rows are still in `dedup_recent_digests`: [`merge`] runs at start-up, or before the first batch
//! when the file could not be written at start-up.

use std::collections::HashMap;

use sqlx::{Executor, SqliteConnection};

use crate::StoreResult;
use crate::key_digest::KeyDigest;

/// Keys held before the writer merges them. Bounds the map's memory (~80 bytes a key) and the
/// merge's pause; large enough that a merge's sorted run shares leaves (docs/BENCHMARKS.md).
pub(crate) const MERGE_AT: usize = 32_768;

/// The event that won a key, and when its window ends.
struct Held {
    event_id: String,
    expires_at: i64,
}

/// The in-memory mirror of `dedup_recent_digests`: digest → holder. Hashed with a seeded
/// foldhash: fast for 16 bytes, and a sender cannot aim keys at one bucket.
#[derive(Default)]
pub(crate) struct RecentKeys {
    held: HashMap<KeyDigest, Held, foldhash::fast::RandomState>,
}

impl RecentKeys {
    /// The event holding the key whose window has not ended at `now`.
    pub(crate) fn live(&self, digest: &KeyDigest, now: i64) -> Option<&str> {
        self.held
            .get(digest)
            .filter(|h| h.expires_at > now)
            .map(|h| h.event_id.as_str())
    }

    /// Records a key won by a committed batch (a key whose window ended is taken over).
    pub(crate) fn insert(&mut self, digest: KeyDigest, event_id: &str, expires_at: i64) {
        let held = Held {
            event_id: event_id.to_string(),
            expires_at,
        };
        self.held.insert(digest, held);
    }

    /// Every key held.
    pub(crate) fn digests(&self) -> impl Iterator<Item = &KeyDigest> {
        self.held.keys()
    }

    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    /// Forgets every key once they are in `dedup_digests`; a fresh map, so the memory goes too.
    pub(crate) fn clear(&mut self) {
        *self = RecentKeys::default();
    }
}

/// Moves every row of `dedup_recent_digests` into `dedup_digests`, in key order, in one
/// transaction on the writer connection. A recent row always wins: it was won when no live holder
/// existed, and every merge empties the recent table, so it is newer than any row of the tree
/// (re-checking expiry here against a wall clock that stepped back would drop a take-over).
/// Within the recent rows a later winner of a key is applied last (`seq`). The caller clears the
/// map only when this returns `Ok`.
pub(crate) async fn merge(conn: &mut SqliteConnection) -> StoreResult<()> {
    const MERGE: &str = "BEGIN IMMEDIATE; \
         INSERT INTO dedup_digests (digest, event_id, expires_at) \
         SELECT digest, event_id, expires_at FROM dedup_recent_digests WHERE true ORDER BY digest, seq \
         ON CONFLICT (digest) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at; \
         DELETE FROM dedup_recent_digests; COMMIT";
    run_or_roll_back(conn, MERGE).await
}

/// Runs a multi-statement transaction; on failure closes the transaction a failed statement left
/// open, so the connection can begin the next one.
async fn run_or_roll_back(conn: &mut SqliteConnection, sql: &'static str) -> StoreResult<()> {
    match conn.execute(sqlx::raw_sql(sql)).await {
        Ok(_) => Ok(()),
        Err(e) => {
            super::close_failed_transaction(conn).await;
            Err(e.into())
        }
    }
}

/// Moves the keys of the tables before digests (`dedup_keys`, `dedup_recent`, migration 0009)
/// into `dedup_digests` and drops them; nothing when they are gone. Chunked in key order, each
/// chunk an upsert, so a crash part-way leaves the old tables to convert again on the next start.
pub(crate) async fn convert_legacy(conn: &mut SqliteConnection) -> StoreResult<()> {
    let legacy: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'dedup_keys'")
            .fetch_optional(&mut *conn)
            .await?;
    if legacy.is_none() {
        return Ok(());
    }
    const CHUNK: i64 = 5000;
    let mut after = (String::new(), String::new());
    loop {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT source_id, key, event_id, expires_at FROM dedup_keys WHERE (source_id, key) > ($1, $2) \
             ORDER BY source_id, key LIMIT $3",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(CHUNK)
        .fetch_all(&mut *conn)
        .await?;
        upsert_converted(conn, &rows).await?;
        match rows.last() {
            Some(last) if rows.len() as i64 == CHUNK => after = (last.0.clone(), last.1.clone()),
            _ => break,
        }
    }
    // The recent rows are newer than the tree's: applied after it, in the order they were won.
    let recent: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT source_id, key, event_id, expires_at FROM dedup_recent ORDER BY seq")
            .fetch_all(&mut *conn)
            .await?;
    // One upsert: SQLite applies its rows in order, so a key won twice keeps the later winner.
    upsert_converted(conn, &recent).await?;
    run_or_roll_back(
        conn,
        "BEGIN IMMEDIATE; DROP TABLE dedup_keys; DROP TABLE dedup_recent; COMMIT",
    )
    .await
}

async fn upsert_converted(conn: &mut SqliteConnection, rows: &[(String, String, String, i64)]) -> StoreResult<()> {
    for chunk in rows.chunks(crate::queries::INSERT_CHUNK) {
        let mut qb =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO dedup_digests (digest, event_id, expires_at) ");
        qb.push_values(chunk, |mut b, (source, key, event, expires)| {
            b.push_bind(KeyDigest::of(source, key).to_vec())
                .push_bind(event.clone())
                .push_bind(*expires);
        });
        qb.push(" ON CONFLICT (digest) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at");
        qb.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_live_until_its_window_ends_and_can_be_taken_over() {
        let (a, b) = (KeyDigest::of("src_a", "k"), KeyDigest::of("src_b", "k"));
        let mut keys = RecentKeys::default();
        keys.insert(a, "evt_1", 100);
        assert_eq!(keys.live(&a, 99), Some("evt_1"));
        assert_eq!(keys.live(&a, 100), None, "the window ends at expires_at");
        assert_eq!(keys.live(&b, 0), None, "keys are per source");
        keys.insert(a, "evt_2", 200);
        assert_eq!(keys.live(&a, 150), Some("evt_2"));
        assert_eq!(keys.len(), 1, "a taken-over key is still one row of the map");
        keys.insert(b, "evt_3", 200);
        assert_eq!(keys.len(), 2);
        keys.clear();
        assert_eq!((keys.len(), keys.live(&a, 0)), (0, None));
    }
}
