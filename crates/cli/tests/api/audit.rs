//! The audit log (SPEC §4) on SQLite and PostgreSQL: every change through the API leaves an
//! entry with the key that made it, the action and a diff of the definition — and no secret
//! value, whatever the change touched (a destination's token, an endpoint's signing secret, a
//! source's secrets, a new API key). `GET /v1/audit` is admin-only, newest first, filterable.

use serde_json::{Value, json};
use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(every_change_is_audited_with_its_key_and_no_secret);

const TOKEN: &str = "tok_AUDIT_SECRET_1";
const NEW_TOKEN: &str = "tok_AUDIT_SECRET_2";
const SOURCE_SECRET: &str = "src_AUDIT_SECRET_3";
const ENDPOINT_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let page = ok(app.api_get(&format!("/v1/audit{query}")).await).await;
    page["data"].as_array().unwrap().clone()
}

async fn every_change_is_audited_with_its_key_and_no_secret(app: TestApp) {
    let dst = ok(app
        .api_post(
            "/v1/destinations",
            &json!({"name": "crm", "base_url": "https://crm.example.com", "auth": {"kind": "bearer", "token": TOKEN}}),
        )
        .await)
    .await;
    let dst_id = dst["id"].as_str().unwrap().to_string();
    ok(app
        .api_patch(
            "/v1/destinations/crm",
            &json!({"base_url": "https://crm2.example.com", "auth": {"kind": "bearer", "token": NEW_TOKEN}}),
        )
        .await)
    .await;
    let ep = ok(app
        .api_post(
            "/v1/endpoints",
            &json!({"url": "https://hooks.example.com/a", "secret": ENDPOINT_SECRET}),
        )
        .await)
    .await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    ok(app
        .api_post(&format!("/v1/endpoints/{ep_id}/disable"), &json!({}))
        .await)
    .await;
    ok(app
        .api_post(&format!("/v1/endpoints/{ep_id}/secret/rotate"), &json!({}))
        .await)
    .await;
    // A change made with another key names that key.
    let made = ok(app.api_post("/v1/keys", &json!({"scope": "write", "name": "ci"})).await).await;
    let (writer_id, writer) = (made["id"].as_str().unwrap(), made["key"].as_str().unwrap());
    let source = app
        .http
        .post(app.url("/v1/sources"))
        .bearer_auth(writer)
        .json(&json!({"name": "billing", "verify": {"scheme": "token", "secrets": [SOURCE_SECRET]}}))
        .send()
        .await
        .unwrap();
    let source = ok(source).await;
    assert_eq!(
        app.api_delete(&format!("/v1/destinations/{dst_id}")).await.status(),
        204
    );

    let entries = audit(&app, "?limit=100").await;
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [TOKEN, NEW_TOKEN, SOURCE_SECRET, ENDPOINT_SECRET, writer] {
        assert!(!text.contains(secret), "a secret in the audit log: {text}");
    }
    let of = |action: &str, resource_id: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["resource_id"] == resource_id)
            .unwrap_or_else(|| panic!("no {action} of {resource_id} in {text}"))
            .clone()
    };
    let updated = of("update", &dst_id);
    assert_eq!(updated["resource"], "destination");
    assert_eq!(
        updated["changes"]["base_url"],
        json!({"from": "https://crm.example.com/", "to": "https://crm2.example.com/"})
    );
    assert!(updated["key_id"].as_str().unwrap().starts_with("key_"));
    assert!(updated["id"].as_str().unwrap().starts_with("aud_") && updated["at"].is_string());
    assert_eq!(
        of("create", &dst_id)["changes"]["name"],
        json!({"from": null, "to": "crm"})
    );
    assert_eq!(
        of("delete", &dst_id)["changes"]["name"],
        json!({"from": "crm", "to": null})
    );
    assert_eq!(
        of("disable", &ep_id)["changes"]["enabled"],
        json!({"from": true, "to": false})
    );
    of("rotate", &ep_id);
    let created = of("create", source["id"].as_str().unwrap());
    assert_eq!(created["key_id"], writer_id, "the key that made the change");
    of("create", writer_id);
    // Newest first, a page at a time, and by resource.
    assert_eq!(entries[0]["action"], "delete");
    let first = ok(app.api_get("/v1/audit?limit=2").await).await;
    let next = first["next_cursor"].as_str().unwrap();
    let second = ok(app.api_get(&format!("/v1/audit?limit=2&cursor={next}")).await).await;
    assert_eq!(second["data"][0]["id"], entries[2]["id"]);
    let mine = audit(&app, &format!("?resource_id={ep_id}")).await;
    assert!(mine.len() >= 3 && mine.iter().all(|e| e["resource_id"] == ep_id.as_str()));
    // Admin only.
    let denied = app
        .http
        .get(app.url("/v1/audit"))
        .bearer_auth(writer)
        .send()
        .await
        .unwrap();
    assert_envelope(denied, 403, "insufficient_scope").await;
    let _ = ADMIN_KEY;
}

/// A source the config file creates is audited too, with no key (`key_id` null).
async fn config_changes_are_audited_without_a_key(backend: switchyard_testkit::app::Backend) {
    let spec: switchyard_core::source::SourceSpec =
        serde_json::from_value(json!({"name": "from-file", "verify": {"scheme": "token", "secrets": [SOURCE_SECRET]}}))
            .unwrap();
    let opts = switchyard_testkit::app::Options {
        sources: vec![spec],
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_with(backend, opts).await else {
        return;
    };
    let entries = audit(&app, "").await;
    let entry = entries
        .iter()
        .find(|e| e["resource"] == "source" && e["key_id"].is_null())
        .expect("the config file's change is audited");
    assert_eq!(entry["changes"]["applied_from"]["to"], "config file");
    assert!(entry["resource_id"].as_str().unwrap().starts_with("src_"));
    assert!(!serde_json::to_string(&entries).unwrap().contains(SOURCE_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_config_changes_are_audited_without_a_key() {
    config_changes_are_audited_without_a_key(switchyard_testkit::app::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_config_changes_are_audited_without_a_key() {
    config_changes_are_audited_without_a_key(switchyard_testkit::app::Backend::Postgres).await;
}
