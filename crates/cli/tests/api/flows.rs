//! Flows through the API (SPEC §7), on SQLite and PostgreSQL: definitions checked and versioned;
//! each trigger (source with types and filter, event_types, manual) and each step kind (filter,
//! map, validate, http, deliver, emit, branch, foreach, delay); retries with one
//! `Idempotency-Key` per step, permanent failures, `retry` from the failed step without
//! repeating completed ones; run history; a duplicate inbound event creates no run.

use std::time::Duration;

use serde_json::{Value, json};

use crate::delivery::endpoint;
use switchyard_testkit::app::{TestApp, assert_envelope, eventually};
use switchyard_testkit::backend_tests;
use switchyard_testkit::receiver::{Receiver, Reply};

backend_tests!(
    flows_are_checked_versioned_and_deleted,
    an_inbound_event_runs_its_flow_to_the_destination,
    published_and_emitted_events_trigger_flows_and_deliver_reaches_endpoints,
    http_steps_retry_with_one_idempotency_key_and_runs_retry_from_the_failed_step,
    branch_foreach_delay_and_validate_steps,
    manual_runs_and_the_runs_api,
);

const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "BEARER_SECRET_flow_777";

pub(crate) async fn flow(app: &TestApp, body: Value) -> Value {
    let resp = app.api_post("/v1/flows", &body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

pub(crate) async fn destination(app: &TestApp, body: Value) -> Value {
    let resp = app.api_post("/v1/destinations", &body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let resp = app.api_get(path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

/// Waits for the run to reach `status` and returns its view.
pub(crate) async fn run_ends(app: &TestApp, run_id: &str, status: &str) -> Value {
    let path = format!("/v1/runs/{run_id}");
    eventually(&format!("run {run_id} is {status}"), || async {
        let v = get(app, &path).await;
        if v["status"]
            .as_str()
            .is_some_and(|s| ["succeeded", "failed", "dead", "filtered"].contains(&s) && s != status)
        {
            panic!("run ended {}: {v}", v["status"]);
        }
        v["status"] == status
    })
    .await;
    get(app, &path).await
}

/// The runs of an event (through the event view's links).
async fn runs_of(app: &TestApp, event_id: &str) -> Vec<Value> {
    get(app, &format!("/v1/runs?event={event_id}")).await["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn step<'a>(run: &'a Value, path: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["path"] == path))
        .unwrap_or_else(|| panic!("no step {path} in {run}"))
}

async fn flows_are_checked_versioned_and_deleted(app: TestApp) {
    let rx = Receiver::start().await;
    destination(&app, json!({"name": "crm", "base_url": rx.url("/api")})).await;
    app.create_source(json!({"name": "forms"})).await;
    // Every problem at once, each at its field.
    let resp = app
        .api_post(
            "/v1/flows",
            &json!({"name": "bad", "trigger": {"source": "nope"}, "steps": [
                {"id": "a", "map": ".payload | ("},
                {"id": "a", "http": {"destination": "ghost", "path": "/x"}},
                {"id": "c", "map": ".steps.missing.output"},
                {"id": "d", "deliver": {"endpoint": "no-such-endpoint"}},
            ]}),
        )
        .await;
    let err = assert_envelope(resp, 422, "validation_failed").await;
    let fields = err["details"]["fields"].to_string();
    for f in [
        "trigger.source",
        "steps.a.map",
        "steps.a.id",
        "steps.a.http.destination",
        "steps.c.map",
        "steps.d.deliver.endpoint",
    ] {
        assert!(fields.contains(f), "{f} missing: {fields}");
    }
    // A hostile expression is refused before it is stored.
    let resp = app
        .api_post(
            "/v1/flows",
            &json!({"name": "loop", "trigger": {"manual": true}, "steps": [{"id": "x", "map": "def f: f; f"}]}),
        )
        .await;
    assert_envelope(resp, 422, "validation_failed").await;
    // A flow that would trigger itself.
    let resp = app
        .api_post("/v1/flows", &json!({"name": "self", "trigger": {"event_types": ["a.*"]}, "steps": [{"id": "e", "emit": {"type": "a.b"}}]}))
        .await;
    assert_envelope(resp, 422, "validation_failed").await;

    let created = flow(
        &app,
        json!({"name": "lead", "trigger": {"source": "forms"}, "steps": [{"id": "m", "map": "{email: .payload.email}"}]}),
    )
    .await;
    assert!(created["id"].as_str().unwrap().starts_with("flw_"));
    assert_eq!(created["version"], 1);
    let taken = app
        .api_post(
            "/v1/flows",
            &json!({"name": "lead", "trigger": {"manual": true}, "steps": [{"id": "m", "map": "."}]}),
        )
        .await;
    assert_envelope(taken, 409, "flow_name_taken").await;
    // Every change is a new version; the same definition again is not.
    let changed = app
        .api_patch(
            "/v1/flows/lead",
            &json!({"steps": [{"id": "m", "map": "{email: .payload.email, v: 2}"}]}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.unwrap()["version"], 2);
    let same = app
        .api_patch(
            "/v1/flows/lead",
            &json!({"steps": [{"id": "m", "map": "{email: .payload.email, v: 2}"}]}),
        )
        .await;
    assert_eq!(same.json::<Value>().await.unwrap()["version"], 2);
    let versions = get(&app, "/v1/flows/lead/versions").await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 2);
    assert_eq!(versions["data"][0]["version"], 2);
    assert_eq!(
        versions["data"][1]["definition"]["steps"][0]["map"],
        "{email: .payload.email}"
    );
    let listed = get(&app, "/v1/flows").await;
    assert_eq!(listed["data"][0]["name"], "lead");
    assert_eq!(app.api_delete("/v1/flows/lead").await.status(), 204);
    assert_envelope(app.api_get("/v1/flows/lead").await, 404, "not_found").await;
}

async fn an_inbound_event_runs_its_flow_to_the_destination(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/api/contacts", vec![Reply::Json(201, json!({"id": "c_1"}))]);
    destination(
        &app,
        json!({"name": "crm", "base_url": rx.url("/api/"), "auth": {"kind": "bearer", "token": TOKEN},
               "headers": {"X-Tenant": "t1"}}),
    )
    .await;
    app.create_source(json!({"name": "forms", "accept": "json_or_form", "dedup": {"key": ".body.id"}}))
        .await;
    flow(
        &app,
        json!({"name": "lead-to-crm",
        "trigger": {"source": "forms", "types": ["form.*"], "filter": ".payload.email != null"},
        "steps": [
            {"id": "known", "filter": ".payload.email | endswith(\"@example.com\")"},
            {"id": "shape", "map": "{email: .payload.email, name: .payload.name}"},
            {"id": "contact", "http": {"destination": "crm", "method": "POST", "path": "/contacts",
                "query": {"source": ".event.source"}, "body": ".steps.shape.output"}}
        ]}),
    )
    .await;
    let ok = app
        .send(
            "forms",
            &json!({"id": "f1", "type": "form.submitted", "email": "ada@example.com", "name": "Ada"}),
        )
        .await;
    assert_eq!(ok.status(), 202);
    let event: Value = ok.json().await.unwrap();
    let event_id = event["id"].as_str().unwrap().to_string();
    let got = rx.wait_for("/api/contacts", 1, WAIT).await;
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].target, "/api/contacts?source=forms");
    assert_eq!(got[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(got[0].headers["x-tenant"], "t1");
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert!(got[0].headers["idempotency-key"].starts_with("swy_"));
    assert_eq!(
        serde_json::from_slice::<Value>(&got[0].body).unwrap(),
        json!({"email": "ada@example.com", "name": "Ada"})
    );
    let runs = runs_of(&app, &event_id).await;
    assert_eq!(runs.len(), 1);
    let run = run_ends(&app, runs[0]["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(run["flow"], "lead-to-crm");
    assert_eq!(run["flow_version"], 1);
    assert_eq!(
        step(&run, "shape")["output"],
        json!({"email": "ada@example.com", "name": "Ada"})
    );
    let contact = step(&run, "contact");
    assert_eq!(contact["status"], "succeeded");
    assert_eq!(contact["attempts"], 1);
    assert_eq!(contact["output"]["status"], 201);
    assert_eq!(contact["output"]["body"]["id"], "c_1");
    // The event view links to its runs.
    let ev = get(&app, &format!("/v1/events/{event_id}")).await;
    assert_eq!(ev["runs"][0]["id"], run["id"]);
    assert!(!run.to_string().contains(TOKEN) && !ev.to_string().contains(TOKEN));

    // A duplicate (same id by the source's dedup key, other bytes) creates no run; the trigger
    // filter and a filter step stop what they should.
    let dup = app
        .send(
            "forms",
            &json!({"id": "f1", "type": "form.submitted", "email": "ada@example.com", "name": "Ada L."}),
        )
        .await;
    assert_eq!(dup.json::<Value>().await.unwrap()["status"], "duplicate");
    let no_email = app.send("forms", &json!({"id": "f2", "type": "form.submitted"})).await;
    let no_email_id = no_email.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other_type = app
        .send(
            "forms",
            &json!({"id": "f3", "type": "signup", "email": "x@example.com"}),
        )
        .await;
    let other_type_id = other_type.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = app
        .send(
            "forms",
            &json!({"id": "f4", "type": "form.x", "email": "eve@elsewhere.org"}),
        )
        .await;
    let stranger_id = stranger.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(runs_of(&app, &no_email_id).await.is_empty());
    assert!(runs_of(&app, &other_type_id).await.is_empty());
    let filtered = runs_of(&app, &stranger_id).await;
    let filtered = run_ends(&app, filtered[0]["id"].as_str().unwrap(), "filtered").await;
    assert_eq!(step(&filtered, "known")["output"], false);
    assert_eq!(
        get(&app, &format!("/v1/runs?event={event_id}")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        rx.received("/api/contacts").len(),
        1,
        "the duplicate and the filtered ones called nothing"
    );
}

async fn published_and_emitted_events_trigger_flows_and_deliver_reaches_endpoints(app: TestApp) {
    let rx = Receiver::start().await;
    endpoint(
        &app,
        json!({"name": "warehouse", "url": rx.url("/warehouse"), "event_types": ["nothing.subscribed"]}),
    )
    .await;
    flow(
        &app,
        json!({"name": "enrich", "trigger": {"event_types": ["order.created"]},
               "steps": [{"id": "announce", "emit": {"type": "fulfil.requested", "payload": "{order: .payload.id, qty: .payload.qty}"}}]}),
    )
    .await;
    flow(
        &app,
        json!({"name": "fulfil", "trigger": {"event_types": ["fulfil.*"], "filter": ".payload.qty > 0"},
               "steps": [{"id": "ship", "deliver": {"endpoint": "warehouse", "type": "ship.order", "payload": "{ship: .payload.order}"}}]}),
    )
    .await;
    let resp = app
        .api_post(
            "/v1/events",
            &json!({"type": "order.created", "payload": {"id": "o1", "qty": 2}}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let event_id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let got = rx.wait_for("/warehouse", 1, WAIT).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&got[0].body).unwrap(),
        json!({"ship": "o1"})
    );
    assert!(
        got[0].headers.contains_key("webhook-signature"),
        "delivered through the delivery engine, signed"
    );
    let first = runs_of(&app, &event_id).await;
    let first = run_ends(&app, first[0]["id"].as_str().unwrap(), "succeeded").await;
    let emitted = step(&first, "announce")["output"]["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(step(&first, "announce")["output"]["runs"], 1);
    let second = runs_of(&app, &emitted).await;
    let second = run_ends(&app, second[0]["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(second["flow"], "fulfil");
    assert_eq!(step(&second, "ship")["output"]["deliveries"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.received("/warehouse").len(),
        1,
        "the endpoint's own subscription did not match"
    );
}

async fn http_steps_retry_with_one_idempotency_key_and_runs_retry_from_the_failed_step(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/first", vec![Reply::Json(200, json!({"n": 1}))]);
    rx.script(
        "/flaky",
        vec![
            Reply::Status(503, vec![]),
            Reply::Status(429, vec![("retry-after", "1".into())]),
            Reply::Json(200, json!({"ok": true})),
        ],
    );
    rx.script(
        "/strict",
        vec![
            Reply::Json(400, json!({"error": "bad"})),
            Reply::Json(201, json!({"ok": 2})),
        ],
    );
    destination(&app, json!({"name": "api", "base_url": rx.url("")})).await;
    flow(
        &app,
        json!({"name": "calls", "trigger": {"manual": true}, "steps": [
            {"id": "first", "http": {"destination": "api", "path": "/first", "body": ".payload"}},
            {"id": "flaky", "http": {"destination": "api", "path": "/flaky", "body": "{}"},
             "retry": {"schedule_seconds": [0, 0, 0, 0], "max_age_seconds": 60}},
            {"id": "strict", "http": {"destination": "api", "path": "/strict", "body": "{n: .steps.first.output.body.n}"}},
        ]}),
    )
    .await;
    let resp = app
        .api_post("/v1/flows/calls/runs", &json!({"payload": {"a": 1}}))
        .await;
    assert_eq!(resp.status(), 202);
    let run_id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let failed = run_ends(&app, &run_id, "failed").await;
    assert_eq!(failed["failed_step"], "strict");
    assert_eq!(failed["error"]["class"], "http_400");
    let flaky = rx.received("/flaky");
    assert_eq!(flaky.len(), 3);
    let key = &flaky[0].headers["idempotency-key"];
    assert!(
        flaky.iter().all(|r| &r.headers["idempotency-key"] == key),
        "one key for every attempt"
    );
    assert_eq!(step(&failed, "flaky")["attempts"], 3);
    assert_eq!(step(&failed, "strict")["status"], "failed");
    assert_eq!(step(&failed, "strict")["attempts"], 1, "a 400 is not retried");

    // Retry resumes at the failed step: the completed ones are not called again.
    let strict_key = rx.received("/strict")[0].headers["idempotency-key"].clone();
    let retried = app.api_post(&format!("/v1/runs/{run_id}/retry"), &json!({})).await;
    assert_eq!(retried.status(), 202);
    let done = run_ends(&app, &run_id, "succeeded").await;
    assert_eq!(step(&done, "strict")["output"]["body"], json!({"ok": 2}));
    assert_eq!(rx.received("/first").len(), 1);
    assert_eq!(rx.received("/flaky").len(), 3);
    let strict = rx.received("/strict");
    assert_eq!(strict.len(), 2);
    assert_eq!(
        strict[1].headers["idempotency-key"], strict_key,
        "the same key on a retry of the run"
    );
    assert_ne!(strict_key, *key, "each step has its own key");
    assert_eq!(
        serde_json::from_slice::<Value>(&strict[1].body).unwrap(),
        json!({"n": 1})
    );
    let again = app.api_post(&format!("/v1/runs/{run_id}/retry"), &json!({})).await;
    assert_envelope(again, 409, "run_not_retryable").await;

    // A destination changed on this node is called with its new definition at once (the
    // opened-destination cache is cleared by the change).
    let patched = app
        .api_patch("/v1/destinations/api", &json!({"headers": {"X-Version": "2"}}))
        .await;
    assert_eq!(patched.status(), 200);
    let resp = app
        .api_post("/v1/flows/calls/runs", &json!({"payload": {"n": 2}}))
        .await;
    let second = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    run_ends(&app, &second, "succeeded").await;
    let calls = rx.received("/first");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].headers.get("x-version").map(String::as_str), Some("2"));
    assert!(!calls[0].headers.contains_key("x-version"));
}

async fn branch_foreach_delay_and_validate_steps(app: TestApp) {
    let rx = Receiver::start().await;
    destination(&app, json!({"name": "api", "base_url": rx.url("")})).await;
    flow(
        &app,
        json!({"name": "shapes", "trigger": {"manual": true}, "steps": [
            {"id": "check", "validate": {"value": ".payload", "schema": {"type": "object", "required": ["items"]}}},
            {"id": "route", "branch": [
                {"when": ".payload.vip == true", "steps": [{"id": "vip", "map": "\"gold\""}]},
                {"else": true, "steps": [{"id": "plain", "map": "\"standard\""}]}
            ]},
            {"id": "each", "foreach": {"items": ".payload.items", "concurrency": 2, "steps": [
                {"id": "send", "http": {"destination": "api", "path": "/item", "query": {"i": ".index | tostring"}, "body": "{sku: .item}"}}
            ]}},
            {"id": "pause", "delay": {"seconds": 1}},
            {"id": "after", "map": "{tier: (.steps.vip.output // .steps.plain.output), sent: (.steps.each.output | length)}"}
        ]}),
    )
    .await;
    let resp = app
        .api_post(
            "/v1/flows/shapes/runs",
            &json!({"payload": {"vip": true, "items": ["a", "b", "c"]}}),
        )
        .await;
    let run_id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let done = run_ends(&app, &run_id, "succeeded").await;
    assert_eq!(step(&done, "after")["output"], json!({"tier": "gold", "sent": 3}));
    assert_eq!(step(&done, "route")["output"]["arm"], 0);
    assert_eq!(step(&done, "each/1/send")["output"]["status"], 200);
    let items = rx.received("/item");
    assert_eq!(items.len(), 3);
    let keys: std::collections::HashSet<_> = items.iter().map(|r| r.headers["idempotency-key"].clone()).collect();
    assert_eq!(keys.len(), 3, "each foreach item has its own idempotency key");
    let mut targets: Vec<_> = items.iter().map(|r| r.target.clone()).collect();
    targets.sort();
    assert_eq!(targets, ["/item?i=0", "/item?i=1", "/item?i=2"]);
    let pause = step(&done, "pause");
    assert!(pause["output"]["until"].is_string());

    // A payload the schema refuses fails its step, naming it.
    let resp = app
        .api_post("/v1/flows/shapes/runs", &json!({"payload": {"vip": false}}))
        .await;
    let bad = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let failed = run_ends(&app, &bad, "failed").await;
    assert_eq!(failed["failed_step"], "check");
    assert_eq!(failed["error"]["class"], "validation_failed");
    assert!(failed["error"]["message"].as_str().unwrap().contains("step check"));
}

async fn manual_runs_and_the_runs_api(app: TestApp) {
    flow(
        &app,
        json!({"name": "m", "trigger": {"manual": true}, "steps": [{"id": "x", "map": ".payload.n * 2"}]}),
    )
    .await;
    flow(&app, json!({"name": "broken", "trigger": {"manual": true}, "steps": [{"id": "x", "map": ".payload.n | error(\"boom\")"}]}))
        .await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let resp = app.api_post("/v1/flows/m/runs", &json!({"payload": {"n": n}})).await;
        assert_eq!(resp.status(), 202);
        let v: Value = resp.json().await.unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("run_"));
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    for (n, id) in ids.iter().enumerate() {
        let run = run_ends(&app, id, "succeeded").await;
        assert_eq!(step(&run, "x")["output"], json!(n * 2));
        assert!(run["finished_at"].is_string());
    }
    let resp = app
        .api_post("/v1/flows/broken/runs", &json!({"payload": {"n": 1}}))
        .await;
    let broken = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let failed = run_ends(&app, &broken, "failed").await;
    assert_eq!(failed["error"]["class"], "jq_failed");
    assert!(
        failed["error"]["message"].as_str().unwrap().contains("step x"),
        "{failed}"
    );

    let page = get(&app, "/v1/runs?flow=m&limit=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = get(&app, &format!("/v1/runs?flow=m&limit=2&cursor={next}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    let failed_only = get(&app, "/v1/runs?status=failed").await;
    assert_eq!(failed_only["data"].as_array().unwrap().len(), 1);
    assert_envelope(app.api_get("/v1/runs?status=nope").await, 400, "invalid_parameter").await;
    assert_envelope(app.api_get("/v1/runs/run_nope").await, 404, "not_found").await;
    assert_envelope(app.api_post("/v1/flows/ghost/runs", &json!({})).await, 404, "not_found").await;
    assert_envelope(
        app.api_post("/v1/flows/m/runs", &json!({"data": 1})).await,
        422,
        "validation_failed",
    )
    .await;
}
