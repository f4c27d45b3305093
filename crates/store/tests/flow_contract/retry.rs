//! The flow store contract, continued: retrying a failed or dead run from the step that failed.

use super::*;

pub(super) async fn only_failed_or_dead_runs_are_retried_from_the_failed_step(store: Arc<dyn Store>) {
    commit(
        &store,
        vec![triggering("evt_1", 100, &[("run_1", "onboard"), ("run_2", "onboard")])],
    )
    .await;
    let claimed = store.claim_runs("a", 100, 100_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // Neither pending nor running runs are retried.
    assert!(store.retry_run("run_1", 150).await.unwrap().is_none());

    let (job1, job2) = (claimed[0].job, claimed[1].job);
    assert_eq!(claimed[0].run.id, "run_1");
    let mut ok = step("run_1", "contact", StepStatus::Succeeded, 1, Some(110));
    ok.finished_at = Some(115);
    let mut bad = step("run_1", "notify", StepStatus::Failed, 3, Some(120));
    bad.error_class = Some("http_4xx".into());
    bad.error_message = Some("400 from slack".into());
    bad.finished_at = Some(140);
    let skipped = step("run_1", "wrap_up", StepStatus::Skipped, 0, None);
    for s in [&ok, &bad, &skipped] {
        assert!(
            store
                .save_step("a", job1, 100_000, s, RunStatus::Running)
                .await
                .unwrap()
        );
    }
    let failed = RunEnd {
        status: RunStatus::Failed,
        failed_step: Some("notify".into()),
        error_class: Some("http_4xx".into()),
        error_message: Some("400 from slack".into()),
        finished_at: 150,
    };
    assert!(store.finish_run("a", job1, "run_1", &failed, &[]).await.unwrap());
    let ended = store.get_run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (
            ended.status,
            ended.failed_step.as_deref(),
            ended.error_class.as_deref(),
            ended.finished_at
        ),
        (RunStatus::Failed, Some("notify"), Some("http_4xx"), Some(150))
    );
    assert!(store.claim_runs("b", 2_000, 3_000, 10).await.unwrap().is_empty());

    let retried = store.retry_run("run_1", 5_000).await.unwrap().unwrap();
    assert_eq!(retried, store.get_run("run_1").await.unwrap().unwrap());
    assert_eq!(
        (
            retried.status,
            retried.updated_at,
            retried.started_at,
            retried.finished_at
        ),
        (RunStatus::Pending, 5_000, 100, None)
    );
    assert!(retried.failed_step.is_none() && retried.error_class.is_none() && retried.error_message.is_none());
    let steps = store.run_steps("run_1").await.unwrap();
    assert_eq!(steps[0], ok, "a step that succeeded is kept");
    let reset = |s: &StepRow| StepRow {
        status: StepStatus::Pending,
        attempts: 0,
        error_class: None,
        error_message: None,
        started_at: None,
        finished_at: None,
        ..s.clone()
    };
    assert_eq!(
        steps[1..],
        [reset(&bad), reset(&skipped)],
        "not started: max age counts anew"
    );
    // A new job, due at the retry.
    assert_eq!(store.next_run_due().await.unwrap(), Some(5_000));
    assert!(store.claim_runs("b", 4_999, 100_000, 10).await.unwrap().is_empty());
    let again = claim_one(&store, "b", 5_000, 100_000).await;
    assert_eq!((again.run.id.as_str(), again.run.status), ("run_1", RunStatus::Running));
    assert_ne!(again.job, job1);
    // Running again: not retried a second time.
    assert!(store.retry_run("run_1", 5_100).await.unwrap().is_none());

    // A dead run is retried too, and only one job results from two retries.
    let dead = RunEnd {
        status: RunStatus::Dead,
        failed_step: Some("contact".into()),
        error_class: Some("timeout".into()),
        error_message: None,
        finished_at: 200,
    };
    assert!(store.finish_run("a", job2, "run_2", &dead, &[]).await.unwrap());
    assert_eq!(store.get_run("run_2").await.unwrap().unwrap().status, RunStatus::Dead);
    assert!(store.retry_run("run_2", 7_000).await.unwrap().is_some());
    assert!(store.retry_run("run_2", 7_001).await.unwrap().is_none());
    let claimed = store.claim_runs("c", 8_000, 9_000, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.run.id.as_str()).collect::<Vec<_>>(), ["run_2"]);
}
