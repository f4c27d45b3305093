//! Every table that grows has a bound: the retention loop itself (housekeeping, on a controlled
//! clock) removes expired events, receipts, deliveries with their attempts and deleted sources'
//! tombstones, by each source's and endpoint's own retention or the server default — and never an
//! event with a pending delivery nor a delivery being retried. A flood of requests to unknown
//! source names grows storage by a bounded number of receipts.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::time::{ManualClock, now_micros};
use switchyard_store::Retained;

use switchyard_testkit::app::{Backend, Options, TestApp, eventually};
use switchyard_testkit::receiver::{Receiver, Reply, ok};

/// Each test runs on both backends with a controlled clock of its own.
macro_rules! clocked_tests {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })*
        }
    };
}

clocked_tests!(
    the_retention_loop_expires_by_rule_and_keeps_what_is_needed,
    a_flood_of_unknown_names_stores_a_bounded_number_of_receipts
);

async fn clocked_app(backend: Backend, clock: &ManualClock) -> Option<TestApp> {
    TestApp::spawn_with(
        backend,
        Options {
            clock: Some(clock.clone()),
            housekeeping_every: Some(Duration::from_millis(100)),
            retention_days: Some(30),
            ..Options::default()
        },
    )
    .await
}

const DAY: Duration = Duration::from_secs(86_400);

async fn event_exists(app: &TestApp, id: &str) -> bool {
    app.store.get_event(id).await.unwrap().is_some()
}

