//! What-if runs (issue 12) on SQLite and PostgreSQL: `POST /v1/flows/{name}/test` and
//! `/compare`, and `switchyard flows test`. A what-if run shows every request the flow would
//! send — credentials masked, the source's redaction applied — and sends, publishes and stores
//! nothing; `http` steps are answered from the event's real run (so later steps see the real
//! answers and the `Idempotency-Key` is the real one), else by the stated stub; a changed
//! definition is checked and walked instead; `--compare` shows where two definitions' requests
//! differ over the trigger's latest events.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope};
use switchyard_testkit::backend_tests;
use switchyard_testkit::receiver::{Receiver, Reply};

use crate::delivery::endpoint;
use crate::flows::{destination, flow, run_ends};
use crate::process::run;

backend_tests!(what_if_runs_send_nothing_and_show_every_request);

const TOKEN: &str = "BEARER_SECRET_whatif_42";
const EMAIL: &str = "buyer@example.com";

fn steps(path: &str) -> Value {
    json!([
        {"id": "contact", "http": {"destination": "crm", "method": "POST", "path": path, "body": "{email: .payload.email, sku: .payload.sku}"}},
        {"id": "label", "map": "\"contact \\(.steps.contact.output.body.id)\""},
        {"id": "notify", "deliver": {"endpoint": "hooks", "type": "order.synced", "payload": "{contact: .steps.label.output}"}},
    ])
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let resp = app.api_post(path, &body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn counts(app: &TestApp) -> (usize, usize) {
    let runs: Value = app.api_get("/v1/runs?limit=1000").await.json().await.unwrap();
    let deliveries: Value = app.api_get("/v1/deliveries?limit=1000").await.json().await.unwrap();
    (
        runs["data"].as_array().unwrap().len(),
        deliveries["data"].as_array().unwrap().len(),
    )
}

async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &[], dir.path())
    })
    .await
    .unwrap()
}

