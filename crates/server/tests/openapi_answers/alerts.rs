//! Alerts, stats, whoami and the dashboard's files answer as the document says, a firing rule
//! and its sent notification included.

use serde_json::{Value, json};
use switchyard_testkit::app::{Backend, TestApp, eventually};
use switchyard_testkit::receiver::Receiver;

use super::{call, conforms};

#[tokio::test]
async fn alert_answers_match_the_document() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite app");
    let doc: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rx = Receiver::start().await;
    let rule = json!({"name": "q", "rule": {"kind": "quarantined"}, "cooldown_seconds": 0,
                      "channel": {"kind": "webhook", "url": rx.url("/alerts")}});
    let (s, created) = call(&app, &doc, "post", "/v1/alerts", "/v1/alerts", Some(rule.clone())).await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, &doc, "post", "/v1/alerts", "/v1/alerts", Some(rule)).await.0,
        409
    );
    let bad = json!({"name": "x", "rule": {"kind": "queue_age", "seconds": 0}, "channel": {"kind": "email", "to": []}});
    assert_eq!(
        call(&app, &doc, "post", "/v1/alerts", "/v1/alerts", Some(bad)).await.0,
        422
    );
    let ratio = json!({"name": "ratio", "rule": {"kind": "failure_ratio", "scope": {"endpoint": "billing"}, "threshold": 0.5},
                       "channel": {"kind": "slack", "url": "https://hooks.example.com/T/B/x"}});
    assert_eq!(
        call(&app, &doc, "post", "/v1/alerts", "/v1/alerts", Some(ratio))
            .await
            .0,
        201
    );

    // A quarantined event makes the rule fire and notify.
    app.create_source(json!({"name": "pay", "schema": {"type": "object", "required": ["amount"]}}))
        .await;
    app.send("pay", &json!({"no": "amount"})).await;
    rx.wait_for("/alerts", 1, std::time::Duration::from_secs(30)).await;
    let path = format!("/v1/alerts/{id}/notifications");
    eventually("the notification is recorded", || async {
        let v: Value = app.api_get(&path).await.json().await.unwrap();
        v["data"][0]["status"] == "succeeded"
    })
    .await;
    call(&app, &doc, "get", "/v1/alerts/{id}/notifications", &path, None).await;
    call(&app, &doc, "get", "/v1/alerts", "/v1/alerts", None).await;
    let (_, shown) = call(&app, &doc, "get", "/v1/alerts/{id}", &format!("/v1/alerts/{id}"), None).await;
    assert_eq!(shown["state"], "firing");
    let (s, _) = call(
        &app,
        &doc,
        "patch",
        "/v1/alerts/{id}",
        "/v1/alerts/q",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        call(&app, &doc, "get", "/v1/alerts/{id}", "/v1/alerts/nope", None)
            .await
            .0,
        404
    );
    call(&app, &doc, "get", "/v1/stats", "/v1/stats?bucket_seconds=300", None).await;
    assert_eq!(
        call(&app, &doc, "get", "/v1/stats", "/v1/stats?bucket_seconds=7", None)
            .await
            .0,
        400
    );
    call(&app, &doc, "get", "/v1/whoami", "/v1/whoami", None).await;
    let missing = app.http.get(app.url("/js/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    conforms(&doc, "get", "/js/{file}", 404, &missing.json().await.unwrap());
    for file in ["/", "/app.css", "/js/app.js"] {
        assert_eq!(
            app.http.get(app.url(file)).send().await.unwrap().status(),
            200,
            "{file}"
        );
    }
    assert_eq!(
        call(&app, &doc, "delete", "/v1/alerts/{id}", "/v1/alerts/q", None)
            .await
            .0,
        204
    );
    app.stop().await;
}
