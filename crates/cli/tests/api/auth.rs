//! API keys on every `/v1` route: missing, malformed, unknown and revoked keys are 401; keys
//! without the needed scope are 403; each answer carries the error envelope.

use reqwest::Method;
use serde_json::json;

use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope, get_json};
use switchyard_testkit::backend_tests;

backend_tests!(
    wrong_missing_and_revoked_keys_are_401_everywhere,
    scopes_are_enforced_per_route
);

/// Every management route, with the scope it needs.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/v1/sources", "read"),
    ("POST", "/v1/sources", "write"),
    ("GET", "/v1/sources/s", "read"),
    ("PATCH", "/v1/sources/s", "write"),
    ("DELETE", "/v1/sources/s", "write"),
    ("POST", "/v1/sources/s/disable", "write"),
    ("POST", "/v1/sources/s/enable", "write"),
    ("GET", "/v1/events", "read"),
    ("GET", "/v1/events/evt_01ARZ3NDEKTSV4RRFFQ69G5FAV", "read"),
    ("GET", "/v1/receipts", "read"),
    ("POST", "/v1/events/release", "write"),
    ("POST", "/v1/events/evt_01ARZ3NDEKTSV4RRFFQ69G5FAV/release", "write"),
    ("GET", "/v1/keys", "admin"),
    ("POST", "/v1/keys", "admin"),
    ("DELETE", "/v1/keys/key_x", "admin"),
];

fn request(app: &TestApp, method: &str, path: &str) -> reqwest::RequestBuilder {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let req = app.http.request(m, app.url(path));
    if method == "POST" || method == "PATCH" {
        req.json(&json!({}))
    } else {
        req
    }
}

async fn wrong_missing_and_revoked_keys_are_401_everywhere(app: TestApp) {
    let revoked = app.create_key("admin").await;
    // Used once first, so the server has verified (and remembers) it when it is revoked.
    let keys = get_json(&app.http, app.url("/v1/keys"), &revoked).await;
    let id = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["hint"] == revoked[..7])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = app
        .http
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    // Refused on the next request, not a second later.
    for (method, path, _) in ROUTES {
        let none = request(&app, method, path).send().await.unwrap();
        assert_envelope(none, 401, "missing_api_key").await;
        let wrong = request(&app, method, path)
            .bearer_auth("sy_not_a_real_key")
            .send()
            .await
            .unwrap();
        assert_envelope(wrong, 401, "invalid_api_key").await;
        let basic = request(&app, method, path)
            .header("authorization", "Basic YTpi")
            .send()
            .await
            .unwrap();
        assert_envelope(basic, 401, "invalid_api_key").await;
        let gone = request(&app, method, path).bearer_auth(&revoked).send().await.unwrap();
        assert_envelope(gone, 401, "invalid_api_key").await;
    }
    app.stop().await;
}

async fn scopes_are_enforced_per_route(app: TestApp) {
    let read = app.create_key("read").await;
    let write = app.create_key("write").await;
    for (method, path, needed) in ROUTES {
        for (key, scope) in [(&read, "read"), (&write, "write")] {
            let allowed = match *needed {
                "read" => true,
                "write" => scope == "write",
                _ => false,
            };
            let resp = request(&app, method, path).bearer_auth(key).send().await.unwrap();
            if allowed {
                assert_ne!(resp.status(), 403, "{method} {path} with {scope}");
                assert_ne!(resp.status(), 401, "{method} {path} with {scope}");
            } else {
                let err = assert_envelope(resp, 403, "insufficient_scope").await;
                assert!(err["message"].as_str().unwrap().contains(needed), "{method} {path}");
            }
        }
    }
    app.stop().await;
}
