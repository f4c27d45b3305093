//! `/v1/destinations` (SPEC §7): every auth kind is accepted and checked, credential and header
//! values are write-only (masked in every view, kept when sent back masked), names are unique.
//! On SQLite and PostgreSQL.

use serde_json::{Value, json};

use switchyard_testkit::app::{TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(
    destinations_keep_credentials_write_only,
    invalid_destinations_are_refused_with_the_field,
);

const SECRETS: [&str; 5] = [
    "BEARER_SECRET_1",
    "APIKEY_SECRET_2",
    "BASIC_SECRET_3",
    "CLIENT_SECRET_4",
    "HEADER_SECRET_5",
];

async fn destinations_keep_credentials_write_only(app: TestApp) {
    let auths = [
        json!({"kind": "bearer", "token": SECRETS[0]}),
        json!({"kind": "api_key", "header": "X-Api-Key", "value": SECRETS[1]}),
        json!({"kind": "basic", "username": "me", "password": SECRETS[2]}),
        json!({"kind": "oauth2_client_credentials", "token_url": "http://127.0.0.1:9/token",
               "client_id": "cid", "client_secret": SECRETS[3], "scopes": ["crm.write"]}),
    ];
    let mut seen = Vec::new();
    for (i, auth) in auths.iter().enumerate() {
        let resp = app
            .api_post(
                "/v1/destinations",
                &json!({"name": format!("d{i}"), "base_url": "http://127.0.0.1:9/api", "auth": auth,
                        "headers": {"X-Tenant": SECRETS[4]}, "timeout_seconds": 5}),
            )
            .await;
        let text = resp.text().await.unwrap();
        let created: Value = serde_json::from_str(&text).unwrap();
        assert!(created["id"].as_str().unwrap().starts_with("dst_"), "{text}");
        assert_eq!(created["auth"]["kind"], auth["kind"]);
        assert_eq!(created["headers"]["X-Tenant"], "********");
        assert_eq!(created["timeout_seconds"], 5);
        seen.push(text);
    }
    let listed = app.api_get("/v1/destinations?limit=2").await;
    assert_eq!(listed.status(), 200);
    let page: Value = listed.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string(), "{page}");
    seen.push(page.to_string());
    let shown = app.api_get("/v1/destinations/d3").await.text().await.unwrap();
    let view: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(view["auth"]["client_secret"], "********");
    assert_eq!(view["auth"]["client_id"], "cid");
    seen.push(shown);

    // A view sent back (masked values included) changes only what changed.
    let mut back = view.clone();
    back["timeout_seconds"] = json!(9);
    let patched = app.api_patch("/v1/destinations/d3", &back).await;
    assert_eq!(patched.status(), 200);
    let text = patched.text().await.unwrap();
    let after: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(after["timeout_seconds"], 9);
    assert_eq!(after["id"], view["id"]);
    seen.push(text);
    let row = app.store.get_destination("d3").await.unwrap().unwrap();
    assert!(!row.config.contains(SECRETS[3]) && !row.config.contains(SECRETS[4]));
    assert!(
        row.config.contains("********"),
        "the stored definition is the masked one"
    );

    // Names are unique; unknown ones are 404; delete is 204 and then 404.
    let taken = app
        .api_post(
            "/v1/destinations",
            &json!({"name": "d0", "base_url": "http://127.0.0.1:9"}),
        )
        .await;
    seen.push(assert_envelope(taken, 409, "destination_name_taken").await.to_string());
    assert_envelope(app.api_get("/v1/destinations/nope").await, 404, "not_found").await;
    assert_eq!(app.api_delete("/v1/destinations/d1").await.status(), 204);
    assert_envelope(app.api_get("/v1/destinations/d1").await, 404, "not_found").await;

    for text in &seen {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
    }
}

async fn invalid_destinations_are_refused_with_the_field(app: TestApp) {
    for (body, field) in [
        (json!({"name": "Bad Name", "base_url": "http://127.0.0.1:9"}), "name"),
        (json!({"name": "x", "base_url": "ftp://example.com"}), "base_url"),
        (
            json!({"name": "x", "base_url": "http://127.0.0.1:9",
                   "auth": {"kind": "api_key", "header": "X-K", "query": "k", "value": "v"}}),
            "auth",
        ),
        (
            json!({"name": "x", "base_url": "http://127.0.0.1:9", "max_concurrency": 0}),
            "max_concurrency",
        ),
    ] {
        let resp = app.api_post("/v1/destinations", &body).await;
        let err = assert_envelope(resp, 422, "validation_failed").await;
        let fields = err["details"]["fields"].to_string();
        assert!(fields.contains(field), "{body}: {err}");
    }
    let resp = app
        .api_post(
            "/v1/destinations",
            &json!({"name": "x", "base_url": "http://127.0.0.1:9", "auth": {"kind": "magic"}}),
        )
        .await;
    assert_envelope(resp, 422, "validation_failed").await;
}
