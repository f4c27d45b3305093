//! The management API foundation: sources CRUD with masked secrets, Idempotency-Key, the error
//! envelope on framework errors, cursor pagination of events under concurrent inserts.

use std::collections::HashSet;

use serde_json::{Value, json};

use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(
    sources_lifecycle_masks_secrets_after_creation,
    invalid_sources_list_every_problem,
    idempotency_key_replays_the_first_response,
    framework_errors_use_the_envelope,
    event_pages_are_exact_under_concurrent_inserts,
    event_filters_and_bad_parameters,
    health_and_readiness,
    endpoint_urls_are_normalised_and_inputs_bounded,
);

async fn endpoint_urls_are_normalised_and_inputs_bounded(app: TestApp) {
    // What the operator sees is what is called.
    let resp = app
        .api_post("/v1/endpoints", &json!({"url": "HTTPS://Example.COM:443/a/../hooks"}))
        .await;
    assert_eq!(resp.status(), 201);
    let ep: Value = resp.json().await.unwrap();
    assert_eq!(ep["url"], "https://example.com/hooks");
    let id = ep["id"].as_str().unwrap();
    let shown: Value = app.api_get(&format!("/v1/endpoints/{id}")).await.json().await.unwrap();
    assert_eq!(shown["url"], "https://example.com/hooks");
    for bad in [
        "http:///x",
        "https://exa mple.com/",
        "https://example.com/\u{7}",
        "https:\\\\example.com/",
    ] {
        let resp = app.api_post("/v1/endpoints", &json!({ "url": bad })).await;
        assert_envelope(resp, 422, "validation_failed").await;
    }
    // Durations have upper bounds.
    let resp = app
        .api_post(
            &format!("/v1/endpoints/{id}/secret/rotate"),
            &json!({"grace_seconds": 10_u64.pow(12)}),
        )
        .await;
    assert_envelope(resp, 422, "validation_failed").await;
    let resp = app
        .api_post(
            "/v1/endpoints",
            &json!({"url": "https://example.com/", "disable_after_seconds": 10_u64.pow(12)}),
        )
        .await;
    assert_envelope(resp, 422, "validation_failed").await;
    // Releasing by a source that does not exist is a 404, not an empty success.
    let resp = app.api_post("/v1/events/release", &json!({"source": "nope"})).await;
    assert_envelope(resp, 404, "not_found").await;
    // Idempotency-Key values are checked as the message says: visible characters only.
    let resp = app
        .http
        .post(app.url("/v1/keys"))
        .bearer_auth(switchyard_testkit::app::ADMIN_KEY)
        .header("idempotency-key", "has a space")
        .json(&json!({"scope": "read", "name": "k"}))
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 400, "invalid_idempotency_key").await;
    app.stop().await;
}

