//! The server's real answers match `GET /v1/openapi.json`: a tour through every resource (create,
//! show, list, change, the error envelope) with each answer validated against the schema the
//! document gives for that operation and status. `scripts/api-fuzz` does this with generated
//! requests; this test keeps the common paths checked on every `cargo test`.

#[path = "openapi_answers/alerts.rs"]
mod alerts;

use serde_json::{Value, json};
use switchyard_testkit::app::{Backend, TestApp};

/// What is wrong with `body` as the documented answer of `method path` with `status`.
fn violations(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let op = &doc["paths"][path][method];
    let response = &op["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {path}: {status} is not documented");
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} {status}: no JSON schema");
    // The component schemas travel with the one checked, so its `#/components/...` refs resolve.
    let mut wrapped = schema.clone();
    wrapped["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&wrapped).expect("the documented schema compiles");
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn conforms(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let errors = violations(doc, method, path, status, body);
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match the document:\n{}\n{body:#}",
        errors.join("\n")
    );
}

/// Sends a request and checks its answer against the document; gives the body.
async fn call(
    app: &TestApp,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            app.url(path),
        )
        .bearer_auth(switchyard_testkit::app::ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    if status != 204 {
        conforms(doc, method, template, status, &value);
    }
    (status, value)
}

#[tokio::test]
async fn answers_match_the_document() {
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

    // The check is not vacuous: a wrong shape is caught, through the references.
    let wrong = json!({"data": [{"id": 1}], "next_cursor": null});
    assert!(!violations(&doc, "get", "/v1/sources", 200, &wrong).is_empty());
    assert!(!violations(&doc, "get", "/v1/sources/{id}", 404, &json!({"error": {"code": "x"}})).is_empty());

    // Sources, with a secret shown once, a schema and a redaction rule.
    let source = json!({"name": "shop", "verify": {"scheme": "token", "secrets": ["t0ken-value"], "header": "x-token"},
                        "schema": {"type": "object", "required": ["type"]}, "redact": ["card"]});
    let (s, src) = call(&app, &doc, "post", "/v1/sources", "/v1/sources", Some(source)).await;
    assert_eq!(s, 201);
    let src_id = src["id"].as_str().unwrap().to_string();
    call(&app, &doc, "get", "/v1/sources", "/v1/sources?limit=1", None).await;
    call(
        &app,
        &doc,
        "get",
        "/v1/sources/{id}",
        &format!("/v1/sources/{src_id}"),
        None,
    )
    .await;
    let (s, _) = call(
        &app,
        &doc,
        "patch",
        "/v1/sources/{id}",
        "/v1/sources/shop",
        Some(json!({"max_body_bytes": 2048})),
    )
    .await;
    assert_eq!(s, 200);
    call(
        &app,
        &doc,
        "post",
        "/v1/sources/{id}/disable",
        "/v1/sources/shop/disable",
        None,
    )
    .await;
    call(
        &app,
        &doc,
        "post",
        "/v1/sources/{id}/enable",
        "/v1/sources/shop/enable",
        None,
    )
    .await;

    // Intake: an event, a quarantined one and a duplicate.
    for (payload, want) in [
        (json!({"type": "order.created", "card": "4242"}), 202),
        (json!({"no": "type"}), 202),
        (json!({"type": "order.created", "card": "4242"}), 200),
    ] {
        let resp = app
            .http
            .post(app.url("/in/shop"))
            .header("x-token", "t0ken-value")
            .json(&payload)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want);
        conforms(&doc, "post", "/in/{source}", want, &resp.json().await.unwrap());
    }
    let resp = app
        .http
        .post(app.url("/in/shop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    conforms(&doc, "post", "/in/{source}", 401, &resp.json().await.unwrap());

    // Endpoints, destinations, flows.
    let (s, ep) = call(&app, &doc, "post", "/v1/endpoints", "/v1/endpoints",
        Some(json!({"name": "hook", "url": "https://hooks.example/in", "headers": {"x-api": "secret"}, "sources": ["shop"]}))).await;
    assert_eq!(s, 201);
    assert!(ep["secret"].as_str().unwrap().starts_with("whsec_"));
    call(&app, &doc, "get", "/v1/endpoints", "/v1/endpoints", None).await;
    call(&app, &doc, "get", "/v1/endpoints/{id}", "/v1/endpoints/hook", None).await;
    call(
        &app,
        &doc,
        "patch",
        "/v1/endpoints/{id}",
        "/v1/endpoints/hook",
        Some(json!({"description": "d"})),
    )
    .await;
    call(
        &app,
        &doc,
        "post",
        "/v1/endpoints/{id}/secret/rotate",
        "/v1/endpoints/hook/secret/rotate",
        Some(json!({"grace_seconds": 60})),
    )
    .await;
    let (s, _) = call(
        &app,
        &doc,
        "post",
        "/v1/endpoints/{id}/secret/rotate",
        "/v1/endpoints/hook/secret/rotate",
        Some(json!([1])),
    )
    .await;
    assert_eq!(s, 422, "a body that is not an object is refused");
    call(
        &app,
        &doc,
        "post",
        "/v1/endpoints/{id}/replay",
        "/v1/endpoints/hook/replay",
        Some(json!({"since": "2020-01-01T00:00:00Z"})),
    )
    .await;
    let dst = json!({"name": "crm", "base_url": "https://crm.example/api",
                     "auth": {"kind": "oauth2_client_credentials", "token_url": "https://crm.example/token", "client_id": "id", "client_secret": "s3cret"}});
    assert_eq!(
        call(&app, &doc, "post", "/v1/destinations", "/v1/destinations", Some(dst))
            .await
            .0,
        201
    );
    call(&app, &doc, "get", "/v1/destinations", "/v1/destinations", None).await;
    call(&app, &doc, "get", "/v1/destinations/{id}", "/v1/destinations/crm", None).await;
    call(
        &app,
        &doc,
        "patch",
        "/v1/destinations/{id}",
        "/v1/destinations/crm",
        Some(json!({"timeout_seconds": 5})),
    )
    .await;
    let flow = json!({"name": "tally", "trigger": {"manual": true},
                      "steps": [{"id": "shape", "map": "{n: .payload.n}"},
                                {"id": "fork", "branch": [{"when": ".payload.n > 1", "steps": [{"id": "big", "map": "1"}]}, {"else": true, "steps": [{"id": "small", "map": "0"}]}]}]});
    assert_eq!(
        call(&app, &doc, "post", "/v1/flows", "/v1/flows", Some(flow)).await.0,
        201
    );
    call(&app, &doc, "get", "/v1/flows", "/v1/flows", None).await;
    call(
        &app,
        &doc,
        "patch",
        "/v1/flows/{id}",
        "/v1/flows/tally",
        Some(json!({"on_failure": {"emit": "tally.failed"}})),
    )
    .await;
    call(
        &app,
        &doc,
        "get",
        "/v1/flows/{id}/versions",
        "/v1/flows/tally/versions",
        None,
    )
    .await;
    let (s, run) = call(
        &app,
        &doc,
        "post",
        "/v1/flows/{id}/runs",
        "/v1/flows/tally/runs",
        Some(json!({"payload": {"n": 2}})),
    )
    .await;
    assert_eq!(s, 202);
    let run_id = run["id"].as_str().unwrap().to_string();

    // Events, runs, deliveries, receipts, keys, audit.
    let (s, published) = call(
        &app,
        &doc,
        "post",
        "/v1/events",
        "/v1/events",
        Some(json!({"type": "order.paid", "payload": {"n": 1}})),
    )
    .await;
    assert_eq!(s, 202);
    let (_, events) = call(&app, &doc, "get", "/v1/events", "/v1/events?limit=10", None).await;
    for e in events["data"].as_array().unwrap() {
        call(
            &app,
            &doc,
            "get",
            "/v1/events/{id}",
            &format!("/v1/events/{}", e["id"].as_str().unwrap()),
            None,
        )
        .await;
    }
    let quarantined = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "quarantined")
        .unwrap();
    let path = format!("/v1/events/{}/release", quarantined["id"].as_str().unwrap());
    assert_eq!(
        call(&app, &doc, "post", "/v1/events/{id}/release", &path, None).await.0,
        422
    );
    call(
        &app,
        &doc,
        "post",
        "/v1/events/release",
        "/v1/events/release",
        Some(json!({"source": "shop"})),
    )
    .await;
    let path = format!("/v1/events/{}/replay", published["id"].as_str().unwrap());
    call(&app, &doc, "post", "/v1/events/{id}/replay", &path, None).await;
    for _ in 0..100 {
        let (_, r) = call(&app, &doc, "get", "/v1/runs/{id}", &format!("/v1/runs/{run_id}"), None).await;
        if r["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    call(&app, &doc, "get", "/v1/runs", "/v1/runs", None).await;
    assert_eq!(
        call(
            &app,
            &doc,
            "post",
            "/v1/runs/{id}/retry",
            &format!("/v1/runs/{run_id}/retry"),
            None
        )
        .await
        .0,
        409
    );
    let (_, deliveries) = call(&app, &doc, "get", "/v1/deliveries", "/v1/deliveries", None).await;
    let dlv = deliveries["data"][0]["id"]
        .as_str()
        .expect("the forwarded event's delivery")
        .to_string();
    call(
        &app,
        &doc,
        "get",
        "/v1/deliveries/{id}",
        &format!("/v1/deliveries/{dlv}"),
        None,
    )
    .await;
    call(
        &app,
        &doc,
        "get",
        "/v1/deliveries/{id}/attempts",
        &format!("/v1/deliveries/{dlv}/attempts"),
        None,
    )
    .await;
    call(&app, &doc, "get", "/v1/receipts", "/v1/receipts", None).await;
    let (s, key) = call(
        &app,
        &doc,
        "post",
        "/v1/keys",
        "/v1/keys",
        Some(json!({"scope": "read", "name": "ro"})),
    )
    .await;
    assert_eq!(s, 201);
    call(&app, &doc, "get", "/v1/keys", "/v1/keys", None).await;
    let (_, audit) = call(&app, &doc, "get", "/v1/audit", "/v1/audit?limit=1000", None).await;
    assert!(audit["data"].as_array().unwrap().len() > 10);

    // Errors: each in the envelope the document promises.
    call(&app, &doc, "get", "/v1/sources/{id}", "/v1/sources/nope", None).await;
    call(&app, &doc, "get", "/v1/events", "/v1/events?limit=0", None).await;
    call(
        &app,
        &doc,
        "post",
        "/v1/sources",
        "/v1/sources",
        Some(json!({"name": "Bad Name"})),
    )
    .await;
    let resp = app
        .http
        .get(app.url("/v1/sources"))
        .bearer_auth(key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .http
        .post(app.url("/v1/keys"))
        .bearer_auth(key["key"].as_str().unwrap())
        .json(&json!({"scope": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    conforms(&doc, "post", "/v1/keys", 403, &resp.json().await.unwrap());
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    conforms(&doc, "get", "/readyz", 200, &resp.json().await.unwrap());

    // Deletions last.
    for (template, path) in [
        ("/v1/flows/{id}", "/v1/flows/tally"),
        ("/v1/destinations/{id}", "/v1/destinations/crm"),
        ("/v1/endpoints/{id}", "/v1/endpoints/hook"),
        ("/v1/sources/{id}", "/v1/sources/shop"),
        ("/v1/keys/{id}", &format!("/v1/keys/{}", key["id"].as_str().unwrap())),
    ] {
        assert_eq!(call(&app, &doc, "delete", template, path, None).await.0, 204, "{path}");
    }
    app.stop().await;
}
