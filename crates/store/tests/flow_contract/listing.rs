//! The flow store contract, continued: listing runs, what is due, retention, endings in
//! batches, queue statistics and following new events and run ends.

use super::*;

pub(super) async fn runs_are_listed_newest_first_with_filters(store: Arc<dyn Store>) {
    commit(
        &store,
        vec![
            triggering("evt_1", 100, &[("run_1", "onboard"), ("run_2", "billing")]),
            triggering("evt_2", 110, &[("run_3", "onboard")]),
            triggering("evt_3", 120, &[("run_4", "onboard")]),
        ],
    )
    .await;
    let ids = |page: &Page<RunRow>| page.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let all = store.list_runs(&runs_filter(10)).await.unwrap();
    assert_eq!(
        (ids(&all), all.has_more),
        (
            vec!["run_4", "run_3", "run_2", "run_1"]
                .into_iter()
                .map(String::from)
                .collect(),
            false
        )
    );

    // Pages: newest first, continuing strictly before the last seq.
    let first = store.list_runs(&runs_filter(2)).await.unwrap();
    assert_eq!(
        (ids(&first), first.has_more),
        (vec!["run_4".to_string(), "run_3".into()], true)
    );
    let next = store
        .list_runs(&RunFilter {
            before_seq: Some(first.items[1].seq),
            ..runs_filter(2)
        })
        .await
        .unwrap();
    assert_eq!(
        (ids(&next), next.has_more),
        (vec!["run_2".to_string(), "run_1".into()], false)
    );

    let by_flow = store
        .list_runs(&RunFilter {
            flow_name: Some("onboard".into()),
            ..runs_filter(10)
        })
        .await
        .unwrap();
    assert_eq!(ids(&by_flow), ["run_4", "run_3", "run_1"]);
    let by_event = store
        .list_runs(&RunFilter {
            event_id: Some("evt_1".into()),
            ..runs_filter(10)
        })
        .await
        .unwrap();
    assert_eq!(ids(&by_event), ["run_2", "run_1"]);

    // run_3 waits; the others run.
    let claimed = store.claim_runs("a", 200, 1_000, 10).await.unwrap();
    let job3 = claimed.iter().find(|c| c.run.id == "run_3").unwrap().job;
    assert!(
        store
            .reschedule_run("a", job3, "run_3", 5_000, RunStatus::Waiting, &[])
            .await
            .unwrap()
    );
    let waiting = store
        .list_runs(&RunFilter {
            status: Some(RunStatus::Waiting),
            ..runs_filter(10)
        })
        .await
        .unwrap();
    assert_eq!(ids(&waiting), ["run_3"]);
    let combined = store
        .list_runs(&RunFilter {
            flow_name: Some("onboard".into()),
            status: Some(RunStatus::Running),
            before_seq: Some(all.items[0].seq),
            ..runs_filter(10)
        })
        .await
        .unwrap();
    assert_eq!(ids(&combined), ["run_1"]);
    let none = store
        .list_runs(&RunFilter {
            status: Some(RunStatus::Dead),
            ..runs_filter(10)
        })
        .await
        .unwrap();
    assert!(none.items.is_empty() && !none.has_more);
}

pub(super) async fn next_run_due_counts_leases(store: Arc<dyn Store>) {
    assert_eq!(store.next_run_due().await.unwrap(), None);
    commit(&store, vec![triggering("evt_1", 100, &[("run_1", "onboard")])]).await;
    assert_eq!(store.next_run_due().await.unwrap(), Some(100));
    // Leased: due again when the lease ends.
    let claimed = claim_one(&store, "a", 100, 300).await;
    assert_eq!(store.next_run_due().await.unwrap(), Some(300));
    commit(&store, vec![triggering("evt_2", 200, &[("run_2", "onboard")])]).await;
    assert_eq!(store.next_run_due().await.unwrap(), Some(200));
    // Delivery jobs do not count.
    commit(&store, vec![common::published("evt_3", &["ep_a"], 50)]).await;
    assert_eq!(store.next_run_due().await.unwrap(), Some(200));
    assert!(
        store
            .reschedule_run("a", claimed.job, "run_1", 150, RunStatus::Pending, &[])
            .await
            .unwrap()
    );
    assert_eq!(store.next_run_due().await.unwrap(), Some(150));
}

