//! The flow storage contract, on SQLite and PostgreSQL: flows are versioned (an update names the
//! next version, versions outlive the flow); runs are created with their trigger event (not with
//! a duplicate) and queued until they end; only the lease holder writes a run's steps, moves it
//! on or ends it; a failed or dead run can be retried from the step that failed.

use std::sync::Arc;

use switchyard_core::flow::{RunStatus, StepStatus};
use switchyard_store::*;

mod common;
#[path = "flow_contract/control.rs"]
mod control;
#[path = "flow_contract/listing.rs"]
mod listing;
#[path = "flow_contract/retry.rs"]
mod retry;

use control::*;
use listing::*;
use retry::*;

use common::{FOREVER, event};

contract!(
    flows_are_versioned_found_by_id_or_name_and_names_are_unique,
    a_run_is_created_with_its_event_and_claimed_once,
    concurrent_claims_never_share_a_run,
    a_duplicate_event_creates_no_run,
    only_the_lease_holder_saves_steps_and_saving_upserts,
    a_rescheduled_run_is_claimable_at_its_due_time,
    a_finished_run_leaves_the_queue,
    runs_end_together_each_fenced_by_its_own_lease,
    a_large_batch_of_endings_keeps_every_record,
    queue_stats_count_jobs_per_kind_with_the_oldest_due,
    new_events_and_ended_runs_are_followed_in_order,
    only_failed_or_dead_runs_are_retried_from_the_failed_step,
    runs_are_listed_newest_first_with_filters,
    next_run_due_counts_leases,
    retention_keeps_events_of_unfinished_runs_and_takes_finished_ones_along,
    keyed_runs_queue_behind_their_key_only,
    sequences_order_a_key_and_only_grow,
    a_later_run_of_a_key_is_seen,
);

