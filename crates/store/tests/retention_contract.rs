//! The retention contract, on SQLite and PostgreSQL: rows are deleted only when asked, and never
//! one that is still needed — an event with a pending delivery, or a pending delivery. An event
//! takes its finished deliveries, their attempts and its receipts along; a deleted source leaves
//! a tombstone with its definition.

use std::sync::Arc;

use switchyard_store::*;

mod common;

use common::published;

contract!(
    retention_deletes_what_expired_and_keeps_what_is_needed,
    deleting_a_source_leaves_a_tombstone,
);

fn duplicate_receipt(id: &str, event_id: &str, at: i64) -> Receipt {
    Receipt {
        id: id.into(),
        at,
        source_name: "s".into(),
        source_id: Some("src_s".into()),
        request_id: format!("req_{id}"),
        status_code: 200,
        outcome: "duplicate".into(),
        reason: None,
        event_id: Some(event_id.into()),
    }
}

async fn seq_of(store: &Arc<dyn Store>, kind: Retained, pick: impl Fn(&RetainedRow) -> bool) -> Vec<RetainedRow> {
    let rows = store.retained_window(kind, 0, 100).await.unwrap();
    rows.into_iter().filter(pick).collect()
}

async fn retention_deletes_what_expired_and_keeps_what_is_needed(store: Arc<dyn Store>) {
    store
        .insert_endpoint(&EndpointRow {
            id: "ep_a".into(),
            name: Some("a".into()),
            config: "{}".into(),
            sealed: vec![1],
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    let mut rejected = duplicate_receipt("r_rejected", "x", 3);
    rejected.event_id = None;
    rejected.outcome = "rejected".into();
    rejected.status_code = 401;
    store
        .commit_intake(&[
            IntakeWrite::Event(published("e_done", &["ep_a"], 10)),
            IntakeWrite::Event(published("e_pending", &["ep_a"], 11)),
            IntakeWrite::Event(published("e_new", &["ep_a"], 1_000)),
            IntakeWrite::Receipt(duplicate_receipt("r_dup", "e_done", 12)),
            IntakeWrite::Receipt(rejected),
        ])
        .await
        .unwrap();
    // e_done's delivery succeeds (with an attempt); e_pending's stays pending (being retried).
    let claimed = store.claim_deliveries("n1", 2_000, 10_000, 10, None).await.unwrap();
    let done = claimed.iter().find(|c| c.delivery.event_id == "e_done").unwrap();
    let new = claimed.iter().find(|c| c.delivery.event_id == "e_new").unwrap();
    let finish = |c: &Claimed| AttemptResult {
        job: c.job,
        attempt: AttemptRow {
            id: format!("atm_{}", c.delivery.id),
            delivery_id: c.delivery.id.clone(),
            at: 20,
            duration_ms: 1,
            status_code: Some(200),
            error_class: None,
            request_headers: "{}".into(),
            response_excerpt: None,
        },
        endpoint_id: "ep_a".into(),
        lease_owner: "n1".into(),
        status: switchyard_core::delivery::DeliveryStatus::Succeeded,
        next_attempt_at: None,
        health: EndpointHealth::Healthy,
    };
    store.complete_attempts(&[finish(done), finish(new)], 20).await.unwrap();
    store
        .release_claims(
            "n1",
            &[claimed.iter().find(|c| c.delivery.event_id == "e_pending").unwrap().job],
        )
        .await
        .unwrap();

    // Windows report owners and end times in seq order.
    let events = store.retained_window(Retained::Events, 0, 100).await.unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(
        events
            .iter()
            .all(|r| r.owner.is_none() && r.ended_at == Some(r.created_at))
    );
    let deliveries = store.retained_window(Retained::Deliveries, 0, 100).await.unwrap();
    assert!(deliveries.iter().all(|r| r.owner.as_deref() == Some("ep_a")));
    assert_eq!(
        deliveries.iter().filter(|r| r.ended_at.is_none()).count(),
        1,
        "one is pending"
    );
    let after_first = store.retained_window(Retained::Events, events[0].seq, 1).await.unwrap();
    assert_eq!(
        after_first[0].seq, events[1].seq,
        "windows continue after the given seq"
    );

    // Asked to delete both old events, only the one without a pending delivery goes — with its
    // delivery, its attempt and the receipt naming it.
    let old: Vec<i64> = events.iter().filter(|r| r.created_at < 100).map(|r| r.seq).collect();
    assert_eq!(store.delete_retained(Retained::Events, &old).await.unwrap(), 1);
    assert!(store.get_event("e_done").await.unwrap().is_none());
    assert!(store.get_delivery("dlv_e_done_ep_a").await.unwrap().is_none());
    assert!(store.list_attempts("dlv_e_done_ep_a").await.unwrap().is_empty());
    assert!(store.event_receipts("e_done").await.unwrap().is_empty());
    assert!(
        store.get_event("e_pending").await.unwrap().is_some(),
        "a pending delivery keeps its event"
    );
    assert!(store.get_delivery("dlv_e_pending_ep_a").await.unwrap().is_some());

    // A pending delivery is never deleted; a finished one goes with its attempts.
    let pending = seq_of(&store, Retained::Deliveries, |r| r.ended_at.is_none()).await;
    assert_eq!(
        store
            .delete_retained(Retained::Deliveries, &[pending[0].seq])
            .await
            .unwrap(),
        0
    );
    let finished = seq_of(&store, Retained::Deliveries, |r| r.ended_at.is_some()).await;
    assert_eq!(
        store
            .delete_retained(Retained::Deliveries, &[finished[0].seq])
            .await
            .unwrap(),
        1
    );
    assert!(store.list_attempts("dlv_e_new_ep_a").await.unwrap().is_empty());
    assert!(
        store.get_event("e_new").await.unwrap().is_some(),
        "an event outlives its deliveries"
    );

    let receipts = store.retained_window(Retained::Receipts, 0, 100).await.unwrap();
    assert_eq!(receipts.len(), 1, "the duplicate receipt went with its event");
    assert_eq!(
        store
            .delete_retained(Retained::Receipts, &[receipts[0].seq])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.count_retained(Retained::Receipts).await.unwrap(), 0);
    assert_eq!(store.count_retained(Retained::Events).await.unwrap(), 2);
    assert_eq!(store.delete_retained(Retained::Events, &[]).await.unwrap(), 0);
}

async fn deleting_a_source_leaves_a_tombstone(store: Arc<dyn Store>) {
    let row = SourceRow {
        id: "src_t".into(),
        name: "gone".into(),
        config: r#"{"name":"gone","redact":["email"],"retention_days":3}"#.into(),
        secrets: Some(vec![9, 9]),
        enabled: true,
        created_at: 1,
        updated_at: 1,
    };
    store.insert_source(&row).await.unwrap();
    assert!(store.delete_source("src_t", 77).await.unwrap());
    let t = store.source_tombstone("src_t").await.unwrap().expect("tombstone");
    assert_eq!(
        (t.name.as_str(), t.config.as_str(), t.deleted_at),
        ("gone", row.config.as_str(), 77)
    );
    assert_eq!(store.source_tombstones().await.unwrap().len(), 1);
    // The name is free again.
    store
        .insert_source(&SourceRow {
            id: "src_t2".into(),
            ..row.clone()
        })
        .await
        .unwrap();
    store.drop_source_tombstone("src_t").await.unwrap();
    assert!(store.source_tombstone("src_t").await.unwrap().is_none());
}
