//! Planning a batch around dedup keys. The database decides which delivery of a key is first (an
//! upsert on the `(source_id, key)` primary key that keeps the existing winner while its window
//! lasts); this module picks the candidates to offer it and turns its answer into per-write
//! outcomes, duplicate receipts and the events that remain to insert.

use std::collections::HashMap;

use crate::{IntakeOutcome, IntakeWrite, NewEvent, Receipt};

/// `(source_id, key)` → first event id in this batch for keys seen more than once.
pub(crate) type Winners = HashMap<(String, String), String>;

/// The first keyed event of each `(source, key)` in batch order: the rows offered to the upsert.
pub(crate) fn candidates(batch: &[IntakeWrite]) -> Vec<&NewEvent> {
    let mut seen = std::collections::HashSet::new();
    batch
        .iter()
        .filter_map(|w| match w {
            IntakeWrite::Event(e) => Some(e),
            IntakeWrite::Receipt(_) => None,
        })
        .filter(|e| e.dedup.is_some())
        .filter(|e| seen.insert(slot(e)))
        .collect()
}

fn slot(e: &NewEvent) -> (String, String) {
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
