//! `dedup.key`: a jq expression over `{headers, body}` names a delivery; hostile expressions are
//! refused as configuration, and one that fails at run time falls back to the body hash.

use serde_json::{Value, json};

use switchyard_testkit::app::{TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(custom_dedup_key_decides_what_is_a_duplicate);

async fn custom_dedup_key_decides_what_is_a_duplicate(app: TestApp) {
    for hostile in [
        "def f: 1 + f; f",
        "last(range(1e12))",
        "$ENV.SWITCHYARD_MASTER_KEY",
        ".a |",
    ] {
        let resp = app
            .api_post("/v1/sources", &json!({"name": "bad", "dedup": {"key": hostile}}))
            .await;
        let err = assert_envelope(resp, 422, "validation_failed").await;
        assert_eq!(err["details"]["fields"][0]["field"], "dedup.key", "{hostile}");
    }
    let key = r#""\(.headers["x-shop"]):\(.body.order.id)""#;
    app.create_source(json!({"name": "orders", "dedup": {"key": key}}))
        .await;
    let send = |shop: &'static str, body: Value| {
        app.http
            .post(app.url("/in/orders"))
            .header("x-shop", shop)
            .json(&body)
            .send()
    };
    let first: Value = send("a", json!({"order": {"id": 1}, "attempt": 1}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "received");
    // Another body, same key: a duplicate naming the first event.
    let again = send("a", json!({"order": {"id": 1}, "attempt": 2})).await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["status"].as_str(), &again["id"]),
        (Some("duplicate"), &first["id"])
    );
    // The header is part of the key.
    let other: Value = send("b", json!({"order": {"id": 1}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(other["status"], "received");
    // An operator finds an event by its dedup key, with or without naming the source.
    for query in ["/v1/events?dedup_key=a:1", "/v1/events?dedup_key=a:1&source=orders"] {
        let found: Value = app.api_get(query).await.json().await.unwrap();
        let ids: Vec<&Value> = found["data"].as_array().unwrap().iter().map(|e| &e["id"]).collect();
        assert_eq!(ids, [&first["id"]], "{query}: {found}");
        assert!(found["next_cursor"].is_null());
    }
    let none: Value = app.api_get("/v1/events?dedup_key=a:2").await.json().await.unwrap();
    assert_eq!(none["data"], json!([]));

    // An expression that yields null falls back to the body hash: identical bodies collapse,
    // different ones do not, and nothing is refused.
    app.create_source(json!({"name": "loose", "dedup": {"key": ".body.missing"}}))
        .await;
    let post = |body: Value| app.http.post(app.url("/in/loose")).json(&body).send();
    let a: Value = post(json!({"n": 1})).await.unwrap().json().await.unwrap();
    let b: Value = post(json!({"n": 1})).await.unwrap().json().await.unwrap();
    let c: Value = post(json!({"n": 2})).await.unwrap().json().await.unwrap();
    assert_eq!(
        (a["status"].as_str(), b["status"].as_str(), c["status"].as_str()),
        (Some("received"), Some("duplicate"), Some("received"))
    );
}
