//! Dedup keys in storage, as 16-byte digests (`key_digest.rs`) in `dedup_digests` on both
//! backends. Which delivery of a key is first is decided by the backend: on PostgreSQL an upsert
//! on the digest primary key that keeps the existing winner while its window lasts (several nodes
//! race there); on SQLite the one writer reads its recent keys and the key table
//! (`sqlite/intake.rs`). This module digests a batch's keys once, turns the winners into
//! per-write outcomes, duplicate receipts and the events that remain to insert, and holds
//! PostgreSQL's upsert and the sweep that forgets expired keys.

use std::collections::HashMap;

use crate::key_digest::KeyDigest;
use crate::{IntakeOutcome, IntakeWrite, NewEvent, Receipt};

/// A key's digest → the event holding the key (an earlier one, or this batch's first).
pub(crate) type Winners = HashMap<KeyDigest, String>;

/// A batch's dedup keys, digested once: each write's digest (`None`: a receipt or an unkeyed
/// event) and the keys to decide.
pub(crate) struct Keyed<'a> {
    pub digests: Vec<Option<KeyDigest>>,
    /// The first keyed event of each key in batch order, sorted by digest: B-tree inserts go in
    /// key order, and concurrent batches lock the keys they share in one order (so they cannot
    /// deadlock).
    pub candidates: Vec<(&'a NewEvent, KeyDigest)>,
}

pub(crate) fn keyed(batch: &[IntakeWrite]) -> Keyed<'_> {
    let digests: Vec<Option<KeyDigest>> = batch
        .iter()
        .map(|w| match w {
            IntakeWrite::Event(e) => e
                .dedup
                .as_ref()
                .map(|d| KeyDigest::of(e.source_id.as_deref().unwrap_or(""), &d.key)),
            IntakeWrite::Receipt(_) => None,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut candidates: Vec<(&NewEvent, KeyDigest)> = batch
        .iter()
        .zip(&digests)
        .filter_map(|(w, d)| match (w, d) {
            (IntakeWrite::Event(e), Some(d)) if seen.insert(*d) => Some((e, *d)),
            _ => None,
        })
        .collect();
    candidates.sort_by_key(|(_, d)| *d);
    Keyed { digests, candidates }
}

/// What to insert once the winners are known.
pub(crate) struct Plan<'a> {
    pub events: Vec<&'a NewEvent>,
    /// The deliveries of the stored events (a duplicate's are dropped with it).
    pub deliveries: Vec<&'a crate::NewDelivery>,
    /// The flow runs of the stored events (a duplicate's are dropped with it).
    pub runs: Vec<&'a crate::NewRun>,
    pub receipts: Vec<Receipt>,
    pub outcomes: Vec<IntakeOutcome>,
}

pub(crate) fn plan<'a>(batch: &'a [IntakeWrite], digests: &[Option<KeyDigest>], winners: &Winners) -> Plan<'a> {
    let mut events = Vec::with_capacity(batch.len());
    let mut receipts = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for (w, digest) in batch.iter().zip(digests) {
        match w {
            IntakeWrite::Receipt(r) => {
                receipts.push(r.clone());
                outcomes.push(IntakeOutcome::Recorded);
            }
            IntakeWrite::Event(e) => {
                let winner = digest.as_ref().and_then(|d| winners.get(d));
                match winner {
                    Some(first) if first != &e.id => {
                        receipts.push(duplicate_receipt(e, first));
                        outcomes.push(IntakeOutcome::Duplicate {
                            first_event_id: first.clone(),
                        });
                    }
                    _ => {
                        events.push(e);
                        outcomes.push(IntakeOutcome::Stored);
                    }
                }
            }
        }
    }
    let deliveries = events.iter().flat_map(|e| e.deliveries.iter()).collect();
    let runs = events.iter().flat_map(|e| e.runs.iter()).collect();
    Plan {
        events,
        deliveries,
        runs,
        receipts,
        outcomes,
    }
}

/// The receipt a duplicate delivery leaves on the first event's timeline.
fn duplicate_receipt(e: &NewEvent, first: &str) -> Receipt {
    Receipt {
        id: e.id.replacen("evt_", "rcp_", 1),
        at: e.received_at,
        source_name: e.source_name.clone().unwrap_or_default(),
        source_id: e.source_id.clone(),
        request_id: e.request_id.clone(),
        status_code: 200,
        outcome: "duplicate".into(),
        reason: Some(format!(
            "duplicate of {first} (dedup key {})",
            e.dedup.as_ref().map(|d| d.key.as_str()).unwrap_or("")
        )),
        event_id: Some(first.to_string()),
    }
}

/// Dedup keys read per step of the expiry sweep.
pub(crate) const SWEEP_CHUNK: i64 = 5000;

/// The expiry sweep of `dedup_digests`, the same on both backends (`$read`/`$write` are the
/// store's pools, `$check_writable` an expression checked before each delete), in digest order:
/// each chunk is read on a reader, and when it holds expired keys its range is deleted on the
/// writer with the expiry checked again (a key may have been taken anew since the read). No
/// index on `expires_at` is kept at intake for this, and no statement holds the writer for long.
/// A block that evaluates to `StoreResult<u64>`, the keys removed.
macro_rules! sweep_digests {
    ($read:expr, $write:expr, $now:expr, $check_writable:expr) => {{
        let mut after: Vec<u8> = Vec::new();
        let mut removed: u64 = 0;
        loop {
            let chunk: Vec<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT digest, expires_at FROM dedup_digests WHERE digest > $1 ORDER BY digest LIMIT $2",
            )
            .bind(&after)
            .bind($crate::dedup::SWEEP_CHUNK)
            .fetch_all($read)
            .await?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            if chunk.iter().any(|(_, expires_at)| *expires_at <= $now) {
                $check_writable?;
                removed +=
                    sqlx::query("DELETE FROM dedup_digests WHERE digest > $1 AND digest <= $2 AND expires_at <= $3")
                        .bind(&after)
                        .bind(last)
                        .bind($now)
                        .execute($write)
                        .await?
                        .rows_affected();
            }
            if (chunk.len() as i64) < $crate::dedup::SWEEP_CHUNK {
                break;
            }
            after = last.clone();
            // Room for intake between chunks.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        $crate::StoreResult::Ok(removed)
    }};
}
pub(crate) use sweep_digests;
