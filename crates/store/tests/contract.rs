//! The storage contract: every test here runs against SQLite (a real file) and, when
//! `SWITCHYARD_TEST_POSTGRES` is set, against a fresh PostgreSQL database of its own.

use std::sync::Arc;

use switchyard_store::*;

mod common;

contract!(
    intake_batches_store_events_and_receipts_intact,
    a_failing_batch_stores_nothing,
    events_page_newest_first_with_filters,
    pages_stay_exact_while_events_arrive,
    sources_are_unique_by_name_and_updatable,
    api_keys_are_found_by_hash_and_revoked_once,
    idempotency_reserves_then_replays,
    receipts_list_newest_first,
    duplicates_are_answered_with_the_first_event,
    concurrent_duplicates_store_exactly_one_event,
    the_dedup_sweep_forgets_only_expired_keys,
    keys_stay_held_across_many_batches,
);

fn event(id: &str, source: &str, at: i64, payload: &[u8]) -> NewEvent {
    NewEvent {
        id: id.into(),
        source_id: Some(format!("src_{source}")),
        source_name: Some(source.into()),
        event_type: Some(format!("{source}.happened")),
        status: "received".into(),
        received_at: at,
        content_type: Some("application/json".into()),
        headers: r#"{"x-a":"1"}"#.into(),
        payload: payload.to_vec(),
        request_id: format!("req_{id}"),
        dedup: None,
        validation_errors: None,
        deliveries: Vec::new(),
    }
}

fn keyed(id: &str, source: &str, key: &str, expires_at: i64) -> IntakeWrite {
    let mut e = event(id, source, 1, b"{}");
    e.dedup = Some(DedupKey {
        key: key.into(),
        expires_at,
    });
    IntakeWrite::Event(e)
}

const FOREVER: i64 = i64::MAX / 2;

fn receipt(id: &str, source: &str, status: i32, event_id: Option<&str>) -> Receipt {
    Receipt {
        id: id.into(),
        at: 1,
        source_name: source.into(),
        source_id: None,
        request_id: format!("req_{id}"),
        status_code: status,
        outcome: if event_id.is_some() {
            "received".into()
        } else {
            "rejected".into()
        },
        reason: event_id.is_none().then(|| "bad".to_string()),
        event_id: event_id.map(str::to_string),
    }
}

fn accepted(id: &str, source: &str, at: i64) -> IntakeWrite {
    IntakeWrite::Event(event(id, source, at, format!("{{\"id\":\"{id}\"}}").as_bytes()))
}

fn rejected(id: &str, source: &str, at: i64, status: i32) -> IntakeWrite {
    IntakeWrite::Receipt(Receipt {
        at,
        ..receipt(id, source, status, None)
    })
}

fn filter(limit: i64) -> EventFilter {
    EventFilter {
        limit,
        ..EventFilter::default()
    }
}

async fn intake_batches_store_events_and_receipts_intact(store: Arc<dyn Store>) {
    let binary: Vec<u8> = (0..=255u8).collect();
    let batch = vec![
        IntakeWrite::Event(event("e1", "a", 10, &binary)),
        rejected("r2", "a", 11, 401),
    ];
    store.commit_intake(&batch).await.unwrap();
    let e = store.get_event("e1").await.unwrap().expect("stored");
    assert_eq!(e.payload, binary, "payload bytes are kept exactly");
    assert_eq!(e.source_name.as_deref(), Some("a"));
    assert_eq!(e.headers, r#"{"x-a":"1"}"#);
    assert_eq!(e.request_id, "req_e1");
    assert!(
        store.event_receipts("e1").await.unwrap().is_empty(),
        "no later receipts yet"
    );
    // A later receipt that names the event joins its timeline.
    store
        .commit_intake(&[IntakeWrite::Receipt(receipt("r3", "a", 200, Some("e1")))])
        .await
        .unwrap();
    let later = store.event_receipts("e1").await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].status_code, 200);
    assert!(store.get_event("nope").await.unwrap().is_none());
    store.ping().await.unwrap();
}

async fn a_failing_batch_stores_nothing(store: Arc<dyn Store>) {
    store.commit_intake(&[accepted("dup", "a", 1)]).await.unwrap();
    let batch = vec![accepted("fresh", "a", 2), accepted("dup", "a", 3)];
    assert!(store.commit_intake(&batch).await.is_err());
    assert!(
        store.get_event("fresh").await.unwrap().is_none(),
        "the batch is all-or-nothing"
    );
    assert_eq!(store.list_events(&filter(10)).await.unwrap().items.len(), 1);
}