fn flow(id: &str, name: &str, version: i64, at: i64) -> FlowRow {
    FlowRow {
        id: id.into(),
        name: name.into(),
        version,
        definition: format!(r#"{{"name":"{name}","v":{version}}}"#),
        created_at: 1,
        updated_at: at,
    }
}

fn run(id: &str, flow_name: &str, event_id: &str, at: i64) -> NewRun {
    NewRun {
        id: id.into(),
        flow_id: format!("flw_{flow_name}"),
        flow_name: flow_name.into(),
        flow_version: 1,
        event_id: event_id.into(),
        created_at: at,
        control: None,
    }
}

/// An event at `at` that starts one run per `(run id, flow name)`.
fn triggering(event_id: &str, at: i64, runs: &[(&str, &str)]) -> NewEvent {
    let mut e = event(event_id, "s", at, b"{}");
    e.runs = runs.iter().map(|(id, f)| run(id, f, event_id, at)).collect();
    e
}

async fn commit(store: &Arc<dyn Store>, events: Vec<NewEvent>) -> Vec<IntakeOutcome> {
    let batch: Vec<IntakeWrite> = events.into_iter().map(IntakeWrite::Event).collect();
    store.commit_intake(&batch).await.unwrap()
}

fn step(run_id: &str, path: &str, status: StepStatus, attempts: i64, started_at: Option<i64>) -> StepRow {
    StepRow {
        run_id: run_id.into(),
        path: path.into(),
        step_id: path.rsplit('/').next().unwrap().into(),
        status,
        attempts,
        output: Some(format!(r#"{{"path":"{path}","attempts":{attempts}}}"#)),
        error_class: None,
        error_message: None,
        started_at,
        finished_at: None,
    }
}

fn runs_filter(limit: i64) -> RunFilter {
    RunFilter {
        limit,
        ..RunFilter::default()
    }
}

/// Claims exactly one run and returns its job.
async fn claim_one(store: &Arc<dyn Store>, owner: &str, now: i64, lease_until: i64) -> ClaimedRun {
    let mut claimed = store.claim_runs(owner, now, lease_until, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "one run claimed by {owner} at {now}");
    claimed.pop().unwrap()
}

async fn flows_are_versioned_found_by_id_or_name_and_names_are_unique(store: Arc<dyn Store>) {
    store.insert_flow(&flow("flw_a", "onboard", 1, 1)).await.unwrap();
    store.insert_flow(&flow("flw_b", "billing", 1, 1)).await.unwrap();
    assert!(matches!(
        store.insert_flow(&flow("flw_c", "onboard", 1, 1)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.get_flow("flw_c").await.unwrap().is_none());
    assert!(store.flow_versions("flw_c").await.unwrap().is_empty());
    assert_eq!(
        store.get_flow("onboard").await.unwrap(),
        Some(flow("flw_a", "onboard", 1, 1))
    );
    assert_eq!(store.get_flow("flw_b").await.unwrap().unwrap().name, "billing");

    // An update names the next version; a stale one (or one of a missing flow) changes nothing.
    let v2 = flow("flw_a", "onboarding", 2, 5);
    assert!(store.update_flow(&v2).await.unwrap());
    assert!(!store.update_flow(&flow("flw_a", "stale", 2, 6)).await.unwrap());
    assert!(!store.update_flow(&flow("flw_a", "skipped", 4, 6)).await.unwrap());
    assert!(!store.update_flow(&flow("flw_z", "gone", 2, 6)).await.unwrap());
    assert_eq!(store.get_flow("onboarding").await.unwrap(), Some(v2.clone()));
    assert!(store.get_flow("onboard").await.unwrap().is_none());
    // A taken name is a conflict, and the version is not spent.
    assert!(matches!(
        store.update_flow(&flow("flw_a", "billing", 3, 7)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_flow("flw_a").await.unwrap(), Some(v2));
    assert!(store.update_flow(&flow("flw_a", "onboarding", 3, 8)).await.unwrap());

    let versions = store.flow_versions("flw_a").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(
        versions[1],
        FlowVersionRow {
            flow_id: "flw_a".into(),
            version: 2,
            definition: r#"{"name":"onboarding","v":2}"#.into(),
            created_at: 5,
        }
    );
    assert_eq!(versions[2].created_at, 1);
    assert_eq!(
        store.flow_version("flw_a", 1).await.unwrap().unwrap().definition,
        r#"{"name":"onboard","v":1}"#
    );
    assert!(store.flow_version("flw_a", 9).await.unwrap().is_none());

    let page = store.list_flows(None, 1).await.unwrap();
    assert_eq!((page.items[0].id.as_str(), page.has_more), ("flw_b", true));
    let page = store.list_flows(Some("flw_b"), 1).await.unwrap();
    assert_eq!((page.items[0].id.as_str(), page.has_more), ("flw_a", false));
    let all = store.all_flows().await.unwrap();
    assert_eq!(
        all.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["billing", "onboarding"]
    );

    // Deleting a flow keeps its versions for the runs that refer to them.
    assert!(store.delete_flow("flw_a").await.unwrap());
    assert!(!store.delete_flow("flw_a").await.unwrap());
    assert!(store.get_flow("flw_a").await.unwrap().is_none());
    assert_eq!(store.flow_versions("flw_a").await.unwrap().len(), 3);
    assert!(store.flow_version("flw_a", 2).await.unwrap().is_some());
    assert_eq!(store.all_flows().await.unwrap().len(), 1);
}

async fn a_run_is_created_with_its_event_and_claimed_once(store: Arc<dyn Store>) {
    assert_eq!(
        commit(&store, vec![triggering("evt_1", 100, &[("run_1", "onboard")])]).await,
        [IntakeOutcome::Stored]
    );
    let created = store.get_run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (
            created.flow_id.as_str(),
            created.flow_name.as_str(),
            created.flow_version,
            created.event_id.as_str(),
            created.status,
        ),
        ("flw_onboard", "onboard", 1, "evt_1", RunStatus::Pending)
    );
    assert_eq!(
        (created.started_at, created.updated_at, created.finished_at),
        (100, 100, None)
    );
    assert!(created.failed_step.is_none() && created.error_class.is_none() && created.error_message.is_none());

    // Not due before its creation.
    assert!(store.claim_runs("a", 99, 200, 10).await.unwrap().is_empty());
    let claimed = claim_one(&store, "a", 100, 200).await;
    assert_eq!(claimed.run.id, "run_1");
    assert_eq!(claimed.run.status, RunStatus::Running);
    assert_eq!(
        store.get_run("run_1").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    // Held: another owner gets nothing, nor does the holder a second time.
    assert!(store.claim_runs("b", 150, 300, 10).await.unwrap().is_empty());
    assert!(store.claim_runs("a", 199, 300, 10).await.unwrap().is_empty());
    // The lease expired: taken over, the same job.
    let taken = claim_one(&store, "b", 200, 400).await;
    assert_eq!((taken.job, taken.run.id.as_str()), (claimed.job, "run_1"));
    // The first holder lost it.
    let s = step("run_1", "contact", StepStatus::Running, 1, Some(201));
    assert!(
        !store
            .save_step("a", claimed.job, 500, &s, RunStatus::Running)
            .await
            .unwrap()
    );
    assert!(
        store
            .save_step("b", taken.job, 500, &s, RunStatus::Running)
            .await
            .unwrap()
    );

    // Several runs, one claim: the limit holds, oldest due first.
    commit(
        &store,
        vec![
            triggering("evt_2", 110, &[("run_2", "onboard"), ("run_3", "billing")]),
            triggering("evt_3", 120, &[("run_4", "billing")]),
        ],
    )
    .await;
    let claimed = store.claim_runs("c", 450, 2_000, 2).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.run.id.as_str()).collect::<Vec<_>>(),
        ["run_2", "run_3"]
    );
    let rest = store.claim_runs("d", 450, 2_000, 10).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.run.id.as_str()).collect::<Vec<_>>(), ["run_4"]);
}

async fn concurrent_claims_never_share_a_run(store: Arc<dyn Store>) {
    let events = (0..40)
        .map(|i| triggering(&format!("evt_{i}"), 100 + i, &[(&format!("run_{i:02}"), "onboard")]))
        .collect();
    commit(&store, events).await;
    let claims = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_runs(&format!("w{w}"), 1_000, 100_000, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| c.run.id));
            }
        })
    });
    let mut all: Vec<String> = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        all.extend(claim.await.unwrap());
    }
    all.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("run_{i:02}")).collect();
    assert_eq!(all, expected, "every run claimed exactly once");
}