async fn send_id(app: &TestApp, source: &str, body: &Value) -> String {
    let resp = app.send(source, body).await;
    assert_eq!(resp.status(), 202);
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn publish(app: &TestApp, event_type: &str) -> String {
    let resp = app
        .api_post("/v1/events", &json!({"type": event_type, "payload": {"n": 1}}))
        .await;
    assert_eq!(resp.status(), 202);
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn delivery_status(app: &TestApp, event: &str) -> Option<String> {
    let page: Value = app
        .api_get(&format!("/v1/deliveries?event={event}"))
        .await
        .json()
        .await
        .unwrap();
    page["data"][0]["status"].as_str().map(str::to_string)
}

async fn the_retention_loop_expires_by_rule_and_keeps_what_is_needed(backend: Backend) {
    let clock = ManualClock::at(now_micros());
    let Some(app) = clocked_app(backend, &clock).await else {
        return;
    };
    let rx = Receiver::start().await;
    rx.script("/ok", vec![ok()]);
    rx.script("/down", vec![Reply::Status(503, vec![])]);
    for (path, types) in [("/ok", "done.*"), ("/down", "stuck.*")] {
        let resp = app
            .api_post(
                "/v1/endpoints",
                &json!({"url": rx.url(path), "event_types": [types], "retry_schedule_seconds": [0, 86_400]}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    app.create_source(json!({"name": "short", "retention_days": 1, "verify": {"scheme": "token", "secrets": ["t0k"]}}))
        .await;
    app.create_source(json!({"name": "long"})).await;
    let gone = app.create_source(json!({"name": "gone", "retention_days": 1})).await;

    let short_event = {
        let resp = app
            .http
            .post(app.url("/in/short"))
            .bearer_auth("t0k")
            .json(&json!({"n": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    };
    // An unauthenticated request leaves a receipt under the source.
    assert_eq!(app.send("short", &json!({"n": 2})).await.status(), 401);
    let long_event = send_id(&app, "long", &json!({"n": 3})).await;
    let gone_event = send_id(&app, "gone", &json!({"n": 4})).await;
    let gone_id = gone["id"].as_str().unwrap().to_string();
    assert_eq!(app.api_delete(&format!("/v1/sources/{gone_id}")).await.status(), 204);
    assert!(app.store.source_tombstone(&gone_id).await.unwrap().is_some());
    let delivered = publish(&app, "done.x").await;
    let stuck = publish(&app, "stuck.x").await;
    rx.wait_for("/ok", 1, Duration::from_secs(30)).await;
    rx.wait_for("/down", 1, Duration::from_secs(30)).await;
    eventually("the delivery succeeded", || async {
        delivery_status(&app, &delivered).await.as_deref() == Some("succeeded")
    })
    .await;
    eventually("the failing delivery is recorded as pending", || async {
        let page: Value = app
            .api_get(&format!("/v1/deliveries?event={stuck}"))
            .await
            .json()
            .await
            .unwrap();
        page["data"][0]["attempts"] == 1 && page["data"][0]["status"] == "pending"
    })
    .await;
    let receipts_before = app.store.count_retained(Retained::Receipts).await.unwrap();
    assert!(receipts_before >= 1);

    // Two days on: the one-day source's events and receipts, and the deleted source's events
    // and tombstone, are gone; everything under the 30-day default stays.
    clock.advance(2 * DAY);
    eventually("one-day rows expired", || async {
        !event_exists(&app, &short_event).await
            && !event_exists(&app, &gone_event).await
            && app.store.source_tombstone(&gone_id).await.unwrap().is_none()
    })
    .await;
    let receipts: Value = app.api_get("/v1/receipts?source=short").await.json().await.unwrap();
    assert!(
        receipts["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status_code"] != 401),
        "the refusal's receipt expired with its source's retention: {receipts}"
    );
    for id in [&long_event, &delivered, &stuck] {
        assert!(event_exists(&app, id).await, "{id} is within its retention");
    }

    // Thirty-one days on: the default expires the rest — except the event whose delivery is still
    // being retried, and that delivery.
    clock.advance(29 * DAY);
    eventually("default-retention rows expired", || async {
        !event_exists(&app, &long_event).await && !event_exists(&app, &delivered).await
    })
    .await;
    assert_eq!(
        delivery_status(&app, &delivered).await,
        None,
        "its delivery and attempts went with it"
    );
    assert!(
        event_exists(&app, &stuck).await,
        "an event with a pending delivery is kept"
    );
    assert_eq!(delivery_status(&app, &stuck).await.as_deref(), Some("pending"));
    let deliveries = app.store.count_retained(Retained::Deliveries).await.unwrap();
    assert_eq!(deliveries, 1, "only the pending delivery is left");
    app.stop().await;
}

async fn a_flood_of_unknown_names_stores_a_bounded_number_of_receipts(backend: Backend) {
    let clock = ManualClock::at(now_micros());
    let Some(app) = clocked_app(backend, &clock).await else {
        return;
    };
    let before = app.store.count_retained(Retained::Receipts).await.unwrap();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let http = app.http.clone();
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let resp = http
                    .post(format!("{base}/in/nope-{worker}-{i}-{}", "x".repeat(40)))
                    .json(&json!({"pad": "y".repeat(200)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 404);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The first few are recorded one by one, the rest counted; when the minute ends, one summary
    // receipt holds the count. 2,000 requests with long names and bodies: 6 rows.
    let per_minute = i64::from(switchyard_engine::intake::refusals::PER_UNKNOWN);
    clock.advance(Duration::from_secs(61));
    eventually("the window's summary is stored", || async {
        app.store.count_retained(Retained::Receipts).await.unwrap() - before == per_minute + 1
    })
    .await;
    let page: Value = app.api_get("/v1/receipts?limit=100").await.json().await.unwrap();
    let rows = page["data"].as_array().unwrap();
    let summary = rows
        .iter()
        .find(|r| r["source"] == "(unknown)")
        .unwrap_or_else(|| panic!("a summary receipt: {page}"));
    let reason = summary["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("{} more requests refused", 2_000 - per_minute)),
        "{reason}"
    );
    // Nothing else grew: no event, and the stored receipts keep no body.
    assert_eq!(app.store.count_retained(Retained::Events).await.unwrap(), 0);
    app.stop().await;
}
