//! The delivery storage contract (jobs, leases, attempts, replay), on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;

use switchyard_store::*;

mod common;

use common::published;

contract!(
    deliveries_are_created_with_their_event_only,
    claims_are_exclusive_until_the_lease_expires,
    attempts_move_deliveries_and_endpoints_on,
    replay_resets_by_delivery_event_or_endpoint,
    concurrent_claims_never_share_a_delivery,
    fifo_keys_run_one_at_a_time_in_order,
    breakers_are_shared_newest_first_with_one_probe,
    the_queue_holds_only_unfinished_jobs,
    batches_of_any_size_store_every_row_in_order,
);

fn endpoint(id: &str) -> EndpointRow {
    EndpointRow {
        id: id.into(),
        name: None,
        config: "{}".into(),
        sealed: vec![1, 2, 3],
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn result(c: &Claimed, owner: &str, status: &str, code: Option<i64>, health: EndpointHealth) -> AttemptResult {
    AttemptResult {
        job: c.job,
        attempt: AttemptRow {
            id: format!("atm_{}_{}", c.delivery.id, c.delivery.attempts),
            delivery_id: c.delivery.id.clone(),
            at: 100,
            duration_ms: 7,
            status_code: code,
            error_class: (status != "succeeded").then(|| "http_503".to_string()),
            request_headers: "{}".into(),
            response_excerpt: Some("ok".into()),
        },
        endpoint_id: c.delivery.endpoint_id.clone(),
        lease_owner: owner.into(),
        status: status.parse().unwrap(),
        next_attempt_at: (status == "pending").then_some(500),
        health,
    }
}

async fn deliveries_are_created_with_their_event_only(store: Arc<dyn Store>) {
    let mut dup = published("e2", &["ep_a"], 10);
    dup.source_id = Some("src_1".into());
    dup.dedup = Some(DedupKey {
        key: "k".into(),
        expires_at: i64::MAX,
    });
    let mut dup2 = published("e3", &["ep_a"], 10);
    dup2.source_id = Some("src_1".into());
    dup2.dedup = Some(DedupKey {
        key: "k".into(),
        expires_at: i64::MAX,
    });
    let batch = vec![
        IntakeWrite::Event(published("e1", &["ep_a", "ep_b"], 10)),
        IntakeWrite::Event(dup),
        IntakeWrite::Event(dup2),
    ];
    let out = store.commit_intake(&batch).await.unwrap();
    assert!(matches!(out[2], IntakeOutcome::Duplicate { .. }));
    let claimed = store.claim_deliveries("n1", 10, 1000, 100, None).await.unwrap();
    let mut ids: Vec<&str> = claimed.iter().map(|c| c.delivery.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["dlv_e1_ep_a", "dlv_e1_ep_b", "dlv_e2_ep_a"],
        "the duplicate's delivery is not stored"
    );
    let c = claimed.iter().find(|c| c.delivery.id == "dlv_e1_ep_a").unwrap();
    assert_eq!(c.payload, br#"{"n":"e1"}"#);
    assert_eq!(c.event_type.as_deref(), Some("order.created"));
    assert_eq!((c.delivery.status.as_str(), c.delivery.attempts), ("pending", 0));
    // Not yet due: nothing to claim.
    store
        .commit_intake(&[IntakeWrite::Event(published("e4", &["ep_a"], 5000))])
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries("n1", 500, 3000, 100, None)
            .await
            .unwrap()
            .is_empty()
    );
    let mut due = store.due_endpoints().await.unwrap();
    due.sort();
    assert_eq!(
        due,
        [("ep_a".to_string(), 10), ("ep_b".to_string(), 10)],
        "leased rows are still pending"
    );
}

async fn claims_are_exclusive_until_the_lease_expires(store: Arc<dyn Store>) {
    store
        .commit_intake(&[IntakeWrite::Event(published("e1", &["ep_a", "ep_b"], 10))])
        .await
        .unwrap();
    let a = store.claim_deliveries("n1", 10, 1000, 100, Some("ep_a")).await.unwrap();
    assert_eq!(a.len(), 1, "only the named endpoint's");
    assert_eq!(a[0].delivery.endpoint_id, "ep_a");
    assert_eq!(
        store
            .claim_deliveries("n2", 500, 1500, 100, Some("ep_a"))
            .await
            .unwrap()
            .len(),
        0
    );
    // n1 dies; after its lease ends, n2 takes the delivery over.
    let b = store
        .claim_deliveries("n2", 1000, 2000, 100, Some("ep_a"))
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    // n1's late result changes nothing but is logged; n2's moves the delivery on.
    store
        .complete_attempts(
            &[result(&a[0], "n1", "succeeded", Some(200), EndpointHealth::Healthy)],
            1100,
        )
        .await
        .unwrap();
    let d = store.get_delivery(&a[0].delivery.id).await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("pending", 0));
    let mut r = result(&b[0], "n2", "succeeded", Some(200), EndpointHealth::Healthy);
    r.attempt.id = "atm_second".into();
    store.complete_attempts(&[r], 1200).await.unwrap();
    let d = store.get_delivery(&a[0].delivery.id).await.unwrap().unwrap();
    assert_eq!(
        (d.status.as_str(), d.attempts, d.next_attempt_at),
        ("succeeded", 1, None)
    );
    assert_eq!(
        store.list_attempts(&d.id).await.unwrap().len(),
        2,
        "both attempts happened"
    );
}

async fn attempts_move_deliveries_and_endpoints_on(store: Arc<dyn Store>) {
    for ep in ["ep_a", "ep_b"] {
        store.insert_endpoint(&endpoint(ep)).await.unwrap();
    }
    store
        .commit_intake(&[IntakeWrite::Event(published("e1", &["ep_a", "ep_b"], 10))])
        .await
        .unwrap();
    let claimed = store.claim_deliveries("n1", 10, 1000, 100, None).await.unwrap();
    let (a, b) = if claimed[0].delivery.endpoint_id == "ep_a" {
        (&claimed[0], &claimed[1])
    } else {
        (&claimed[1], &claimed[0])
    };
    store
        .complete_attempts(
            &[
                result(a, "n1", "pending", Some(503), EndpointHealth::Failing),
                result(b, "n1", "failed", Some(410), EndpointHealth::Disable("410 Gone".into())),
            ],
            100,
        )
        .await
        .unwrap();
    let da = store.get_delivery(&a.delivery.id).await.unwrap().unwrap();
    assert_eq!(
        (da.status.as_str(), da.attempts, da.next_attempt_at, da.last_status_code),
        ("pending", 1, Some(500), Some(503))
    );
    assert_eq!(da.last_error.as_deref(), Some("http_503"));
    let ea = store.get_endpoint("ep_a").await.unwrap().unwrap();
    assert_eq!((ea.enabled, ea.failing_since), (true, Some(100)));
    let eb = store.get_endpoint("ep_b").await.unwrap().unwrap();
    assert_eq!((eb.enabled, eb.disabled_reason.as_deref()), (false, Some("410 Gone")));
    // The retry is due at 500, not before; a success ends the failing streak.
    assert!(
        store
            .claim_deliveries("n1", 499, 1000, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_deliveries("n1", 500, 1500, 10, None).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.attempts, 1);
    store
        .complete_attempts(
            &[result(&again[0], "n1", "succeeded", Some(200), EndpointHealth::Healthy)],
            600,
        )
        .await
        .unwrap();
    assert_eq!(store.get_endpoint("ep_a").await.unwrap().unwrap().failing_since, None);
    let attempts = store.list_attempts(&a.delivery.id).await.unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        [Some(503), Some(200)]
    );
    // Listing with filters, newest first.
    let page = store
        .list_deliveries(&DeliveryFilter {
            status: Some(switchyard_core::delivery::DeliveryStatus::Failed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].endpoint_id, "ep_b");
    let page = store
        .list_deliveries(&DeliveryFilter {
            event_id: Some("e1".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.has_more);
}

async fn replay_resets_by_delivery_event_or_endpoint(store: Arc<dyn Store>) {
    store
        .commit_intake(&[
            IntakeWrite::Event(published("e1", &["ep_a", "ep_b"], 10)),
            IntakeWrite::Event(published("e2", &["ep_a"], 20)),
        ])
        .await
        .unwrap();
    let claimed = store.claim_deliveries("n1", 20, 1000, 10, None).await.unwrap();
    assert_eq!(
        store.replay(&ReplayScope::Event("e1".into()), 30).await.unwrap(),
        0,
        "in flight: left alone"
    );
    let results: Vec<AttemptResult> = claimed
        .iter()
        .map(|c| result(c, "n1", "dead", Some(500), EndpointHealth::Failing))
        .collect();
    store.complete_attempts(&results, 40).await.unwrap();
    assert_eq!(
        store
            .replay(&ReplayScope::Delivery("dlv_e2_ep_a".into()), 50)
            .await
            .unwrap(),
        1
    );
    let d = store.get_delivery("dlv_e2_ep_a").await.unwrap().unwrap();
    assert_eq!(
        (d.status.as_str(), d.attempts, d.next_attempt_at),
        ("pending", 0, Some(50))
    );
    assert_eq!(store.replay(&ReplayScope::Event("e1".into()), 60).await.unwrap(), 2);
    let claimed = store.claim_deliveries("n1", 60, 1000, 10, None).await.unwrap();
    assert_eq!(claimed.len(), 3, "every replayed delivery is queued");
    let results: Vec<AttemptResult> = claimed
        .iter()
        .map(|c| {
            let mut r = result(c, "n1", "failed", Some(400), EndpointHealth::Failing);
            r.attempt.id = format!("atm_r_{}", c.delivery.id);
            r
        })
        .collect();
    store.complete_attempts(&results, 70).await.unwrap();
    let scope = ReplayScope::EndpointFailedSince {
        endpoint_id: "ep_a".into(),
        since: 15,
    };
    assert_eq!(
        store.replay(&scope, 80).await.unwrap(),
        1,
        "only ep_a's deliveries created since 15"
    );
    assert_eq!(
        store
            .get_delivery("dlv_e2_ep_a")
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "pending"
    );
    assert_eq!(
        store
            .get_delivery("dlv_e1_ep_a")
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "failed"
    );
}

async fn concurrent_claims_never_share_a_delivery(store: Arc<dyn Store>) {
    let events: Vec<IntakeWrite> = (0..300)
        .map(|i| IntakeWrite::Event(published(&format!("e{i:03}"), &["ep_a"], 10)))
        .collect();
    store.commit_intake(&events).await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store
                        .claim_deliveries(&format!("n{n}"), 10, 100_000, 7, None)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|c| c.delivery.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
}

async fn fifo_keys_run_one_at_a_time_in_order(store: Arc<dyn Store>) {
    let keyed = |id: &str, key: Option<&str>| {
        let mut e = published(id, &["ep_a"], 10);
        e.deliveries[0].ordering_key = key.map(str::to_string);
        IntakeWrite::Event(e)
    };
    store
        .commit_intake(&[
            keyed("e1", Some("cust_1")),
            keyed("e2", Some("cust_1")),
            keyed("e3", Some("cust_2")),
            keyed("e4", None),
        ])
        .await
        .unwrap();
    let ids = |c: &[Claimed]| {
        let mut v: Vec<String> = c.iter().map(|c| c.delivery.event_id.clone()).collect();
        v.sort();
        v
    };
    let first = store.claim_deliveries("n1", 10, 1000, 10, None).await.unwrap();
    assert_eq!(ids(&first), ["e1", "e3", "e4"], "e2 waits behind e1");
    let e1 = first.iter().find(|c| c.delivery.event_id == "e1").unwrap();
    // e1 fails and will retry later: cust_1 stays blocked, even once e1's retry is due.
    store
        .complete_attempts(&[result(e1, "n1", "pending", Some(503), EndpointHealth::Failing)], 20)
        .await
        .unwrap();
    let next = store.claim_deliveries("n1", 600, 2000, 10, None).await.unwrap();
    assert_eq!(ids(&next), ["e1"], "the head retries; the key's next waits");
    let mut r = result(&next[0], "n1", "dead", Some(503), EndpointHealth::Failing);
    r.attempt.id = "atm_e1_dead".into();
    store.complete_attempts(&[r], 700).await.unwrap();
    let last = store.claim_deliveries("n1", 800, 3000, 10, None).await.unwrap();
    assert_eq!(ids(&last), ["e2"], "once the head is settled, the key moves on");
}

async fn breakers_are_shared_newest_first_with_one_probe(store: Arc<dyn Store>) {
    store.insert_endpoint(&endpoint("ep_b")).await.unwrap();
    let row = |open_until: Option<i64>, changed_at: i64| BreakerRow {
        endpoint_id: "ep_b".into(),
        open_until,
        cooldown: 30,
        paused_until: 0,
        changed_at,
    };
    // With nothing stored, the first node to ask probes, and only it.
    assert!(store.claim_probe("ep_b", "n1", 10, 100).await.unwrap());
    assert!(!store.claim_probe("ep_b", "n2", 11, 111).await.unwrap());
    store.put_breaker(&row(Some(50), 20)).await.unwrap();
    // A late write of an older change is ignored.
    store.put_breaker(&row(None, 15)).await.unwrap();
    assert_eq!(store.breakers_changed_since(0).await.unwrap(), [row(Some(50), 20)]);
    assert_eq!(store.breakers_changed_since(21).await.unwrap(), []);
    // No probe while open; after that one node gets it until its lease ends.
    assert!(!store.claim_probe("ep_b", "n1", 40, 100).await.unwrap());
    assert!(store.claim_probe("ep_b", "n1", 50, 100).await.unwrap());
    assert!(
        !store.claim_probe("ep_b", "n2", 60, 160).await.unwrap(),
        "n1 holds the probe"
    );
    assert!(
        store.claim_probe("ep_b", "n1", 60, 100).await.unwrap(),
        "the holder may claim again"
    );
    assert!(
        store.claim_probe("ep_b", "n2", 100, 200).await.unwrap(),
        "n1's probe lease ended"
    );
    // The probe's result ends the lease: re-opened, nobody probes until the new period ends.
    store.put_breaker(&row(Some(300), 120)).await.unwrap();
    assert!(!store.claim_probe("ep_b", "n2", 130, 230).await.unwrap());
    store.put_breaker(&row(None, 140)).await.unwrap();
    assert_eq!(store.breakers_changed_since(130).await.unwrap(), [row(None, 140)]);
    // Deleting the endpoint forgets its breaker.
    assert!(store.delete_endpoint("ep_b").await.unwrap());
    assert_eq!(store.breakers_changed_since(0).await.unwrap(), []);
}

/// A delivery has a job exactly while it is pending: ended ones leave the queue (so claims never
/// walk them), retries stay in it at their due time, and a replay puts an ended one back.
async fn the_queue_holds_only_unfinished_jobs(store: Arc<dyn Store>) {
    let batch: Vec<IntakeWrite> = ["e1", "e2", "e3", "e4"]
        .iter()
        .map(|id| IntakeWrite::Event(published(id, &[if *id == "e4" { "ep_b" } else { "ep_a" }], 10)))
        .collect();
    store.commit_intake(&batch).await.unwrap();
    let claimed = store.claim_deliveries("n1", 10, 1000, 100, None).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let outcome = |c: &Claimed| match c.delivery.event_id.as_str() {
        "e1" => "succeeded",
        "e2" => "failed",
        "e3" => "dead",
        _ => "pending",
    };
    let results: Vec<AttemptResult> = claimed
        .iter()
        .map(|c| result(c, "n1", outcome(c), Some(500), EndpointHealth::Unchanged))
        .collect();
    store.complete_attempts(&results, 100).await.unwrap();
    assert_eq!(
        store.due_endpoints().await.unwrap(),
        [("ep_b".to_string(), 500)],
        "only the retry is still queued"
    );
    let later = store.claim_deliveries("n1", 10_000, 20_000, 100, None).await.unwrap();
    let ids: Vec<&str> = later.iter().map(|c| c.delivery.id.as_str()).collect();
    assert_eq!(ids, ["dlv_e4_ep_b"]);
    // A replay of an ended delivery queues it again, due at once; the one in flight is left
    // alone (its lease is live until 20,000).
    let n = store
        .replay(&ReplayScope::Delivery("dlv_e2_ep_a".into()), 11_000)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = store
        .replay(&ReplayScope::Delivery("dlv_e4_ep_b".into()), 11_000)
        .await
        .unwrap();
    assert_eq!(n, 0, "a delivery in flight is not reset");
    let mut due = store.due_endpoints().await.unwrap();
    due.sort();
    assert_eq!(due, [("ep_a".to_string(), 11_000), ("ep_b".to_string(), 500)]);
    let d = store.get_delivery("dlv_e2_ep_a").await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("pending", 0));
}

/// A batch is one statement on PostgreSQL whatever its size (its columns travel as arrays) and
/// chunks of rows on SQLite; either way every event, delivery and job is stored, and events take
/// their `seq` in the batch's order (what `events tail` follows).
async fn batches_of_any_size_store_every_row_in_order(store: Arc<dyn Store>) {
    for (prefix, n) in [("small", 3usize), ("large", 2500)] {
        let batch: Vec<IntakeWrite> = (0..n)
            .map(|i| IntakeWrite::Event(published(&format!("{prefix}{i}"), &["ep_a"], 10)))
            .collect();
        let out = store.commit_intake(&batch).await.unwrap();
        assert_eq!(out.len(), n);
        assert!(out.iter().all(|o| matches!(o, IntakeOutcome::Stored)), "{prefix}");
        let claimed = store.claim_deliveries("n1", 10, 1000, 5000, None).await.unwrap();
        let ids: HashSet<String> = claimed.iter().map(|c| c.delivery.id.clone()).collect();
        let want: HashSet<String> = (0..n).map(|i| format!("dlv_{prefix}{i}_ep_a")).collect();
        assert_eq!(ids, want, "{prefix}: every delivery has its job");
        assert!(
            claimed.iter().all(|c| !c.payload.is_empty()),
            "{prefix}: with its event"
        );
        let stored = store
            .list_events(&EventFilter {
                after_seq: Some(0),
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let order: Vec<&str> = stored
            .items
            .iter()
            .map(|e| e.id.as_str())
            .filter(|id| id.starts_with(prefix))
            .collect();
        let sent: Vec<String> = batch
            .iter()
            .map(|w| match w {
                IntakeWrite::Event(e) => e.id.clone(),
                IntakeWrite::Receipt(r) => r.id.clone(),
            })
            .collect();
        assert_eq!(order, sent, "{prefix}: seq follows the batch's order");
    }
}
