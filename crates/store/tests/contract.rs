//! The storage contract: every test here runs against SQLite (a real file) and, when
//! `SWITCHYARD_TEST_POSTGRES` is set, against a fresh PostgreSQL database of its own.

use std::sync::Arc;

use switchyard_store::*;

mod common;
use common::{accepted, event, filter, receipt, rejected};

contract!(
    intake_batches_store_events_and_receipts_intact,
    a_failing_batch_stores_nothing,
    events_page_newest_first_with_filters,
    pages_stay_exact_while_events_arrive,
    sources_are_unique_by_name_and_updatable,
    api_keys_are_found_by_hash_and_revoked_once,
    idempotency_reserves_then_replays,
    receipts_list_newest_first,
);

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