pub(super) async fn retention_keeps_events_of_unfinished_runs_and_takes_finished_ones_along(store: Arc<dyn Store>) {
    commit(
        &store,
        vec![
            triggering("evt_done", 100, &[("run_done", "onboard")]),
            triggering("evt_open", 110, &[("run_open", "onboard")]),
        ],
    )
    .await;
    let claimed = store.claim_runs("a", 200, 1_000, 10).await.unwrap();
    let job = claimed.iter().find(|c| c.run.id == "run_done").unwrap().job;
    let s = step("run_done", "contact", StepStatus::Succeeded, 1, Some(210));
    assert!(store.save_step("a", job, 1_000, &s, RunStatus::Running).await.unwrap());
    let end = RunEnd {
        status: RunStatus::Succeeded,
        failed_step: None,
        error_class: None,
        error_message: None,
        finished_at: 220,
    };
    assert!(store.finish_run("a", job, "run_done", &end, &[]).await.unwrap());

    let seqs: Vec<i64> = store
        .retained_window(Retained::Events, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(store.delete_retained(Retained::Events, &seqs).await.unwrap(), 1);
    assert!(store.get_event("evt_done").await.unwrap().is_none());
    assert!(store.get_run("run_done").await.unwrap().is_none());
    assert!(store.run_steps("run_done").await.unwrap().is_empty());
    assert!(store.get_event("evt_open").await.unwrap().is_some());
    assert_eq!(
        store.get_run("run_open").await.unwrap().unwrap().status,
        RunStatus::Running
    );
}

pub(super) async fn runs_end_together_each_fenced_by_its_own_lease(store: Arc<dyn Store>) {
    commit(
        &store,
        vec![triggering(
            "evt_1",
            100,
            &[("run_1", "onboard"), ("run_2", "onboard"), ("run_3", "notify")],
        )],
    )
    .await;
    let claimed = store.claim_runs("a", 100, 200, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(
        claimed
            .iter()
            .all(|c| c.event.as_ref().is_some_and(|e| e.id == "evt_1") && c.steps.is_empty())
    );
    // The leases expire and b takes the runs: a's endings no longer count.
    let taken = store.claim_runs("b", 300, 900, 10).await.unwrap();
    assert_eq!(taken.len(), 3, "every lease expired at 200");
    let mine = |id: &str| taken.iter().find(|c| c.run.id == id).unwrap().job;
    let end = |status: RunStatus, error: Option<&str>, at: i64| RunEnd {
        status,
        failed_step: error.map(|_| "send".to_string()),
        error_class: error.map(str::to_string),
        error_message: error.map(|e| format!("{e} happened")),
        finished_at: at,
    };
    let ending = |id: &str, job: i64, end: RunEnd| FinishRun {
        job,
        run_id: id.into(),
        end,
        steps: vec![step(id, "send", StepStatus::Succeeded, 1, Some(310))],
    };
    let batch = [
        ending("run_1", mine("run_1"), end(RunStatus::Succeeded, None, 400)),
        ending("run_2", mine("run_2"), end(RunStatus::Failed, Some("http_4xx"), 410)),
        ending("run_3", mine("run_3") + 10_000, end(RunStatus::Succeeded, None, 420)),
    ];
    let stale = ending("run_1", mine("run_1"), end(RunStatus::Succeeded, None, 390));
    assert_eq!(
        store.finish_runs("a", &[stale]).await.unwrap(),
        [false],
        "a lost its lease"
    );
    assert_eq!(
        store.finish_runs("b", &batch).await.unwrap(),
        [true, true, false],
        "not run_3's job"
    );
    let one = store.get_run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (one.status, one.finished_at, one.updated_at),
        (RunStatus::Succeeded, Some(400), 400)
    );
    let two = store.get_run("run_2").await.unwrap().unwrap();
    assert_eq!(
        (
            two.status,
            two.failed_step.as_deref(),
            two.error_class.as_deref(),
            two.error_message.as_deref()
        ),
        (
            RunStatus::Failed,
            Some("send"),
            Some("http_4xx"),
            Some("http_4xx happened")
        )
    );
    assert_eq!(store.run_steps("run_2").await.unwrap(), batch[1].steps);
    let three = store.get_run("run_3").await.unwrap().unwrap();
    assert_eq!(
        three.status,
        RunStatus::Running,
        "an ending without the lease changes nothing"
    );
    assert!(store.run_steps("run_3").await.unwrap().is_empty());
    assert!(store.finish_runs("b", &[]).await.unwrap().is_empty());
}

/// More endings than one statement holds (the SQLite store cuts a batch into parts): every run
/// ends with all its records, a run's many records (a long foreach) included, and a run whose
/// lease is gone is left alone wherever it falls in the batch.
pub(super) async fn a_large_batch_of_endings_keeps_every_record(store: Arc<dyn Store>) {
    let ids: Vec<String> = (0..100).map(|i| format!("run_{i:03}")).collect();
    let runs: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "bulk")).collect();
    commit(&store, vec![triggering("evt_bulk", 100, &runs)]).await;
    let mut claimed = store.claim_runs("a", 100, 900, 100).await.unwrap();
    assert_eq!(claimed.len(), 100);
    claimed.sort_by(|x, y| x.run.id.cmp(&y.run.id));
    let batch: Vec<FinishRun> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let records = if i == 40 { 250 } else { 3 };
            FinishRun {
                // Run 70's job is not the one `a` holds.
                job: if i == 70 { c.job + 10_000 } else { c.job },
                run_id: c.run.id.clone(),
                end: RunEnd {
                    status: RunStatus::Succeeded,
                    failed_step: None,
                    error_class: None,
                    error_message: None,
                    finished_at: 500 + i as i64,
                },
                steps: (0..records)
                    .map(|n| {
                        step(
                            &c.run.id,
                            &format!("each/{n}/send"),
                            StepStatus::Succeeded,
                            1,
                            Some(400),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let ended = store.finish_runs("a", &batch).await.unwrap();
    assert_eq!(ended.iter().filter(|e| **e).count(), 99);
    assert!(!ended[70], "not run 70's job");
    for (i, ending) in batch.iter().enumerate() {
        let run = store.get_run(&ending.run_id).await.unwrap().unwrap();
        let mut steps = store.run_steps(&ending.run_id).await.unwrap();
        steps.sort_by(|x, y| x.path.cmp(&y.path));
        if i == 70 {
            assert_eq!(run.status, RunStatus::Running);
            assert!(steps.is_empty());
            continue;
        }
        assert_eq!(
            (run.status, run.finished_at),
            (RunStatus::Succeeded, Some(500 + i as i64))
        );
        let mut want = ending.steps.clone();
        want.sort_by(|x, y| x.path.cmp(&y.path));
        assert_eq!(steps, want, "every record of {}", ending.run_id);
    }
    let left = store.claim_runs("b", 1_000, 2_000, 100).await.unwrap();
    assert_eq!(left.len(), 1, "only run 70's job is left, its lease expired");
}

pub(super) async fn queue_stats_count_jobs_per_kind_with_the_oldest_due(store: Arc<dyn Store>) {
    let empty = store.queue_stats().await.unwrap();
    assert_eq!(empty.len(), JobKind::ALL.len(), "every kind, even without jobs");
    assert!(empty.iter().all(|q| q.jobs == 0 && q.oldest_due_at.is_none()));
    commit(&store, vec![triggering("evt_1", 100, &[("run_1", "onboard")])]).await;
    commit(
        &store,
        vec![triggering("evt_2", 250, &[("run_2", "onboard"), ("run_3", "notify")])],
    )
    .await;
    let stats = store.queue_stats().await.unwrap();
    let runs = stats.iter().find(|q| q.kind == JobKind::Run).unwrap();
    assert_eq!((runs.jobs, runs.oldest_due_at), (3, Some(100)));
    let deliveries = stats.iter().find(|q| q.kind == JobKind::Delivery).unwrap();
    assert_eq!((deliveries.jobs, deliveries.oldest_due_at), (0, None));
}

pub(super) async fn new_events_and_ended_runs_are_followed_in_order(store: Arc<dyn Store>) {
    for (i, id) in ["evt_1", "evt_2", "evt_3"].iter().enumerate() {
        let run_id = format!("run_{}", i + 1);
        commit(
            &store,
            vec![triggering(id, 100 + i as i64, &[(run_id.as_str(), "onboard")])],
        )
        .await;
    }
    let all = store
        .list_events(&EventFilter {
            limit: 10,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    let first_seq = all.items.iter().find(|e| e.id == "evt_1").unwrap().seq;
    let after = EventFilter {
        after_seq: Some(first_seq),
        limit: 1,
        ..EventFilter::default()
    };
    let page = store.list_events(&after).await.unwrap();
    assert_eq!(
        (page.items[0].id.as_str(), page.has_more),
        ("evt_2", true),
        "oldest first after the cursor"
    );
    let claimed = store.claim_runs("a", 200, 1_000, 10).await.unwrap();
    let job = |id: &str| claimed.iter().find(|c| c.run.id == id).unwrap().job;
    let end = |at: i64| RunEnd {
        status: RunStatus::Succeeded,
        failed_step: None,
        error_class: None,
        error_message: None,
        finished_at: at,
    };
    assert!(
        store
            .finish_run("a", job("run_3"), "run_3", &end(300), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_run("a", job("run_1"), "run_1", &end(400), &[])
            .await
            .unwrap()
    );
    let ended = RunFilter {
        ended_since: Some(300),
        limit: 10,
        ..RunFilter::default()
    };
    let ids: Vec<String> = store
        .list_runs(&ended)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        ["run_3", "run_1"],
        "in the order they ended; unfinished runs left out"
    );
    let later = RunFilter {
        ended_since: Some(301),
        limit: 10,
        ..RunFilter::default()
    };
    assert_eq!(store.list_runs(&later).await.unwrap().items.len(), 1);
}
