//! Alerts (SPEC §5) on SQLite and PostgreSQL, against local receivers that speak each channel's
//! format: a rule notifies once when it starts to hold and once when it stops, through the job
//! runner with retries and an attempt log; a cooldown holds a repeat back; a state change is
//! applied once however often it is tried; channel URLs never show. Each rule kind is driven by
//! the real condition (a failing endpoint, a 410, a 401 streak, bad signatures, quarantine).

#[path = "alerts/kinds.rs"]
mod kinds;
#[path = "alerts/mail.rs"]
mod mail;

use serde_json::{Value, json};
use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope, eventually};
use switchyard_testkit::backend_tests;
use switchyard_testkit::receiver::{Receiver, Reply, ok};

backend_tests!(
    a_rule_fires_once_resolves_once_with_retries_and_an_attempt_log,
    a_cooldown_holds_back_a_repeat,
    alert_definitions_are_validated_scoped_and_masked
);

pub(crate) async fn ok_json(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

pub(crate) async fn alert(app: &TestApp, id: &str) -> Value {
    ok_json(app.api_get(&format!("/v1/alerts/{id}")).await).await
}

pub(crate) async fn notifications(app: &TestApp, id: &str) -> Vec<Value> {
    ok_json(app.api_get(&format!("/v1/alerts/{id}/notifications")).await).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// A source whose schema wants an integer `amount`, and one event it quarantines.
pub(crate) async fn quarantine_one(app: &TestApp) -> String {
    let schema = json!({"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}});
    if app.api_get("/v1/sources/pay").await.status() == 404 {
        app.create_source(json!({"name": "pay", "schema": schema})).await;
    }
    // A payload of its own: a repeat would be a duplicate, not a new event.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let q: Value = app
        .send("pay", &json!({"amount": "5.00", "nonce": nonce}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["status"], "quarantined");
    q["id"].as_str().unwrap().to_string()
}

/// Relaxes the schema and releases the event: quarantine is empty again.
async fn release(app: &TestApp, id: &str) {
    ok_json(
        app.api_patch("/v1/sources/pay", &json!({"schema": {"type": "object"}}))
            .await,
    )
    .await;
    ok_json(app.api_post(&format!("/v1/events/{id}/release"), &json!({})).await).await;
}

fn body(r: &switchyard_testkit::receiver::Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

async fn a_rule_fires_once_resolves_once_with_retries_and_an_attempt_log(app: TestApp) {
    let rx = Receiver::start().await;
    // The first try fails; the retry (1 s later in tests) goes through.
    rx.script("/hooks/T0KEN_SECRET", vec![Reply::Status(500, vec![]), ok()]);
    let created = ok_json(
        app.api_post(
            "/v1/alerts",
            &json!({"name": "quarantine", "rule": {"kind": "quarantined"},
                    "channel": {"kind": "webhook", "url": rx.url("/hooks/T0KEN_SECRET")}, "cooldown_seconds": 0}),
        )
        .await,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("alr_"));
    assert_eq!(created["state"], "ok");
    assert_eq!(created["channel"], json!({"kind": "webhook", "url": "********"}));

    let event_id = quarantine_one(&app).await;
    let got = rx
        .wait_for("/hooks/T0KEN_SECRET", 2, std::time::Duration::from_secs(30))
        .await;
    let (first, retry) = (body(&got[0]), body(&got[1]));
    assert_eq!(first, retry, "a retry sends the same notification");
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(first["type"], "alert.firing");
    assert_eq!(first["state"], "firing");
    assert_eq!(first["alert"]["name"], "quarantine");
    assert_eq!(first["what"], "1 event waits in quarantine for review");
    assert_eq!(first["where"][0]["kind"], "quarantine");
    assert_eq!(first["dashboard_url"], format!("{}/#/quarantine", app.base));
    assert!(first["since"].as_str().unwrap().ends_with('Z'));
    let shown = alert(&app, &id).await;
    assert_eq!(shown["state"], "firing");
    assert_eq!(shown["detail"]["what"], first["what"]);

    eventually("the notification is recorded as sent", || async {
        notifications(&app, &id)
            .await
            .first()
            .is_some_and(|n| n["status"] == "succeeded")
    })
    .await;
    let sent = &notifications(&app, &id).await[0];
    assert_eq!(sent["attempts"], 2);
    let log: Vec<Value> = sent["attempt_log"].as_array().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["status_code"], 500);
    assert_eq!(log[0]["error_class"], "http_500");
    assert_eq!(log[1]["status_code"], 200);

    release(&app, &event_id).await;
    let got = rx
        .wait_for("/hooks/T0KEN_SECRET", 3, std::time::Duration::from_secs(30))
        .await;
    let resolved = body(&got[2]);
    assert_eq!(resolved["type"], "alert.resolved");
    assert_eq!(
        resolved["since"], first["since"],
        "the resolution says since when it had fired"
    );
    assert!(resolved["resolved_at"].is_string());
    assert!(
        resolved["what"]
            .as_str()
            .unwrap()
            .starts_with("no longer holds: 1 event waits")
    );
    assert_eq!(resolved["where"][0]["kind"], "quarantine");
    eventually("the rule is ok again", || async {
        alert(&app, &id).await["state"] == "ok"
    })
    .await;
    // Rounds go on; nothing more is announced while nothing changes.
    let states: Vec<Value> = notifications(&app, &id)
        .await
        .iter()
        .map(|n| n["state"].clone())
        .collect();
    assert_eq!(states, vec![json!("resolved"), json!("firing")]);

    // The channel URL (its token) is in no view and no audit entry.
    let audit = app
        .api_get(&format!("/v1/audit?resource_id={id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("\"create\""), "{audit}");
    let listed = app.api_get("/v1/alerts").await.text().await.unwrap();
    for text in [&audit, &listed] {
        assert!(!text.contains("T0KEN_SECRET"), "{text}");
    }

    // Two evaluators that read the same state: one change applies, the other finds it moved.
    let row = app.store.get_alert(&id).await.unwrap().unwrap();
    let t = switchyard_store::AlertTransition {
        alert_id: id.clone(),
        from_state: row.state.clone(),
        from_notified: row.notified_state.clone(),
        to_state: "firing".into(),
        since: Some(1),
        detail: None,
        notification: None,
        now: 2,
    };
    let (a, b) = tokio::join!(app.store.transition_alert(&t), app.store.transition_alert(&t));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one of two identical changes applies");
}

async fn a_cooldown_holds_back_a_repeat(app: TestApp) {
    let rx = Receiver::start().await;
    let id = ok_json(
        app.api_post(
            "/v1/alerts",
            &json!({"name": "quiet", "rule": {"kind": "quarantined"},
                    "channel": {"kind": "webhook", "url": rx.url("/quiet")}, "cooldown_seconds": 3600}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = quarantine_one(&app).await;
    rx.wait_for("/quiet", 1, std::time::Duration::from_secs(30)).await;
    release(&app, &first).await;
    rx.wait_for("/quiet", 2, std::time::Duration::from_secs(30)).await;
    eventually("resolved", || async { alert(&app, &id).await["state"] == "ok" }).await;
    // It holds again within the cooldown: the state shows it, no one is notified.
    ok_json(
        app.api_patch(
            "/v1/sources/pay",
            &json!({"schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}}}),
        )
        .await,
    )
    .await;
    quarantine_one(&app).await;
    eventually("firing again", || async { alert(&app, &id).await["state"] == "firing" }).await;
    assert_eq!(
        notifications(&app, &id).await.len(),
        2,
        "the cooldown held the repeat back"
    );
    assert_eq!(rx.received("/quiet").len(), 2);
}

async fn alert_definitions_are_validated_scoped_and_masked(app: TestApp) {
    let bad = app
        .api_post(
            "/v1/alerts",
            &json!({"name": "Bad Name", "rule": {"kind": "failure_ratio", "threshold": 2},
                    "channel": {"kind": "email", "to": []}}),
        )
        .await;
    let err = assert_envelope(bad, 422, "validation_failed").await;
    let fields: Vec<&str> = err["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "rule.threshold", "channel.to"]);
    let unknown = app
        .api_post(
            "/v1/alerts",
            &json!({"name": "x", "rule": {"kind": "sunspots"}, "channel": {"kind": "email", "to": ["a@b.c"]}}),
        )
        .await;
    assert_envelope(unknown, 422, "validation_failed").await;

    let slack = json!({"name": "ops", "rule": {"kind": "signature_failures", "count": 5, "window_seconds": 60},
                       "channel": {"kind": "slack", "url": "https://hooks.slack.example/services/T/B/SLACKTOKEN"}});
    let created = ok_json(app.api_post("/v1/alerts", &slack).await).await;
    assert_eq!(created["cooldown_seconds"], 300);
    assert_envelope(app.api_post("/v1/alerts", &slack).await, 409, "alert_name_taken").await;

    // A view sent back (masked URL and all) keeps the stored URL; a new URL replaces it.
    let mut echoed = created.clone();
    echoed["cooldown_seconds"] = json!(60);
    let updated = ok_json(app.api_patch("/v1/alerts/ops", &echoed).await).await;
    assert_eq!(updated["cooldown_seconds"], 60);
    let row = app.store.get_alert("ops").await.unwrap().unwrap();
    assert!(
        !row.definition.contains("SLACKTOKEN"),
        "the stored definition is masked"
    );
    assert!(
        !String::from_utf8_lossy(&row.sealed).contains("SLACKTOKEN"),
        "the channel is sealed"
    );

    // Scopes: read lists, only write changes.
    let read = app.create_key("read").await;
    let list = app
        .http
        .get(app.url("/v1/alerts"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["data"][0]["name"], "ops");
    assert_eq!(list["data"][0]["state"], "ok");
    assert!(list["next_cursor"].is_null());
    let denied = app
        .http
        .post(app.url("/v1/alerts"))
        .bearer_auth(&read)
        .json(&slack)
        .send()
        .await
        .unwrap();
    assert_envelope(denied, 403, "insufficient_scope").await;
    let del = app
        .http
        .delete(app.url("/v1/alerts/ops"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_envelope(app.api_get("/v1/alerts/ops").await, 404, "not_found").await;
}
