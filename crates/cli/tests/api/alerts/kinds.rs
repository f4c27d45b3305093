//! Each rule kind fires on the real condition it watches: a failing endpoint's ratio (to a
//! Slack-compatible webhook), an endpoint Switchyard disabled (410), a 401 streak, a burst of
//! bad signatures, an open circuit (ten failures in a row), a job waiting past its due time (a
//! receiver that never answers). The overview's rates count the same outcomes.

use serde_json::{Value, json};
use switchyard_testkit::app::TestApp;
use switchyard_testkit::backend_tests;
use switchyard_testkit::fakes::FakeProviders;
use switchyard_testkit::receiver::{Receiver, Reply};

use super::ok_json;

backend_tests!(each_rule_kind_fires_on_its_condition);

const WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

async fn each_rule_kind_fires_on_its_condition(app: TestApp) {
    let rx = Receiver::start().await;
    let fakes = FakeProviders::start().await;
    rx.script("/fail", vec![Reply::Status(500, vec![])]);
    rx.script("/gone", vec![Reply::Status(410, vec![])]);
    rx.script("/denied", vec![Reply::Status(401, vec![])]);
    rx.script("/broken", vec![Reply::Status(503, vec![])]);
    rx.script("/stuck", vec![Reply::Hang]);
    for (name, path, kind) in [
        ("billing", "/fail", "order.fail"),
        ("gone", "/gone", "order.gone"),
        ("denied", "/denied", "order.denied"),
        ("broken", "/broken", "order.broken"),
        ("stuck", "/stuck", "order.stuck"),
    ] {
        ok_json(
            app.api_post(
                "/v1/endpoints",
                &json!({"name": name, "url": rx.url(path), "event_types": [kind], "retry_schedule_seconds": [0]}),
            )
            .await,
        )
        .await;
    }
    app.create_source(json!({"name": "gh", "verify": {"scheme": "token", "secrets": ["tok_gh_0123456789"]}}))
        .await;
    let rules = [
        json!({"name": "ratio", "rule": {"kind": "failure_ratio", "scope": {"endpoint": "billing"}, "threshold": 0.5, "window_seconds": 60, "min_count": 3},
               "channel": {"kind": "slack", "url": fakes.slack_url()}}),
        json!({"name": "disabled", "rule": {"kind": "endpoint_disabled"}, "channel": {"kind": "webhook", "url": rx.url("/n/disabled")}}),
        json!({"name": "creds", "rule": {"kind": "credentials_rejected"}, "channel": {"kind": "webhook", "url": rx.url("/n/creds")}}),
        json!({"name": "sigs", "rule": {"kind": "signature_failures", "count": 3, "window_seconds": 60}, "channel": {"kind": "webhook", "url": rx.url("/n/sigs")}}),
        json!({"name": "circuit", "rule": {"kind": "circuit_open"}, "channel": {"kind": "webhook", "url": rx.url("/n/circuit")}}),
        json!({"name": "late", "rule": {"kind": "queue_age", "seconds": 1}, "channel": {"kind": "webhook", "url": rx.url("/n/late")}}),
    ];
    for r in &rules {
        ok_json(app.api_post("/v1/alerts", r).await).await;
    }
    for kind in [
        "order.fail",
        "order.fail",
        "order.fail",
        "order.gone",
        "order.denied",
        "order.denied",
        "order.denied",
    ] {
        ok_json(
            app.api_post("/v1/events", &json!({"type": kind, "payload": {"n": 1}}))
                .await,
        )
        .await;
    }
    for _ in 0..10 {
        ok_json(
            app.api_post("/v1/events", &json!({"type": "order.broken", "payload": {}}))
                .await,
        )
        .await;
    }
    ok_json(
        app.api_post("/v1/events", &json!({"type": "order.stuck", "payload": {}}))
            .await,
    )
    .await;
    for _ in 0..3 {
        assert_eq!(app.send("gh", &json!({"unsigned": true})).await.status(), 401);
    }

    let disabled = rx.wait_for("/n/disabled", 1, WITHIN).await;
    let disabled: Value = serde_json::from_slice(&disabled[0].body).unwrap();
    assert_eq!(disabled["where"][0]["name"], "gone");
    assert!(disabled["what"].as_str().unwrap().contains("410"), "{disabled}");

    let creds = rx.wait_for("/n/creds", 1, WITHIN).await;
    let creds: Value = serde_json::from_slice(&creds[0].body).unwrap();
    assert_eq!(
        creds["where"].as_array().unwrap().len(),
        1,
        "only the endpoint that answers 401: {creds}"
    );
    assert_eq!(creds["where"][0]["name"], "denied");
    assert!(creds["what"].as_str().unwrap().contains("401/403"), "{creds}");

    let sigs = rx.wait_for("/n/sigs", 1, WITHIN).await;
    let sigs: Value = serde_json::from_slice(&sigs[0].body).unwrap();
    assert_eq!(sigs["where"][0], json!({"kind": "source", "id": "gh", "name": "gh"}));
    assert!(
        sigs["what"]
            .as_str()
            .unwrap()
            .starts_with("3 requests failed signature verification"),
        "{sigs}"
    );

    let circuit = rx.wait_for("/n/circuit", 1, WITHIN).await;
    let circuit: Value = serde_json::from_slice(&circuit[0].body).unwrap();
    assert_eq!(circuit["where"][0]["name"], "broken", "{circuit}");
    assert_eq!(circuit["what"], "the circuit of endpoint broken is open");
    // The stuck delivery's job stays due (and leased) while its attempt hangs.
    let late = rx.wait_for("/n/late", 1, WITHIN).await;
    let late: Value = serde_json::from_slice(&late[0].body).unwrap();
    assert_eq!(
        late["where"][0],
        json!({"kind": "queue", "id": "delivery", "name": "delivery"}),
        "{late}"
    );
    assert!(
        late["what"]
            .as_str()
            .unwrap()
            .starts_with("the oldest delivery job has waited"),
        "{late}"
    );

    switchyard_testkit::app::eventually("the ratio alert reaches Slack", || async {
        !fakes.slack_messages().is_empty()
    })
    .await;
    let text = fakes.slack_messages()[0]["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("[FIRING] ratio: failure ratio 100% (3 of 3) at or above 50% over 60 s for endpoint billing"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<{}/#/endpoints|Open in Switchyard>", app.base)),
        "{text}"
    );

    // The overview counts the same outcomes.
    let stats = ok_json(app.api_get("/v1/stats?bucket_seconds=60").await).await;
    assert_eq!(stats["buckets"].as_array().unwrap().len(), 60);
    let sum = |field: &str| {
        stats["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[field].as_i64().unwrap())
            .sum::<i64>()
    };
    assert!(sum("deliveries_failed") >= 17, "{stats}");
    assert_eq!(sum("rejected"), 3, "{stats}");
    let kinds: Vec<&str> = stats["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delivery", "run", "notification"]);
    let bad = app.api_get("/v1/stats?bucket_seconds=7").await;
    switchyard_testkit::app::assert_envelope(bad, 400, "invalid_parameter").await;
}