async fn a_duplicate_event_creates_no_run(store: Arc<dyn Store>) {
    let keyed = |id: &str, run_id: &str| {
        let mut e = triggering(id, 100, &[(run_id, "onboard")]);
        e.dedup = Some(DedupKey {
            key: "k1".into(),
            expires_at: FOREVER,
        });
        e
    };
    assert_eq!(
        commit(&store, vec![keyed("evt_1", "run_1")]).await,
        [IntakeOutcome::Stored]
    );
    // A later batch, and a repeat within one batch.
    assert_eq!(
        commit(&store, vec![keyed("evt_2", "run_2")]).await,
        [IntakeOutcome::Duplicate {
            first_event_id: "evt_1".into()
        }]
    );
    let mut fresh = keyed("evt_3", "run_3");
    fresh.dedup.as_mut().unwrap().key = "k2".into();
    let mut repeat = keyed("evt_4", "run_4");
    repeat.dedup.as_mut().unwrap().key = "k2".into();
    assert_eq!(
        commit(&store, vec![fresh, repeat]).await,
        [
            IntakeOutcome::Stored,
            IntakeOutcome::Duplicate {
                first_event_id: "evt_3".into()
            }
        ]
    );
    let page = store.list_runs(&runs_filter(10)).await.unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["run_3", "run_1"]
    );
    assert!(store.get_run("run_2").await.unwrap().is_none());
    assert!(store.get_run("run_4").await.unwrap().is_none());
    // Nor a job: only the two runs are claimable.
    assert_eq!(store.claim_runs("a", 1_000, 2_000, 10).await.unwrap().len(), 2);
}

