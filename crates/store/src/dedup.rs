//! Dedup keys in storage. Which delivery of a key is first is decided by the backend: on
//! PostgreSQL an upsert on the `(source_id, key)` primary key that keeps the existing winner while
//! its window lasts (several nodes race there); on SQLite the one writer reads its recent keys
//! and the key table (`sqlite/intake.rs`). This module picks the candidates, turns the winners
//! into per-write outcomes, duplicate receipts and the events that remain to insert, and holds
//! PostgreSQL's upsert and its sweep that forgets expired keys.

use std::collections::HashMap;

use crate::{IntakeOutcome, IntakeWrite, NewEvent, Receipt};

/// `(source_id, key)` → the event holding the key (an earlier one, or this batch's first).
pub(crate) type Winners = HashMap<(String, String), String>;

/// The order keys are offered to the upsert in, on both backends: B-tree inserts go in key
/// order, and concurrent batches lock the keys they share in one order (so they cannot deadlock).
pub(crate) fn by_key(a: &NewEvent, b: &NewEvent) -> std::cmp::Ordering {
    fn key(e: &NewEvent) -> (Option<&str>, Option<&str>) {
        (e.source_id.as_deref(), e.dedup.as_ref().map(|d| d.key.as_str()))
    }
    key(a).cmp(&key(b))
}

/// The first keyed event of each `(source, key)` in batch order, sorted [`by_key`]: the keys
/// to decide.
pub(crate) fn candidates(batch: &[IntakeWrite]) -> Vec<&NewEvent> {
    let mut seen = std::collections::HashSet::new();
    let mut first: Vec<&NewEvent> = batch
        .iter()
        .filter_map(|w| match w {
            IntakeWrite::Event(e) => Some(e),
            IntakeWrite::Receipt(_) => None,
        })
        .filter(|e| e.dedup.is_some())
        .filter(|e| seen.insert(slot(e)))
        .collect();
    first.sort_by(|a, b| by_key(a, b));
    first
}

pub(crate) fn slot(e: &NewEvent) -> (String, String) {
    let key = e.dedup.as_ref().map(|d| d.key.clone()).unwrap_or_default();
    (e.source_id.clone().unwrap_or_default(), key)
}

/// What to insert once the winners are known.
pub(crate) struct Plan<'a> {
    pub events: Vec<&'a NewEvent>,
    /// The deliveries of the stored events (a duplicate's are dropped with it).
    pub deliveries: Vec<&'a crate::NewDelivery>,
    pub receipts: Vec<Receipt>,
    pub outcomes: Vec<IntakeOutcome>,
}

pub(crate) fn plan<'a>(batch: &'a [IntakeWrite], winners: &Winners) -> Plan<'a> {
    let mut events = Vec::with_capacity(batch.len());
    let mut receipts = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for w in batch {
        match w {
            IntakeWrite::Receipt(r) => {
                receipts.push(r.clone());
                outcomes.push(IntakeOutcome::Recorded);
            }
            IntakeWrite::Event(e) => {
                let winner = e.dedup.as_ref().and_then(|_| winners.get(&slot(e)));
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
    Plan {
        events,
        deliveries,
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

/// Appends the dedup upsert for `chunk` (a slice of `&NewEvent` that all carry a key): a key
/// already held by an event whose window has not ended keeps that event; an expired one is taken
/// over. `RETURNING` tells which event holds each key afterwards.
macro_rules! push_dedup_upsert {
    ($qb:expr, $chunk:expr, $now:expr) => {
        $qb.push("INSERT INTO dedup_keys (source_id, key, event_id, expires_at) ");
        $qb.push_values($chunk, |mut b, e| {
            let d = e.dedup.as_ref().expect("dedup candidates carry a key");
            b.push_bind(e.source_id.clone().unwrap_or_default())
                .push_bind(d.key.clone())
                .push_bind(e.id.clone())
                .push_bind(d.expires_at);
        });
        $qb.push(" ON CONFLICT (source_id, key) DO UPDATE SET event_id = CASE WHEN dedup_keys.expires_at <= ");
        $qb.push_bind($now);
        $qb.push(
            " THEN excluded.event_id ELSE dedup_keys.event_id END, expires_at = CASE WHEN dedup_keys.expires_at <= ",
        );
        $qb.push_bind($now);
        $qb.push(" THEN excluded.expires_at ELSE dedup_keys.expires_at END RETURNING source_id, key, event_id");
    };
}
pub(crate) use push_dedup_upsert;

/// PostgreSQL's expiry sweep of `dedup_keys`, in primary-key order: each chunk is read on a
/// reader, and when it holds expired keys its key range is deleted on the writer with the expiry
/// checked again (a key may have been taken anew since the read). No index on `expires_at` is
/// kept at intake for this; a range delete walks the primary key, and no statement holds the
/// writer for long. Returns the keys removed. (SQLite keys by digest and has its own,
/// `sqlite/recent_keys.rs::sweep`.)
pub(crate) async fn sweep_postgres(read: &sqlx::PgPool, write: &sqlx::PgPool, now: i64) -> crate::StoreResult<u64> {
    let mut after = (String::new(), String::new());
    let mut removed = 0;
    loop {
        let chunk: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT source_id, key, expires_at FROM dedup_keys WHERE (source_id, key) > ($1, $2) \
                 ORDER BY source_id, key LIMIT $3",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(SWEEP_CHUNK)
        .fetch_all(read)
        .await?;
        let Some(last) = chunk.last() else {
            return Ok(removed);
        };
        if chunk.iter().any(|k| k.2 <= now) {
            removed += sqlx::query(
                "DELETE FROM dedup_keys WHERE (source_id, key) > ($1, $2) AND (source_id, key) <= ($3, $4) \
                 AND expires_at <= $5",
            )
            .bind(&after.0)
            .bind(&after.1)
            .bind(&last.0)
            .bind(&last.1)
            .bind(now)
            .execute(write)
            .await?
            .rows_affected();
        }
        if (chunk.len() as i64) < SWEEP_CHUNK {
            return Ok(removed);
        }
        after = (last.0.clone(), last.1.clone());
        // Room for intake between chunks.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