async fn sources_lifecycle_masks_secrets_after_creation(app: TestApp) {
    let created = app
        .create_source(
            json!({"name": "gh", "verify": {"scheme": "token", "header": "X-Token", "secrets": ["super-secret-1"]}}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("src_"));
    assert_eq!(
        created["verify"]["secrets"],
        json!(["super-secret-1"]),
        "shown once on creation"
    );
    assert_eq!(created["ingest_path"], "/in/gh");
    assert_eq!(created["max_body_bytes"], 1_048_576);
    assert_eq!(created["dedup"]["window_seconds"], 604_800);
    for path in [
        format!("/v1/sources/{id}"),
        "/v1/sources/gh".to_string(),
        "/v1/sources".to_string(),
    ] {
        let text = app.api_get(&path).await.text().await.unwrap();
        assert!(!text.contains("super-secret-1"), "{path} masks secrets: {text}");
        assert!(text.contains("********"));
    }
    let dup = app.api_post("/v1/sources", &json!({"name": "gh"})).await;
    assert_envelope(dup, 409, "source_name_taken").await;
    // Change an option without resending secrets: the secret still works.
    let resp = app
        .http
        .patch(app.url("/v1/sources/gh"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"verify": {"header": "X-Other"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(updated["verify"]["header"], "X-Other");
    assert!(!updated.to_string().contains("super-secret-1"));
    let ok = app
        .http
        .post(app.url("/in/gh"))
        .header("x-other", "super-secret-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let bad_patch = app
        .http
        .patch(app.url("/v1/sources/gh"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"max_body_bytes": 0}))
        .send()
        .await
        .unwrap();
    assert_envelope(bad_patch, 422, "validation_failed").await;
    let del = app
        .http
        .delete(app.url(&format!("/v1/sources/{id}")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_envelope(app.api_get("/v1/sources/gh").await, 404, "not_found").await;
    assert_envelope(app.send("gh", &json!({})).await, 404, "source_not_found").await;
    // The stored secret is sealed, not plain text.
    let row = app.store.all_sources().await.unwrap();
    assert!(row.is_empty());
    app.create_source(json!({"name": "sealed", "verify": {"scheme": "token", "secrets": ["plain-text-secret"]}}))
        .await;
    let row = app.store.get_source("sealed").await.unwrap().unwrap();
    assert!(!row.config.contains("plain-text-secret"));
    assert!(!String::from_utf8_lossy(row.secrets.as_deref().unwrap()).contains("plain-text-secret"));
    app.stop().await;
}

async fn invalid_sources_list_every_problem(app: TestApp) {
    let resp = app
        .api_post(
            "/v1/sources",
            &json!({"name": "Bad Name", "verify": {"scheme": "token"}, "max_body_bytes": 0}),
        )
        .await;
    let err = assert_envelope(resp, 422, "validation_failed").await;
    let fields: Vec<_> = err["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["name", "verify.secrets", "max_body_bytes"]);
    let resp = app
        .api_post("/v1/sources", &json!({"name": "x", "unknown_field": 1}))
        .await;
    assert_envelope(resp, 422, "validation_failed").await;
    let resp = app
        .http
        .post(app.url("/v1/sources"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 400, "invalid_json").await;
    let resp = app
        .http
        .post(app.url("/v1/sources"))
        .bearer_auth(ADMIN_KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 415, "unsupported_media_type").await;
    app.stop().await;
}

async fn idempotency_key_replays_the_first_response(app: TestApp) {
    let post = |key: &'static str, body: Value| {
        app.http
            .post(app.url("/v1/sources"))
            .bearer_auth(ADMIN_KEY)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = post(
        "k-1",
        json!({"name": "once", "verify": {"scheme": "token", "secrets": ["s1"]}}),
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post(
        "k-1",
        json!({"name": "once", "verify": {"scheme": "token", "secrets": ["s1"]}}),
    )
    .await
    .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        first,
        "the first response, byte for byte"
    );
    assert_eq!(app.store.all_sources().await.unwrap().len(), 1, "created once");
    let other = post("k-1", json!({"name": "different"})).await.unwrap();
    assert_envelope(other, 422, "idempotency_key_reused").await;
    // A failed request frees its key for a corrected retry.
    let bad = post("k-2", json!({"name": "BAD"})).await.unwrap();
    assert_eq!(bad.status(), 422);
    let fixed = post("k-2", json!({"name": "good"})).await.unwrap();
    assert_eq!(fixed.status(), 201);
    // Concurrent repeats create exactly one resource.
    let results = futures::future::join_all((0..8).map(|_| post("k-3", json!({"name": "racy"})))).await;
    let statuses: Vec<u16> = results.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    assert!(statuses.contains(&201));
    assert_eq!(
        app.store
            .all_sources()
            .await
            .unwrap()
            .iter()
            .filter(|s| s.name == "racy")
            .count(),
        1
    );
    // The same key with *different* bodies at once: a unique name cannot be what dedupes them
    // (each names another source), so exactly one creation proves the key did. The others get
    // 409 while the first is in flight, or 422 once it completed with another body.
    let posts = (0..12).map(|i| {
        let body = json!({"name": format!("racer-{i}")});
        app.http
            .post(app.url("/v1/sources"))
            .bearer_auth(ADMIN_KEY)
            .header("idempotency-key", "k-4")
            .json(&body)
            .send()
    });
    let mut created = 0;
    for r in futures::future::join_all(posts).await {
        let r = r.unwrap();
        match r.status().as_u16() {
            201 => created += 1,
            409 => {
                assert_envelope(r, 409, "idempotency_key_in_use").await;
            }
            422 => {
                assert_envelope(r, 422, "idempotency_key_reused").await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1, "one creation for one key");
    let racers = app
        .store
        .all_sources()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.name.starts_with("racer-"))
        .count();
    assert_eq!(racers, 1, "exactly one source was created");
    app.stop().await;
}

async fn framework_errors_use_the_envelope(app: TestApp) {
    assert_envelope(
        app.http.get(app.url("/nowhere")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_envelope(
        app.http.put(app.url("/in/x")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    assert_envelope(
        app.http
            .delete(app.url("/v1/events"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    assert_envelope(app.api_get("/v1/events/evt_nope").await, 404, "not_found").await;
    // A well-formed caller request id is kept, a hostile one replaced.
    let resp = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let resp = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id <script>")
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["x-request-id"].to_str().unwrap().starts_with("req_"));
    app.stop().await;
}

async fn event_pages_are_exact_under_concurrent_inserts(app: TestApp) {
    app.create_source(json!({"name": "p"})).await;
    let mut before = HashSet::new();
    for chunk in 0..6 {
        let sends = (0..25).map(|i| {
            let body = json!({"n": chunk * 25 + i});
            let app = &app;
            async move { app.send("p", &body).await }
        });
        for r in futures::future::join_all(sends).await {
            before.insert(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(before.len(), 150);
    let inserting = {
        let (http, url) = (app.http.clone(), app.url("/in/p"));
        tokio::spawn(async move {
            let mut n = 0;
            for round in 0..20 {
                let sends = (0..10).map(|i| http.post(&url).json(&json!({"late": i, "round": round})).send());
                n += futures::future::join_all(sends)
                    .await
                    .into_iter()
                    .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 202))
                    .count();
            }
            n
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?source=p&limit=7&cursor={c}"),
            None => "/v1/events?source=p&limit=7".to_string(),
        };
        let page: Value = app.api_get(&path).await.json().await.unwrap();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(inserting.await.unwrap(), 200);
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no event is returned twice");
    assert!(
        before.is_subset(&unique),
        "every event that existed when paging began is returned"
    );
    app.stop().await;
}

async fn event_filters_and_bad_parameters(app: TestApp) {
    app.create_source(json!({"name": "a"})).await;
    app.create_source(json!({"name": "b"})).await;
    let t0 = chrono_now();
    app.send("a", &json!({"type": "x.created"})).await;
    app.send("b", &json!({"type": "y.deleted"})).await;
    app.send("a", &json!({"type": "y.deleted"})).await;
    let ids = |v: Value| v["data"].as_array().unwrap().len();
    assert_eq!(ids(app.api_get("/v1/events?source=a").await.json().await.unwrap()), 2);
    assert_eq!(
        ids(app.api_get("/v1/events?type=y.deleted").await.json().await.unwrap()),
        2
    );
    assert_eq!(
        ids(app
            .api_get("/v1/events?status=received&source=b")
            .await
            .json()
            .await
            .unwrap()),
        1
    );
    assert_eq!(
        ids(app.api_get("/v1/events?status=quarantined").await.json().await.unwrap()),
        0
    );
    assert_eq!(
        ids(app
            .api_get(&format!("/v1/events?since={t0}"))
            .await
            .json()
            .await
            .unwrap()),
        3
    );
    assert_eq!(
        ids(app
            .api_get(&format!("/v1/events?until={t0}"))
            .await
            .json()
            .await
            .unwrap()),
        0
    );
    let src_id = app.api_get("/v1/sources/b").await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ids(app
            .api_get(&format!("/v1/events?source={src_id}"))
            .await
            .json()
            .await
            .unwrap()),
        1
    );
    assert_envelope(app.api_get("/v1/events?limit=0").await, 400, "invalid_parameter").await;
    assert_envelope(app.api_get("/v1/events?limit=1001").await, 400, "invalid_parameter").await;
    assert_envelope(app.api_get("/v1/events?limit=ten").await, 400, "invalid_parameter").await;
    assert_envelope(app.api_get("/v1/events?status=lost").await, 400, "invalid_parameter").await;
    assert_envelope(
        app.api_get("/v1/events?since=yesterday").await,
        400,
        "invalid_parameter",
    )
    .await;
    assert_envelope(app.api_get("/v1/events?cursor=garbage").await, 400, "invalid_cursor").await;
    // Forged cursors: not base64, and well-encoded but naming no position this API hands out.
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v1:' OR 1=1 --");
    let other_kind =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{}", "evt_01J0000000000000000000000A"));
    for list in [
        "/v1/sources",
        "/v1/endpoints",
        "/v1/keys",
        "/v1/events",
        "/v1/deliveries",
        "/v1/receipts",
    ] {
        for cursor in ["garbage", forged.as_str(), other_kind.as_str()] {
            assert_envelope(
                app.api_get(&format!("{list}?cursor={cursor}")).await,
                400,
                "invalid_cursor",
            )
            .await;
        }
    }
    let page: Value = app.api_get("/v1/events?limit=1000").await.json().await.unwrap();
    assert!(page["next_cursor"].is_null());
    app.stop().await;
}

async fn health_and_readiness(app: TestApp) {
    let h = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), 200);
    let r: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready");
    let kind = if app.backend == switchyard_testkit::app::Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(r["database"], kind);
    app.stop().await;
}

fn chrono_now() -> String {
    switchyard_core::time::to_rfc3339(switchyard_core::time::now_micros() - 1000)
}