async fn only_the_lease_holder_saves_steps_and_saving_upserts(store: Arc<dyn Store>) {
    commit(&store, vec![triggering("evt_1", 100, &[("run_1", "onboard")])]).await;
    let claimed = claim_one(&store, "a", 100, 200).await;
    let job = claimed.job;

    // Another owner (or another job number) writes nothing.
    let first = step("run_1", "contact", StepStatus::Running, 1, Some(110));
    assert!(
        !store
            .save_step("b", job, 900, &first, RunStatus::Waiting)
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_step("a", job + 1000, 900, &first, RunStatus::Waiting)
            .await
            .unwrap()
    );
    assert!(store.run_steps("run_1").await.unwrap().is_empty());
    assert_eq!(
        store.get_run("run_1").await.unwrap().unwrap().status,
        RunStatus::Running
    );

    // The holder writes, and the lease is extended to 500.
    assert!(
        store
            .save_step("a", job, 500, &first, RunStatus::Running)
            .await
            .unwrap()
    );
    assert_eq!(store.run_steps("run_1").await.unwrap(), [first]);
    assert!(store.claim_runs("b", 300, 900, 10).await.unwrap().is_empty());
    assert_eq!(store.next_run_due().await.unwrap(), Some(500));

    // Same path again: one row, the latest values.
    let mut done = step("run_1", "contact", StepStatus::Failed, 2, Some(110));
    done.output = None;
    done.error_class = Some("http_5xx".into());
    done.error_message = Some("503 from crm".into());
    done.finished_at = Some(130);
    assert!(store.save_step("a", job, 500, &done, RunStatus::Pending).await.unwrap());
    assert_eq!(store.run_steps("run_1").await.unwrap(), [done.clone()]);
    assert_eq!(
        store.get_run("run_1").await.unwrap().unwrap().status,
        RunStatus::Pending
    );
    let mut done = step("run_1", "contact", StepStatus::Succeeded, 3, Some(140));
    done.finished_at = Some(150);
    assert!(store.save_step("a", job, 500, &done, RunStatus::Running).await.unwrap());

    // Steps come in the order they started; never started ones last, by path.
    let later = step("run_1", "each/0/send", StepStatus::Succeeded, 1, Some(160));
    let earlier = step("run_1", "a_first", StepStatus::Succeeded, 1, Some(105));
    let unstarted_b = step("run_1", "zz", StepStatus::Pending, 0, None);
    let unstarted_a = step("run_1", "each/1/send", StepStatus::Pending, 0, None);
    for s in [&unstarted_b, &later, &unstarted_a, &earlier] {
        assert!(store.save_step("a", job, 500, s, RunStatus::Running).await.unwrap());
    }
    let paths: Vec<String> = store
        .run_steps("run_1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(paths, ["a_first", "contact", "each/0/send", "each/1/send", "zz"]);
    assert_eq!(store.run_steps("run_1").await.unwrap()[1], done);
    assert!(store.run_steps("run_x").await.unwrap().is_empty());

    // Once taken over, the old holder's writes change nothing.
    let taken = claim_one(&store, "b", 500, 900).await;
    assert_eq!(taken.job, job);
    let stale = step("run_1", "contact", StepStatus::Failed, 9, Some(600));
    assert!(
        !store
            .save_step("a", job, 1_000, &stale, RunStatus::Failed)
            .await
            .unwrap()
    );
    assert_eq!(store.run_steps("run_1").await.unwrap()[1], done);
    assert_eq!(
        store.get_run("run_1").await.unwrap().unwrap().status,
        RunStatus::Running
    );
}

async fn a_rescheduled_run_is_claimable_at_its_due_time(store: Arc<dyn Store>) {
    commit(&store, vec![triggering("evt_1", 100, &[("run_1", "onboard")])]).await;
    let claimed = claim_one(&store, "a", 100, 200).await;
    assert!(
        !store
            .reschedule_run("b", claimed.job, "run_1", 1_000, RunStatus::Waiting, &[])
            .await
            .unwrap()
    );
    assert!(
        !store
            .reschedule_run("a", claimed.job, "run_x", 1_000, RunStatus::Waiting, &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .reschedule_run("a", claimed.job, "run_1", 1_000, RunStatus::Waiting, &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_run("run_1").await.unwrap().unwrap().status,
        RunStatus::Waiting
    );
    // The lease is given up: the due time, not the old lease, decides.
    assert_eq!(store.next_run_due().await.unwrap(), Some(1_000));
    assert!(store.claim_runs("b", 999, 2_000, 10).await.unwrap().is_empty());
    // The old holder can no longer move it.
    assert!(
        !store
            .reschedule_run("a", claimed.job, "run_1", 300, RunStatus::Pending, &[])
            .await
            .unwrap()
    );
    let again = claim_one(&store, "b", 1_000, 2_000).await;
    assert_eq!((again.job, again.run.status), (claimed.job, RunStatus::Running));
}

async fn a_finished_run_leaves_the_queue(store: Arc<dyn Store>) {
    commit(&store, vec![triggering("evt_1", 100, &[("run_1", "onboard")])]).await;
    let claimed = claim_one(&store, "a", 100, 200).await;
    let end = RunEnd {
        status: RunStatus::Succeeded,
        failed_step: None,
        error_class: None,
        error_message: None,
        finished_at: 180,
    };
    assert!(
        !store.extend_run_lease("b", claimed.job, "run_1", 900).await.unwrap(),
        "not b's lease"
    );
    assert!(store.extend_run_lease("a", claimed.job, "run_1", 900).await.unwrap());
    assert_eq!(
        store.next_run_due().await.unwrap(),
        Some(900),
        "leased until the extension"
    );
    let last = [
        step("run_1", "shape", StepStatus::Succeeded, 1, Some(160)),
        step("run_1", "send", StepStatus::Succeeded, 1, Some(170)),
    ];
    assert!(!store.finish_run("b", claimed.job, "run_1", &end, &last).await.unwrap());
    assert_eq!(
        store.get_run("run_1").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert!(
        store.run_steps("run_1").await.unwrap().is_empty(),
        "a lost lease writes no step"
    );
    assert!(store.finish_run("a", claimed.job, "run_1", &end, &last).await.unwrap());
    assert_eq!(
        store.run_steps("run_1").await.unwrap(),
        last,
        "the last records ride with the end"
    );
    assert!(!store.finish_run("a", claimed.job, "run_1", &end, &[]).await.unwrap());
    let ended = store.get_run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (ended.status, ended.finished_at, ended.updated_at, ended.started_at),
        (RunStatus::Succeeded, Some(180), 180, 100)
    );
    // No job left: nothing to claim, ever, and nothing due.
    assert!(store.claim_runs("b", FOREVER, FOREVER, 10).await.unwrap().is_empty());
    assert_eq!(store.next_run_due().await.unwrap(), None);
    // A lost lease cannot save steps either.
    let s = step("run_1", "contact", StepStatus::Succeeded, 1, Some(150));
    assert!(
        !store
            .save_step("a", claimed.job, 500, &s, RunStatus::Running)
            .await
            .unwrap()
    );
    assert!(
        !store
            .reschedule_run("a", claimed.job, "run_1", 500, RunStatus::Pending, &[])
            .await
            .unwrap()
    );
    // A succeeded run is not retried.
    assert!(store.retry_run("run_1", 300).await.unwrap().is_none());
    assert!(store.retry_run("run_x", 300).await.unwrap().is_none());
}
