//! JSON Schema validation: failing payloads are stored as `quarantined` (202, nothing lost), listed,
//! and released exactly once after the schema is fixed — one by one or in bulk.

use serde_json::{Value, json};

use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(quarantine_then_fix_schema_then_release_once);

async fn release(app: &TestApp, id: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/events/{id}/release")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
}

async fn quarantine_then_fix_schema_then_release_once(app: TestApp) {
    let bad = app
        .api_post("/v1/sources", &json!({"name": "x", "schema": {"type": "nonsense"}}))
        .await;
    let err = assert_envelope(bad, 422, "validation_failed").await;
    assert_eq!(err["details"]["fields"][0]["field"], "schema");

    let schema = json!({"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}});
    app.create_source(json!({"name": "pay", "schema": schema})).await;
    let ok = app.send("pay", &json!({"amount": 5})).await;
    assert_eq!(ok.json::<Value>().await.unwrap()["status"], "received");
    let q = app.send("pay", &json!({"amount": "5.00"})).await;
    assert_eq!(q.status(), 202, "still 2xx so the provider stops retrying");
    let q: Value = q.json().await.unwrap();
    assert_eq!(q["status"], "quarantined");
    let id = q["id"].as_str().unwrap().to_string();

    let listed: Value = app.api_get("/v1/events?status=quarantined").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let shown: Value = app.api_get(&format!("/v1/events/{id}")).await.json().await.unwrap();
    assert_eq!(shown["status"], "quarantined");
    assert!(
        shown["validation_errors"][0].as_str().unwrap().starts_with("/amount:"),
        "{shown}"
    );
    assert_eq!(
        shown["payload"],
        json!({"amount": "5.00"}),
        "the payload is kept as sent"
    );

    let still = release(&app, &id).await;
    let err = assert_envelope(still, 422, "still_invalid").await;
    assert!(err["details"]["validation_errors"].is_array());

    // Fix the schema, then release concurrently: exactly one release wins.
    let fixed = json!({"schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": ["integer", "string"]}}}});
    let resp = app
        .http
        .patch(app.url("/v1/sources/pay"))
        .bearer_auth(ADMIN_KEY)
        .json(&fixed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let results = futures::future::join_all((0..5).map(|_| release(&app, &id))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let shown: Value = app.api_get(&format!("/v1/events/{id}")).await.json().await.unwrap();
    assert_eq!(shown["status"], "received");
    assert!(shown["validation_errors"].is_null());

    // Bulk: tighten the schema, quarantine three, relax it, release the source's backlog.
    let strict = json!({"schema": {"type": "object", "required": ["amount", "currency"]}});
    app.http
        .patch(app.url("/v1/sources/pay"))
        .bearer_auth(ADMIN_KEY)
        .json(&strict)
        .send()
        .await
        .unwrap();
    for i in 0..3 {
        let r: Value = app.send("pay", &json!({"amount": i})).await.json().await.unwrap();
        assert_eq!(r["status"], "quarantined");
    }
    app.http
        .patch(app.url("/v1/sources/pay"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"schema": null}))
        .send()
        .await
        .unwrap();
    let bulk: Value = app
        .api_post("/v1/events/release", &json!({"source": "pay"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bulk["released"].as_array().unwrap().len(), 3, "{bulk}");
    assert!(bulk["still_invalid"].as_array().unwrap().is_empty());
    let left: Value = app.api_get("/v1/events?status=quarantined").await.json().await.unwrap();
    assert!(left["data"].as_array().unwrap().is_empty());
    assert_envelope(release(&app, &id).await, 409, "not_quarantined").await;
    app.stop().await;
}
