//! The alert storage contract, on SQLite and PostgreSQL: rules found by id or name with unique
//! names; a state change applies only to the state it was read in and queues its notification
//! (with a job) in the same transaction; a notification's job is leased, and only the lease
//! holder moves it on, every try recorded; deleting a rule drops its waiting notifications;
//! health samples add up across writers; quarantine is counted.

use std::sync::Arc;

use switchyard_store::*;

mod common;

contract!(
    rules_change_state_once_and_queue_their_notification,
    notifications_are_leased_retried_and_recorded,
    health_samples_add_up_and_are_summed_per_thing
);

fn rule(id: &str, name: &str) -> AlertRow {
    AlertRow {
        id: id.into(),
        name: name.into(),
        definition: format!(r#"{{"name":"{name}"}}"#),
        sealed: vec![1, 2, 3],
        state: "ok".into(),
        since: None,
        detail: None,
        notified_state: None,
        last_notified_at: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn firing(id: &str, notification: Option<&str>) -> AlertTransition {
    AlertTransition {
        alert_id: id.into(),
        from_state: "ok".into(),
        from_notified: None,
        to_state: "firing".into(),
        since: Some(10),
        detail: Some(r#"{"what":"x"}"#.into()),
        notification: notification.map(|n| NewNotification {
            id: n.into(),
            state: "firing".into(),
            body: r#"{"state":"firing"}"#.into(),
        }),
        now: 10,
    }
}

async fn rules_change_state_once_and_queue_their_notification(store: Arc<dyn Store>) {
    store.insert_alert(&rule("alr_a", "a")).await.unwrap();
    assert!(matches!(
        store.insert_alert(&rule("alr_b", "a")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_alert("a").await.unwrap().unwrap().id, "alr_a");
    assert!(store.transition_alert(&firing("alr_a", Some("ntf_1"))).await.unwrap());
    // Read in the old state: refused, and nothing queued.
    assert!(!store.transition_alert(&firing("alr_a", Some("ntf_2"))).await.unwrap());
    let a = store.get_alert("alr_a").await.unwrap().unwrap();
    assert_eq!(
        (
            a.state.as_str(),
            a.since,
            a.notified_state.as_deref(),
            a.last_notified_at
        ),
        ("firing", Some(10), Some("firing"), Some(10))
    );
    let queued = store.list_notifications("alr_a", 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].id.as_str(), queued[0].status.as_str()), ("ntf_1", "pending"));
    let queue = store.queue_stats().await.unwrap();
    let jobs = queue.iter().find(|q| q.kind == JobKind::Notification).unwrap();
    assert_eq!(jobs.jobs, 1);
    // A change without a notification keeps what was announced.
    let quiet = AlertTransition {
        from_state: "firing".into(),
        from_notified: Some("firing".into()),
        to_state: "ok".into(),
        notification: None,
        ..firing("alr_a", None)
    };
    assert!(store.transition_alert(&quiet).await.unwrap());
    let a = store.get_alert("alr_a").await.unwrap().unwrap();
    assert_eq!((a.state.as_str(), a.notified_state.as_deref()), ("ok", Some("firing")));
    // Renamed; deleting drops the waiting notification and its job.
    let mut renamed = rule("alr_a", "a2");
    renamed.updated_at = 7;
    assert!(store.update_alert(&renamed).await.unwrap());
    assert_eq!(store.all_alerts().await.unwrap()[0].name, "a2");
    assert!(store.delete_alert("alr_a").await.unwrap());
    assert!(!store.delete_alert("alr_a").await.unwrap());
    assert_eq!(store.list_notifications("alr_a", 10).await.unwrap()[0].status, "dead");
    assert!(
        store
            .claim_notifications("node_a", 100, 200, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn notifications_are_leased_retried_and_recorded(store: Arc<dyn Store>) {
    store.insert_alert(&rule("alr_a", "a")).await.unwrap();
    assert!(store.transition_alert(&firing("alr_a", Some("ntf_1"))).await.unwrap());
    let claimed = store.claim_notifications("node_a", 20, 80, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].sealed_channel, vec![1, 2, 3]);
    // Leased: another node finds nothing until the lease ends.
    assert!(
        store
            .claim_notifications("node_b", 30, 90, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let attempt = |code: i64| NotificationAttemptRow {
        notification_id: "ntf_1".into(),
        at: 30,
        duration_ms: 4,
        status_code: Some(code),
        error_class: None,
        response_excerpt: Some("nope".into()),
    };
    let retry = NotificationResult {
        job: claimed[0].job,
        lease_owner: "node_a".into(),
        attempt: attempt(500),
        status: "pending".into(),
        next_attempt_at: Some(50),
    };
    // A node whose lease was taken over records its try but moves nothing.
    let late = NotificationResult {
        lease_owner: "node_b".into(),
        ..retry.clone()
    };
    assert!(!store.complete_notification(&late, 31).await.unwrap());
    assert!(store.complete_notification(&retry, 31).await.unwrap());
    let n = &store.list_notifications("alr_a", 10).await.unwrap()[0];
    assert_eq!(
        (
            n.status.as_str(),
            n.attempts,
            n.next_attempt_at,
            n.last_error.as_deref()
        ),
        ("pending", 1, Some(50), Some("http_500"))
    );
    assert!(
        store
            .claim_notifications("node_b", 40, 90, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let again = store.claim_notifications("node_b", 50, 90, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    let sent = NotificationResult {
        job: again[0].job,
        lease_owner: "node_b".into(),
        attempt: attempt(200),
        status: "succeeded".into(),
        next_attempt_at: None,
    };
    assert!(store.complete_notification(&sent, 60).await.unwrap());
    let n = &store.list_notifications("alr_a", 10).await.unwrap()[0];
    assert_eq!((n.status.as_str(), n.attempts), ("succeeded", 2));
    let tries = store.list_notification_attempts("ntf_1").await.unwrap();
    let codes: Vec<_> = tries.iter().map(|t| t.status_code).collect();
    assert_eq!(
        codes,
        [Some(500), Some(500), Some(200)],
        "every try is recorded, the late one too"
    );
    assert!(
        store
            .claim_notifications("node_a", 1_000, 2_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn health_samples_add_up_and_are_summed_per_thing(store: Arc<dyn Store>) {
    let s = |bucket: i64, scope: &str, name: &str, total: i64, failed: i64, rejected: i64| HealthSample {
        bucket,
        scope: scope.into(),
        name: name.into(),
        total,
        failed,
        rejected,
        refused: 0,
    };
    // Two nodes add to the same bucket.
    store
        .add_health_samples(&[s(0, "endpoint", "ep_1", 4, 1, 0), s(10, "endpoint", "ep_1", 2, 2, 2)])
        .await
        .unwrap();
    store
        .add_health_samples(&[s(10, "endpoint", "ep_1", 1, 1, 1), s(10, "source", "gh", 5, 3, 3)])
        .await
        .unwrap();
    let mut totals = store.health_totals(0).await.unwrap();
    totals.sort_by(|a, b| a.name.cmp(&b.name));
    let ep = &totals[0];
    assert_eq!(
        (
            ep.total,
            ep.failed,
            ep.rejected,
            ep.last_ok_bucket,
            ep.last_rejected_bucket
        ),
        (7, 4, 3, Some(0), Some(10))
    );
    assert_eq!((totals[1].name.as_str(), totals[1].rejected), ("gh", 3));
    assert_eq!(
        store
            .health_totals(10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.total)
            .sum::<i64>(),
        8
    );
    let series = store.health_series(0).await.unwrap();
    let at10: Vec<_> = series
        .iter()
        .filter(|r| r.bucket == 10)
        .map(|r| (r.scope.as_str(), r.total))
        .collect();
    assert_eq!(at10, [("endpoint", 3), ("source", 5)]);
    assert_eq!(store.purge_health_samples(10).await.unwrap(), 1);
    assert_eq!(store.health_totals(0).await.unwrap().len(), 2);
    assert_eq!(store.quarantine_summary().await.unwrap(), (0, None));
}