async fn events_page_newest_first_with_filters(store: Arc<dyn Store>) {
    let batch: Vec<_> = (0..7)
        .map(|i| accepted(&format!("e{i}"), if i % 2 == 0 { "even" } else { "odd" }, 100 + i))
        .collect();
    store.commit_intake(&batch).await.unwrap();
    let p1 = store.list_events(&filter(3)).await.unwrap();
    let ids: Vec<_> = p1.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e6", "e5", "e4"]);
    assert!(p1.has_more);
    let p2 = store
        .list_events(&EventFilter {
            before_seq: Some(p1.items[2].seq),
            ..filter(10)
        })
        .await
        .unwrap();
    assert_eq!(
        p2.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e3", "e2", "e1", "e0"]
    );
    assert!(!p2.has_more);
    let even = store
        .list_events(&EventFilter {
            source: Some("even".into()),
            ..filter(10)
        })
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    let by_id = store
        .list_events(&EventFilter {
            source: Some("src_odd".into()),
            ..filter(10)
        })
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 3);
    let window = store
        .list_events(&EventFilter {
            since: Some(102),
            until: Some(105),
            ..filter(10)
        })
        .await
        .unwrap();
    assert_eq!(
        window.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e4", "e3", "e2"]
    );
    let typed = store
        .list_events(&EventFilter {
            event_type: Some("odd.happened".into()),
            ..filter(10)
        })
        .await
        .unwrap();
    assert_eq!(typed.items.len(), 3);
    let none = store
        .list_events(&EventFilter {
            status: Some("failed".into()),
            ..filter(10)
        })
        .await
        .unwrap();
    assert!(none.items.is_empty() && !none.has_more);
}

async fn pages_stay_exact_while_events_arrive(store: Arc<dyn Store>) {
    let first: Vec<_> = (0..300).map(|i| accepted(&format!("old{i:04}"), "s", i)).collect();
    store.commit_intake(&first).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for round in 0..30 {
                let batch: Vec<_> = (0..10)
                    .map(|i| accepted(&format!("new{round:02}{i}"), "s", 1000))
                    .collect();
                store.commit_intake(&batch).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_events(&EventFilter {
                before_seq: cursor,
                ..filter(7)
            })
            .await
            .unwrap();
        cursor = page.items.last().map(|e| e.seq);
        seen.extend(page.items.into_iter().map(|e| e.id));
        if !page.has_more {
            break;
        }
    }
    writer.await.unwrap();
    let mut old: Vec<_> = seen.iter().filter(|id| id.starts_with("old")).cloned().collect();
    let total = old.len();
    old.sort();
    old.dedup();
    assert_eq!(total, 300, "every event that existed is seen exactly once");
    assert_eq!(old.len(), 300);
    let mut all = seen.clone();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), seen.len(), "no event appears twice");
}

