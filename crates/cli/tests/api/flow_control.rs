//! Flow control (issue 12, SPEC §7) on SQLite and PostgreSQL: `concurrency` keeps at most N
//! runs of a key in progress; `ordering` starts a key's runs one at a time in sequence order,
//! holds a run whose predecessor is missing for the reorder window, then lets it go with the gap
//! recorded; `debounce` runs once per key with the latest event. In every case a key that waits
//! holds back no other key. (The assertions compare recorded step times with each other, never
//! with a clock.)

use serde_json::{Value, json};
use switchyard_testkit::app::{TestApp, eventually};
use switchyard_testkit::backend_tests;

use crate::flows::flow;

backend_tests!(
    concurrency_limits_runs_per_key,
    ordering_holds_a_gap_for_the_window_then_records_it,
    debounce_runs_once_per_key_with_the_latest_event,
);

async fn send(app: &TestApp, source: &str, payload: Value) -> String {
    let resp = app.send(source, &payload).await;
    assert!(resp.status().is_success());
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn run_of(app: &TestApp, event_id: &str) -> Value {
    let path = format!("/v1/runs?event={event_id}");
    eventually("the run exists", || async {
        let v: Value = app.api_get(&path).await.json().await.unwrap();
        v["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let page: Value = app.api_get(&path).await.json().await.unwrap();
    let id = page["data"][0]["id"].as_str().unwrap().to_string();
    app.api_get(&format!("/v1/runs/{id}")).await.json().await.unwrap()
}

async fn ended(app: &TestApp, event_id: &str) -> Value {
    let path = format!("/v1/runs?event={event_id}");
    eventually("the run ends", || async {
        let v: Value = app.api_get(&path).await.json().await.unwrap();
        v["data"][0]["finished_at"].is_string()
    })
    .await;
    run_of(app, event_id).await
}

/// When the run's first step started (µs-resolution RFC 3339 text compares in order).
fn first_start(run: &Value) -> String {
    run["steps"][0]["started_at"].as_str().unwrap_or_default().to_string()
}

fn last_finish(run: &Value) -> String {
    run["finished_at"].as_str().unwrap_or_default().to_string()
}

async fn concurrency_limits_runs_per_key(app: TestApp) {
    app.create_source(json!({"name": "accounts"})).await;
    flow(
        &app,
        json!({"name": "per-account", "trigger": {"source": "accounts"},
               "concurrency": {"key": ".payload.account", "limit": 2},
               "steps": [{"id": "hold", "delay": {"seconds": 2}}, {"id": "done", "map": ".payload.n"}]}),
    )
    .await;
    let mut a = Vec::new();
    for n in 0..3 {
        a.push(send(&app, "accounts", json!({"account": "a", "n": n})).await);
    }
    let b = send(&app, "accounts", json!({"account": "b", "n": 9})).await;
    // The third run of `a` waits for a slot while `b`'s runs at once.
    eventually("b's run is in its delay", || async {
        run_of(&app, &b).await["status"] == "waiting"
    })
    .await;
    let third = run_of(&app, &a[2]).await;
    assert_eq!(third["status"], "pending", "{third}");
    assert!(third["steps"].as_array().unwrap().is_empty(), "{third}");

    let runs = [
        ended(&app, &a[0]).await,
        ended(&app, &a[1]).await,
        ended(&app, &a[2]).await,
    ];
    assert!(runs.iter().all(|r| r["status"] == "succeeded"));
    let first_done = last_finish(&runs[0]).min(last_finish(&runs[1]));
    assert!(
        first_start(&runs[2]) >= first_done,
        "the third run started only once one of the first two ended: {runs:?}"
    );
    assert_eq!(ended(&app, &b).await["status"], "succeeded");
}

async fn ordering_holds_a_gap_for_the_window_then_records_it(app: TestApp) {
    app.create_source(json!({"name": "ledger"})).await;
    flow(
        &app,
        json!({"name": "in-order", "trigger": {"source": "ledger"},
               "ordering": {"key": ".payload.account", "sequence": ".payload.seq", "window_seconds": 3},
               "steps": [{"id": "apply", "map": ".payload.seq"}]}),
    )
    .await;
    // A what-if run shows the key and sequence a run of this payload would get.
    let whatif: Value = app
        .api_post(
            "/v1/flows/in-order/test",
            &json!({"payload": {"account": "z", "seq": 9}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whatif["control"]["key"], "z", "{whatif}");
    assert_eq!(whatif["control"]["sequence"], 9);
    let one = send(&app, "ledger", json!({"account": "a", "seq": 1})).await;
    assert_eq!(ended(&app, &one).await["status"], "succeeded");
    // 3 arrives before 2: it is held; 2 then runs first, and 3 right after it.
    let three = send(&app, "ledger", json!({"account": "a", "seq": 3})).await;
    let other = send(&app, "ledger", json!({"account": "b", "seq": 40})).await;
    assert_eq!(
        ended(&app, &other).await["status"],
        "succeeded",
        "another key is not held back"
    );
    let held = run_of(&app, &three).await;
    assert_eq!(held["status"], "pending", "3 waits for 2: {held}");
    let two = send(&app, "ledger", json!({"account": "a", "seq": 2})).await;
    let (two, three) = (ended(&app, &two).await, ended(&app, &three).await);
    assert_eq!(
        (two["status"].as_str(), three["status"].as_str()),
        (Some("succeeded"), Some("succeeded"))
    );
    assert!(
        first_start(&three) >= last_finish(&two),
        "2 ran before 3: {two} {three}"
    );
    assert!(three["note"].is_null(), "no gap once 2 arrived: {three}");
    assert_eq!(three["sequence"], 3);

    // 5 arrives and 4 never does: 5 waits out the window, then goes, with the gap recorded.
    let five = send(&app, "ledger", json!({"account": "a", "seq": 5})).await;
    let five = ended(&app, &five).await;
    assert_eq!(five["status"], "succeeded");
    assert_eq!(five["note"]["ordering"]["gap"]["expected"], 4, "{five}");
    assert_eq!(five["note"]["ordering"]["gap"]["missing"], 1);
    assert!(first_start(&five).as_str() > five["started_at"].as_str().unwrap());
}

async fn debounce_runs_once_per_key_with_the_latest_event(app: TestApp) {
    app.create_source(json!({"name": "docs"})).await;
    flow(
        &app,
        json!({"name": "reindex", "trigger": {"source": "docs"},
               "debounce": {"key": ".payload.doc", "seconds": 1},
               "steps": [{"id": "index", "map": ".payload.rev"}]}),
    )
    .await;
    let mut x = Vec::new();
    for rev in 1..=3 {
        x.push(send(&app, "docs", json!({"doc": "x", "rev": rev})).await);
    }
    let y = send(&app, "docs", json!({"doc": "y", "rev": 1})).await;
    let latest = ended(&app, &x[2]).await;
    assert_eq!(latest["status"], "succeeded");
    assert_eq!(latest["steps"][0]["output"], 3, "the run has the latest event");
    for earlier in &x[..2] {
        let r = ended(&app, earlier).await;
        assert_eq!(r["status"], "filtered", "{r}");
        assert_eq!(r["error"]["class"], "debounced");
        assert!(
            r["steps"].as_array().unwrap().is_empty(),
            "a superseded run runs no step"
        );
    }
    assert_eq!(ended(&app, &y).await["status"], "succeeded", "each key runs once");
}