async fn what_if_runs_send_nothing_and_show_every_request(app: TestApp) {
    let crm = Receiver::start().await;
    let hooks = Receiver::start().await;
    crm.script("/api/contacts", vec![Reply::Json(201, json!({"id": "c-1"}))]);
    destination(
        &app,
        json!({"name": "crm", "base_url": crm.url("/api"), "auth": {"kind": "bearer", "token": TOKEN}}),
    )
    .await;
    endpoint(&app, json!({"name": "hooks", "url": hooks.url("/in")})).await;
    app.create_source(json!({"name": "shop", "redact": ["email"]})).await;
    let created = flow(
        &app,
        json!({"name": "orders", "trigger": {"source": "shop"}, "steps": steps("/contacts")}),
    )
    .await;

    // One real run: its answers are what a what-if run of this event is answered with.
    let sent = app.send("shop", &json!({"email": EMAIL, "sku": "A-1"})).await;
    let event_id = sent.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let runs_path = format!("/v1/runs?event={event_id}");
    switchyard_testkit::app::eventually("the run exists", || async {
        let v: Value = app.api_get(&runs_path).await.json().await.unwrap();
        v["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let runs: Value = app.api_get(&runs_path).await.json().await.unwrap();
    let run_id = runs["data"][0]["id"].as_str().unwrap().to_string();
    run_ends(&app, &run_id, "succeeded").await;
    hooks.wait_for("/in", 1, Duration::from_secs(15)).await;
    let real_key = crm.received("/api/contacts")[0].headers["idempotency-key"].clone();
    let before = counts(&app).await;

    let report = post(&app, "/v1/flows/orders/test", json!({"event_id": event_id})).await;
    let text = report.to_string();
    assert!(
        !text.contains(TOKEN) && !text.contains(EMAIL),
        "no secret, no redacted value: {text}"
    );
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["version"], created["version"]);
    assert_eq!(report["recorded_run"], run_id.as_str());
    assert_eq!(report["sent"], false);
    let requests = report["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{report}");
    let call = &requests[0];
    assert_eq!(
        (call["step"].as_str(), call["kind"].as_str()),
        (Some("contact"), Some("http"))
    );
    assert_eq!(call["request"]["method"], "POST");
    assert_eq!(call["request"]["url"], crm.url("/api/contacts"));
    assert_eq!(call["answered_by"], "recorded");
    let headers = call["request"]["headers"].to_string();
    assert!(headers.contains("Bearer ********"), "{headers}");
    assert!(headers.contains(&real_key), "the real run's Idempotency-Key: {headers}");
    assert_eq!(
        call["request"]["body"]["email"], "[redacted]",
        "the source's redaction applies"
    );
    assert_eq!(call["request"]["body"]["sku"], "A-1");
    let label = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "label")
        .unwrap();
    assert_eq!(label["output"], "contact c-1", "later steps see the recorded answer");
    assert_eq!(requests[1]["kind"], "deliver");
    assert_eq!(requests[1]["request"]["endpoint"], "hooks");
    assert_eq!(requests[1]["request"]["payload"]["contact"], "contact c-1");

    // A changed definition, and a given payload answered by the stub.
    let changed = post(
        &app,
        "/v1/flows/orders/test",
        json!({"event_id": event_id, "definition": {"trigger": {"source": "shop"}, "steps": steps("/v2/contacts")}}),
    )
    .await;
    assert_eq!(changed["definition"], "changed");
    assert_eq!(changed["requests"][0]["request"]["url"], crm.url("/api/v2/contacts"));
    let given = post(
        &app,
        "/v1/flows/orders/test",
        json!({"payload": {"email": "x@example.com", "sku": "B-2"}}),
    )
    .await;
    assert_eq!(given["requests"][0]["answered_by"], "stub");
    assert!(given["recorded_run"].is_null());
    assert_eq!(
        given["requests"][0]["request"]["body"]["email"], "x@example.com",
        "the caller's own data"
    );
    let invalid = app
        .api_post(
            "/v1/flows/orders/test",
            &json!({"payload": {}, "definition": {"trigger": {"source": "shop"}, "steps": [{"id": "x", "map": ".payload | ("}]}}),
        )
        .await;
    assert_envelope(invalid, 422, "validation_failed").await;
    let neither = app.api_post("/v1/flows/orders/test", &json!({})).await;
    assert_envelope(neither, 422, "validation_failed").await;

    // Nothing was sent, published or stored by any of it.
    assert_eq!(crm.received("/api/contacts").len(), 1);
    assert_eq!(crm.received("/api/v2/contacts").len(), 0);
    assert_eq!(hooks.received("/in").len(), 1);
    assert_eq!(counts(&app).await, before);

    // Compare over the trigger's events: a new path differs on every event, in `url` only.
    for sku in ["B-1", "B-2", "B-3"] {
        app.send("shop", &json!({"email": EMAIL, "sku": sku})).await;
    }
    let comparison = post(
        &app,
        "/v1/flows/orders/compare",
        json!({"definition": {"trigger": {"source": "shop"}, "steps": steps("/v2/contacts")}, "last": 10}),
    )
    .await;
    assert_eq!(comparison["compared"], 4, "{comparison}");
    assert_eq!(comparison["differing"], 4);
    let diffs = comparison["events"][0]["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{comparison}");
    assert_eq!(diffs[0]["field"], "url");
    let same = post(
        &app,
        "/v1/flows/orders/compare",
        json!({"definition": {"trigger": {"source": "shop"}, "steps": steps("/contacts")}, "last": 10}),
    )
    .await;
    assert_eq!(same["differing"], 0, "{same}");

    // The CLI, with the changed definition from a config file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.yaml");
    let changed_flow =
        json!({"flows": [{"name": "orders", "trigger": {"source": "shop"}, "steps": steps("/v2/contacts")}]});
    std::fs::write(&file, changed_flow.to_string()).unwrap();
    let base = ["flows", "test", "orders", "--url", &app.base, "--key", ADMIN_KEY].map(str::to_string);
    let mut one = base.to_vec();
    one.extend(["--event".to_string(), event_id.clone()]);
    let out = cli(one).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "What-if run of orders (version 1)".to_string(),
        "none sent".to_string(),
        format!(
            "{:<16} POST {}  [answered by the recorded response]",
            "contact",
            crm.url("/api/contacts")
        ),
        "Authorization: Bearer ********".to_string(),
        format!("{:<16} deliver order.synced to endpoint hooks", "notify"),
    ] {
        assert!(stdout.contains(line.as_str()), "{line:?} in {stdout}");
    }
    assert!(!stdout.contains(TOKEN) && !stdout.contains(EMAIL));
    let mut compare = base.to_vec();
    compare.extend(["-f".into(), file.display().to_string(), "--compare".into(), "10".into()]);
    let out = cli(compare).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("over 4 events: 4 differ"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("contact url:"), "{stdout}");
    crm.wait_for("/api/contacts", 4, Duration::from_secs(15)).await;
    assert_eq!(
        crm.received("/api/contacts").len(),
        1 + 3,
        "only the three real runs called"
    );
}
