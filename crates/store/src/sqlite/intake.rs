//! One intake batch on the SQLite writer, usually in one trip to SQLite's worker thread:
//! `BEGIN IMMEDIATE`, the inserts and `COMMIT` as one multi-statement command. A second trip, a
//! read before it, is made only for keys the recent-keys map does not hold and the key filter
//! cannot rule out (one cached statement, the digests passed as one JSON array). Sent statement
//! by statement, each step would wait for the async writer task to be scheduled again among
//! thousands of request tasks; that round trip, not SQLite, was the cost of a commit under load.
//! Only the writer writes keys, and it holds the connection across both trips, so what the read
//! found still holds when the command runs.

use sqlx::{Executor, QueryBuilder, Sqlite};

use super::key_filter::KeyFilter;
use super::recent_keys::RecentKeys;
use crate::dedup::Winners;
use crate::delivery::queries::{push_delivery_job_rows, push_delivery_rows};
use crate::flows::{push_run_job_rows, push_run_rows};
use crate::key_digest::KeyDigest;
use crate::queries::{INSERT_CHUNK, push_event_rows, push_receipt_rows};
use crate::{IntakeOutcome, IntakeWrite, NewEvent, StoreResult};

/// The live holders among the digests, given as one JSON array of hex strings. Fixed SQL, so the
/// statement is prepared once.
const LOOKUP: &str = "SELECT d.digest, d.event_id FROM json_each($1) j \
     JOIN dedup_digests d ON d.digest = unhex(j.value) WHERE d.expires_at > $2";

/// What the writer knows of the keys apart from the table.
pub(super) struct Keys<'a> {
    pub recent: &'a std::sync::Mutex<RecentKeys>,
    pub filter: &'a std::sync::Mutex<KeyFilter>,
    pub tree_reads: &'a std::sync::atomic::AtomicU64,
}

/// A candidate key: its event and its digest.
type Candidate<'a> = (&'a NewEvent, KeyDigest);

/// Commits a batch. Dedup is decided here: a key is held by the live entry of the recent-keys
/// map, else by the live row of `dedup_digests` (read only when the key filter cannot rule it
/// out), else by the batch's first write of it, which wins it: appended to
/// `dedup_recent_digests` in the same transaction and added to the map once committed.
pub(super) async fn commit_on(
    conn: &mut sqlx::SqliteConnection,
    keys: Keys<'_>,
    batch: &[IntakeWrite],
) -> StoreResult<Vec<IntakeOutcome>> {
    let Keys {
        recent,
        filter,
        tree_reads,
    } = keys;
    let now = switchyard_core::time::now_micros();
    let keyed = crate::dedup::keyed(batch);
    let mut winners = Winners::new();
    // Keys held by no one the writer knows of: `unknown` ones may be in the tree, `fresh` ones
    // certainly are not.
    let mut unknown: Vec<Candidate> = Vec::new();
    let mut fresh: Vec<Candidate> = Vec::new();
    {
        let recent = recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let filter = filter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for &(e, digest) in &keyed.candidates {
            match recent.live(&digest, now) {
                Some(holder) => {
                    winners.insert(digest, holder.to_string());
                }
                None if filter.may_hold(digest) => unknown.push((e, digest)),
                None => fresh.push((e, digest)),
            }
        }
    }
    if !unknown.is_empty() {
        tree_reads.fetch_add(unknown.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let hex: Vec<String> = unknown.iter().map(|(_, d)| d.hex()).collect();
        let hex = serde_json::to_string(&hex).map_err(|e| crate::StoreError::Unavailable(e.to_string()))?;
        let held: Vec<(Vec<u8>, String)> = sqlx::query_as(LOOKUP).bind(hex).bind(now).fetch_all(&mut *conn).await?;
        winners.extend(
            held.into_iter()
                .filter_map(|(d, event)| Some((KeyDigest::from_slice(&d)?, event))),
        );
    }
    let won: Vec<Candidate> = unknown
        .into_iter()
        .filter(|(_, digest)| !winners.contains_key(digest))
        .chain(fresh)
        .collect();
    for (e, digest) in &won {
        winners.insert(*digest, e.id.clone());
    }
    let plan = crate::dedup::plan(batch, &keyed.digests, &winners);
    let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
    for chunk in plan.events.chunks(INSERT_CHUNK) {
        push_event_rows!(qb, chunk);
        qb.push("; ");
    }
    for chunk in won.chunks(INSERT_CHUNK) {
        qb.push("INSERT INTO dedup_recent_digests (digest, event_id, expires_at) ");
        qb.push_values(chunk, |mut b, (e, digest)| {
            b.push_bind(digest.to_vec())
                .push_bind(e.id.clone())
                .push_bind(e.dedup.as_ref().map_or(0, |d| d.expires_at));
        });
        qb.push("; ");
    }
    for chunk in plan.deliveries.chunks(INSERT_CHUNK) {
        push_delivery_rows!(qb, chunk);
        qb.push("; ");
        push_delivery_job_rows!(qb, chunk);
        qb.push("; ");
    }
    for chunk in plan.runs.chunks(INSERT_CHUNK) {
        push_run_rows!(qb, chunk);
        qb.push("; ");
        push_run_job_rows!(qb, chunk);
        qb.push("; ");
    }
    for chunk in plan.receipts.chunks(INSERT_CHUNK) {
        push_receipt_rows!(qb, chunk);
        qb.push("; ");
    }
    qb.push("COMMIT");
    // Not cached: a batch's SQL is unique to its size, so a cached copy would only hold memory
    // (up to the cache's 100 statements of multi-row inserts) after a burst.
    conn.execute(qb.build().persistent(false)).await?;
    let mut recent = recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (e, digest) in won {
        recent.insert(digest, &e.id, e.dedup.as_ref().map_or(0, |d| d.expires_at));
    }
    Ok(plan.outcomes)
}
