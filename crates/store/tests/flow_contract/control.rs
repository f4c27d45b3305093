//! Flow control in the queue: a keyed run is claimed only while fewer than its key's limit of the
//! key's runs come before it (by sequence, then arrival); other keys are never held back; the
//! highest started sequence only grows and releases the next one; a later run of a key is seen.

use std::sync::Arc;

use switchyard_core::flow::RunStatus;
use switchyard_store::*;

use super::{commit, run};
use crate::common::event;

fn keyed(id: &str, event_id: &str, at: i64, key: &str, limit: i64, sequence: Option<i64>) -> NewEvent {
    let mut e = event(event_id, "s", at, b"{}");
    let mut r = run(id, "ctl", event_id, at);
    r.control = Some(RunControl {
        key: key.into(),
        limit,
        sequence,
        due_at: at,
    });
    e.runs = vec![r];
    e
}

async fn claimed_ids(store: &Arc<dyn Store>, now: i64) -> Vec<(String, i64)> {
    let mut ids: Vec<(String, i64)> = store
        .claim_runs("w", now, now + 1_000, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.run.id, c.job))
        .collect();
    ids.sort();
    ids
}

async fn end(store: &Arc<dyn Store>, id: &str, job: i64, at: i64) {
    let end = RunEnd {
        status: RunStatus::Succeeded,
        failed_step: None,
        error_class: None,
        error_message: None,
        finished_at: at,
    };
    assert!(store.finish_run("w", job, id, &end, &[]).await.unwrap());
}

pub async fn keyed_runs_queue_behind_their_key_only(store: Arc<dyn Store>) {
    // Key a: limit 2 over three runs; key b: one run; an unkeyed run.
    commit(
        &store,
        vec![
            keyed("run_a1", "evt_1", 100, "a", 2, None),
            keyed("run_a2", "evt_2", 101, "a", 2, None),
            keyed("run_a3", "evt_3", 102, "a", 2, None),
            keyed("run_b1", "evt_4", 103, "b", 2, None),
            super::triggering("evt_5", 104, &[("run_free", "ctl")]),
        ],
    )
    .await;
    let first = claimed_ids(&store, 200).await;
    let names: Vec<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(names, ["run_a1", "run_a2", "run_b1", "run_free"]);
    assert_eq!(
        store.next_run_due().await.unwrap(),
        Some(1_200),
        "a3 waits for its key, not for a due time"
    );
    assert!(claimed_ids(&store, 300).await.is_empty());
    end(&store, "run_a1", first[0].1, 310).await;
    let next = claimed_ids(&store, 320).await;
    assert_eq!(next.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["run_a3"]);
    assert_eq!(
        store.get_run("run_a3").await.unwrap().unwrap().control_key.as_deref(),
        Some("a")
    );
}

pub async fn sequences_order_a_key_and_only_grow(store: Arc<dyn Store>) {
    // 3 arrives before 2; 2 goes first although it arrived later.
    commit(
        &store,
        vec![
            keyed("run_s3", "evt_1", 100, "acct", 1, Some(3)),
            keyed("run_s2", "evt_2", 101, "acct", 1, Some(2)),
        ],
    )
    .await;
    let first = claimed_ids(&store, 200).await;
    assert_eq!(first.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["run_s2"]);
    assert_eq!(store.get_run("run_s2").await.unwrap().unwrap().sequence, Some(2));
    assert_eq!(store.last_sequence("flw_ctl", "acct").await.unwrap(), None);
    store.start_sequence("flw_ctl", "acct", 2, 210).await.unwrap();
    store.start_sequence("flw_ctl", "acct", 1, 211).await.unwrap();
    assert_eq!(
        store.last_sequence("flw_ctl", "acct").await.unwrap(),
        Some(2),
        "never goes down"
    );
    end(&store, "run_s2", first[0].1, 220).await;
    let next = claimed_ids(&store, 230).await;
    assert_eq!(next.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["run_s3"]);
    assert!(!store.newer_run_of_key("flw_ctl", "acct", next[0].1).await.unwrap());
    store.set_run_note("run_s3", r#"{"x":1}"#).await.unwrap();
    assert_eq!(
        store.get_run("run_s3").await.unwrap().unwrap().note.as_deref(),
        Some(r#"{"x":1}"#)
    );
}

pub async fn a_later_run_of_a_key_is_seen(store: Arc<dyn Store>) {
    commit(
        &store,
        vec![
            keyed("run_d1", "evt_1", 100, "doc", 1, None),
            keyed("run_d2", "evt_2", 150, "doc", 1, None),
        ],
    )
    .await;
    let first = claimed_ids(&store, 200).await;
    assert_eq!(first.len(), 1);
    assert!(store.newer_run_of_key("flw_ctl", "doc", first[0].1).await.unwrap());
    assert!(!store.newer_run_of_key("flw_ctl", "other", first[0].1).await.unwrap());
}