fn source_row(id: &str, name: &str) -> SourceRow {
    SourceRow {
        id: id.into(),
        name: name.into(),
        config: format!(r#"{{"name":"{name}"}}"#),
        secrets: Some(vec![1, 2, 3]),
        enabled: true,
        created_at: 1,
        updated_at: 1,
    }
}

async fn sources_are_unique_by_name_and_updatable(store: Arc<dyn Store>) {
    store.insert_source(&source_row("src_1", "stripe")).await.unwrap();
    let taken = store.insert_source(&source_row("src_2", "stripe")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    store.insert_source(&source_row("src_2", "github")).await.unwrap();
    assert_eq!(store.get_source("stripe").await.unwrap().unwrap().id, "src_1");
    assert_eq!(store.get_source("src_2").await.unwrap().unwrap().name, "github");
    assert_eq!(
        store.get_source("src_1").await.unwrap().unwrap().secrets,
        Some(vec![1, 2, 3])
    );
    let mut changed = source_row("src_1", "stripe");
    changed.enabled = false;
    changed.updated_at = 5;
    assert!(store.update_source(&changed).await.unwrap());
    assert!(!store.get_source("stripe").await.unwrap().unwrap().enabled);
    let rename_clash = source_row("src_1", "github");
    assert!(matches!(
        store.update_source(&rename_clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(!store.update_source(&source_row("src_9", "x")).await.unwrap());
    let page = store.list_sources(None, 1).await.unwrap();
    assert_eq!(page.items[0].id, "src_2");
    assert!(page.has_more);
    let rest = store.list_sources(Some("src_2"), 10).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(store.all_sources().await.unwrap().len(), 2);
    assert!(store.delete_source("src_1", 5).await.unwrap());
    assert!(!store.delete_source("src_1", 6).await.unwrap());
    assert!(store.get_source("stripe").await.unwrap().is_none());
}

async fn api_keys_are_found_by_hash_and_revoked_once(store: Arc<dyn Store>) {
    for (id, hash) in [("key_1", "h1"), ("key_2", "h2")] {
        let row = ApiKeyRow {
            id: id.into(),
            name: "n".into(),
            scope: "read".into(),
            hash: hash.into(),
            hint: "sy_abcd".into(),
            created_at: 1,
            revoked_at: None,
        };
        store.insert_api_key(&row).await.unwrap();
    }
    assert_eq!(store.api_key_by_hash("h1").await.unwrap().unwrap().id, "key_1");
    assert!(store.api_key_by_hash("h3").await.unwrap().is_none());
    assert!(store.revoke_api_key("key_1", 9).await.unwrap());
    assert!(!store.revoke_api_key("key_1", 10).await.unwrap(), "already revoked");
    assert_eq!(store.api_key_by_hash("h1").await.unwrap().unwrap().revoked_at, Some(9));
    let page = store.list_api_keys(None, 1).await.unwrap();
    assert_eq!((page.items[0].id.as_str(), page.has_more), ("key_2", true));
}

async fn idempotency_reserves_then_replays(store: Arc<dyn Store>) {
    let lease = IDEMPOTENCY_LEASE.as_micros() as i64;
    assert_eq!(
        store.idempotency_begin("key_1", "k", "fp", 1).await.unwrap(),
        IdempotencyState::Started
    );
    assert_eq!(
        store.idempotency_begin("key_1", "k", "fp", 2).await.unwrap(),
        IdempotencyState::InProgress {
            fingerprint: "fp".into()
        }
    );
    assert_eq!(
        store.idempotency_begin("key_2", "k", "fp", 2).await.unwrap(),
        IdempotencyState::Started,
        "keys are per principal"
    );
    store.idempotency_complete("key_1", "k", 201, b"body").await.unwrap();
    let done = IdempotencyState::Completed {
        fingerprint: "fp".into(),
        status_code: 201,
        response: b"body".to_vec(),
    };
    assert_eq!(store.idempotency_begin("key_1", "k", "other", 3).await.unwrap(), done);
    assert_eq!(
        store
            .idempotency_begin("key_1", "k", "fp", 3 + 2 * lease)
            .await
            .unwrap(),
        done,
        "completed keys never expire by lease"
    );
    store.idempotency_abort("key_1", "k").await.unwrap();
    assert_eq!(
        store.idempotency_begin("key_1", "k", "fp", 4).await.unwrap(),
        done,
        "completed keys are not aborted"
    );
    store.idempotency_abort("key_2", "k").await.unwrap();
    assert_eq!(
        store.idempotency_begin("key_2", "k", "fp", 4).await.unwrap(),
        IdempotencyState::Started,
        "aborted keys are free"
    );
    // An unfinished reservation older than the lease is presumed abandoned and taken over.
    assert!(matches!(
        store
            .idempotency_begin("key_2", "k", "fp", 4 + lease - 1)
            .await
            .unwrap(),
        IdempotencyState::InProgress { .. }
    ));
    assert_eq!(
        store.idempotency_begin("key_2", "k", "fp2", 5 + lease).await.unwrap(),
        IdempotencyState::Started
    );
    // Expired keys are forgotten.
    assert_eq!(store.purge_idempotency(1).await.unwrap(), 0);
    assert_eq!(store.purge_idempotency(i64::MAX).await.unwrap(), 2);
    assert_eq!(
        store.idempotency_begin("key_1", "k", "new", 9).await.unwrap(),
        IdempotencyState::Started
    );
}

async fn receipts_list_newest_first(store: Arc<dyn Store>) {
    let batch = vec![
        rejected("r1", "a", 1, 404),
        accepted("e1", "b", 2),
        rejected("r3", "a", 3, 413),
        accepted("e4", "a", 3),
    ];
    store.commit_intake(&batch).await.unwrap();
    let all = store.list_receipts(None, None, 3).await.unwrap();
    let ids: Vec<_> = all.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r3", "e4", "e1"], "newest first, ties broken by id");
    assert!(all.has_more);
    let accepted = &all.items[1];
    assert_eq!((accepted.status_code, accepted.outcome.as_str()), (202, "received"));
    assert_eq!(accepted.event_id.as_deref(), Some("e4"));
    assert_eq!(accepted.request_id, "req_e4");
    let last = all.items.last().unwrap();
    let cursor = ReceiptCursor {
        at: last.at,
        id: last.id.clone(),
    };
    let rest = store.list_receipts(None, Some(&cursor), 10).await.unwrap();
    assert_eq!(rest.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r1"]);
    assert!(!rest.has_more);
    let only_a = store.list_receipts(Some("a"), None, 10).await.unwrap();
    assert_eq!(
        only_a.items.iter().map(|r| r.status_code).collect::<Vec<_>>(),
        [413, 202, 404]
    );
    assert!(
        only_a
            .items
            .iter()
            .filter(|r| r.status_code != 202)
            .all(|r| r.event_id.is_none() && r.reason.is_some())
    );
}

async fn duplicates_are_answered_with_the_first_event(store: Arc<dyn Store>) {
    let first = store
        .commit_intake(&[
            keyed("e1", "a", "id:evt_1", FOREVER),
            keyed("e2", "a", "id:evt_1", FOREVER),
            keyed("e3", "b", "id:evt_1", FOREVER),
        ])
        .await
        .unwrap();
    let dup = |id: &str| IntakeOutcome::Duplicate {
        first_event_id: id.into(),
    };
    assert_eq!(
        first,
        [IntakeOutcome::Stored, dup("e1"), IntakeOutcome::Stored],
        "keys are per source"
    );
    let later = store
        .commit_intake(&[keyed("e4", "a", "id:evt_1", FOREVER), rejected("r1", "a", 5, 401)])
        .await
        .unwrap();
    assert_eq!(later, [dup("e1"), IntakeOutcome::Recorded]);
    assert!(store.get_event("e2").await.unwrap().is_none() && store.get_event("e4").await.unwrap().is_none());
    let timeline = store.event_receipts("e1").await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .map(|r| (r.status_code, r.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(200, "duplicate"), (200, "duplicate")]
    );
    // A batch mixing keyed and unkeyed events stores the unkeyed ones and the winners, in order.
    let mixed = store
        .commit_intake(&[
            accepted("m1", "a", 10),
            keyed("m2", "a", "id:evt_1", FOREVER),
            keyed("m3", "a", "id:new", FOREVER),
            accepted("m4", "a", 11),
        ])
        .await
        .unwrap();
    assert_eq!(
        mixed,
        [
            IntakeOutcome::Stored,
            dup("e1"),
            IntakeOutcome::Stored,
            IntakeOutcome::Stored
        ]
    );
    assert!(store.get_event("m2").await.unwrap().is_none());
    let mut stored = Vec::new();
    for id in ["m1", "m3", "m4"] {
        stored.push(store.get_event(id).await.unwrap().expect("stored").seq);
    }
    assert!(stored.is_sorted(), "batch order is commit order: {stored:?}");
    // A key whose window has ended is free again.
    store.commit_intake(&[keyed("e5", "a", "id:old", 1)]).await.unwrap();
    assert_eq!(
        store
            .commit_intake(&[keyed("e6", "a", "id:old", FOREVER)])
            .await
            .unwrap(),
        [IntakeOutcome::Stored]
    );
    assert_eq!(
        store
            .commit_intake(&[keyed("e7", "a", "id:old", FOREVER)])
            .await
            .unwrap(),
        [dup("e6")]
    );
    assert_eq!(store.purge_dedup_keys(FOREVER - 1).await.unwrap(), 0);
    assert_eq!(store.purge_dedup_keys(FOREVER).await.unwrap(), 4);
}

async fn concurrent_duplicates_store_exactly_one_event(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .commit_intake(&[keyed(&format!("c{i:02}"), "a", "id:same", FOREVER)])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut firsts = std::collections::HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap().remove(0) {
            IntakeOutcome::Stored => stored.push(format!("c{i:02}")),
            IntakeOutcome::Duplicate { first_event_id } => {
                firsts.insert(first_event_id);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored.len(), 1, "exactly one delivery wins");
    assert_eq!(
        firsts.into_iter().collect::<Vec<_>>(),
        stored,
        "every duplicate names the winner"
    );
    let page = store.list_events(&filter(100)).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

/// More keys than one sweep step reads, expired and live interleaved in key order and across
/// two sources: every expired key is forgotten, every live one kept.
async fn the_dedup_sweep_forgets_only_expired_keys(store: Arc<dyn Store>) {
    let writes: Vec<IntakeWrite> = (0..6_000)
        .map(|i| {
            let source = if i % 3 == 0 { "a" } else { "b" };
            let expires = if i % 2 == 0 { 100 } else { FOREVER };
            keyed(&format!("evt_{i:05}"), source, &format!("k{i:05}"), expires)
        })
        .collect();
    store.commit_intake(&writes).await.unwrap();
    assert_eq!(store.purge_dedup_keys(99).await.unwrap(), 0, "nothing has expired yet");
    assert_eq!(store.purge_dedup_keys(100).await.unwrap(), 3_000);
    assert_eq!(store.purge_dedup_keys(100).await.unwrap(), 0);
    let again = store
        .commit_intake(&[
            keyed("new_0", "a", "k00000", FOREVER),
            keyed("new_1", "b", "k00001", FOREVER),
            keyed("new_5998", "b", "k05998", FOREVER),
            keyed("new_5999", "b", "k05999", FOREVER),
        ])
        .await
        .unwrap();
    let dup = |id: &str| IntakeOutcome::Duplicate {
        first_event_id: id.into(),
    };
    assert_eq!(
        again,
        [
            IntakeOutcome::Stored,
            dup("evt_00001"),
            IntakeOutcome::Stored,
            dup("evt_05999")
        ]
    );
}

/// More keys than SQLite holds apart before merging them into the key table (32,768): keys won
/// before and after the merge are still held, in later batches and within one.
async fn keys_stay_held_across_many_batches(store: Arc<dyn Store>) {
    const KEYS: usize = 40_000;
    let writes: Vec<IntakeWrite> = (0..KEYS)
        .map(|i| {
            keyed(
                &format!("k{i:05}"),
                "a",
                &format!("key-{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                FOREVER,
            )
        })
        .collect();
    for chunk in writes.chunks(2000) {
        let outcomes = store.commit_intake(chunk).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == IntakeOutcome::Stored));
    }
    let again: Vec<IntakeWrite> = [0, 1, 20_000, 32_767, 32_768, KEYS - 1]
        .iter()
        .map(|&i| {
            keyed(
                &format!("again{i}"),
                "a",
                &format!("key-{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                FOREVER,
            )
        })
        .chain([
            keyed("fresh", "a", "key-fresh", FOREVER),
            keyed("fresh2", "a", "key-fresh", FOREVER),
        ])
        .collect();
    let outcomes = store.commit_intake(&again).await.unwrap();
    let firsts: Vec<Option<String>> = outcomes
        .iter()
        .map(|o| match o {
            IntakeOutcome::Duplicate { first_event_id } => Some(first_event_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        firsts,
        [
            Some("k00000".to_string()),
            Some("k00001".into()),
            Some("k20000".into()),
            Some("k32767".into()),
            Some("k32768".into()),
            Some("k39999".into()),
            None,
            Some("fresh".into()),
        ]
    );
    // Later small batches still see a key that SQLite has merged into the key table.
    for b in 0..20 {
        let more: Vec<IntakeWrite> = (0..10)
            .map(|i| keyed(&format!("more{b}_{i}"), "a", &format!("more-{b}-{i}"), FOREVER))
            .collect();
        store.commit_intake(&more).await.unwrap();
    }
    assert_eq!(
        store
            .commit_intake(&[keyed("late", "a", &format!("key-{:016x}", 0u64), FOREVER)])
            .await
            .unwrap(),
        [IntakeOutcome::Duplicate {
            first_event_id: "k00000".into()
        }]
    );
    assert_eq!(store.purge_dedup_keys(FOREVER).await.unwrap(), KEYS as u64 + 1 + 200);
}
