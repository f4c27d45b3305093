//! `POST /in/{source}`: acceptance, every rejection status with its envelope, and receipts.

use base64::Engine;
use serde_json::{Value, json};

use switchyard_testkit::app::{TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(
    accepted_webhooks_are_stored_with_redacted_headers,
    unknown_and_disabled_sources_are_404,
    oversized_bodies_are_413_declared_or_streamed,
    non_json_is_415_and_broken_json_400,
    any_content_is_accepted_when_the_source_allows_it,
    token_and_basic_sources_authenticate,
    every_request_leaves_a_receipt,
    duplicate_deliveries_are_answered_with_the_first_event,
    event_type_allow_list_and_rate_limit,
    redacted_paths_are_hidden_in_views_but_kept_raw,
    ip_allow_list_trusts_forwarded_for_only_from_proxies,
);

async fn accepted_webhooks_are_stored_with_redacted_headers(app: TestApp) {
    app.create_source(json!({"name": "shop"})).await;
    let resp = app
        .http
        .post(app.url("/in/shop"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer leak-me-not")
        .header("cookie", "session=leak-me-not")
        .header("x-shop-topic", "orders/create")
        .body(r#"{"type":"order.created","id":7,"nested":{"a":[1,2]}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "received");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("evt_"));

    let event: Value = app.api_get(&format!("/v1/events/{id}")).await.json().await.unwrap();
    assert_eq!(
        event["payload"],
        json!({"type": "order.created", "id": 7, "nested": {"a": [1, 2]}})
    );
    assert_eq!(event["type"], "order.created");
    assert_eq!(event["source"], "shop");
    assert_eq!(event["status"], "received");
    assert_eq!(event["headers"]["x-shop-topic"], "orders/create");
    assert_eq!(event["headers"]["authorization"], "[redacted]");
    assert_eq!(event["headers"]["cookie"], "[redacted]");
    assert!(!event.to_string().contains("leak-me-not"));
    let timeline = event["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0]["state"], "received");
    assert_eq!(timeline[0]["status_code"], 202);
    // The secret never reached the database either.
    let stored = app.store.get_event(id).await.unwrap().unwrap();
    assert!(!stored.headers.contains("leak-me-not"));
    app.stop().await;
}

async fn unknown_and_disabled_sources_are_404(app: TestApp) {
    assert_envelope(app.send("nope", &json!({})).await, 404, "source_not_found").await;
    assert_envelope(app.send("Not A Name!", &json!({})).await, 404, "source_not_found").await;
    app.create_source(json!({"name": "off"})).await;
    assert_eq!(app.send("off", &json!({})).await.status(), 202);
    let resp = app
        .http
        .post(app.url("/v1/sources/off/disable"))
        .bearer_auth(switchyard_testkit::app::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_envelope(app.send("off", &json!({})).await, 404, "source_not_found").await;
    app.http
        .post(app.url("/v1/sources/off/enable"))
        .bearer_auth(switchyard_testkit::app::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(app.send("off", &json!({"again": true})).await.status(), 202);
    app.stop().await;
}

async fn oversized_bodies_are_413_declared_or_streamed(app: TestApp) {
    app.create_source(json!({"name": "small", "max_body_bytes": 100})).await;
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(200));
    let resp = app
        .http
        .post(app.url("/in/small"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 413, "payload_too_large").await;
    // Without Content-Length (chunked), the limit is enforced while reading.
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let resp = app
        .http
        .post(app.url("/in/small"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 413, "payload_too_large").await;
    // The default limit is 1 MiB.
    app.create_source(json!({"name": "default"})).await;
    let two_mib = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2 << 20));
    let resp = app
        .http
        .post(app.url("/in/default"))
        .header("content-type", "application/json")
        .body(two_mib)
        .send()
        .await
        .unwrap();
    assert_envelope(resp, 413, "payload_too_large").await;
    let exactly = format!(r#"{{"p":"{}"}}"#, "x".repeat(100 - 8));
    assert_eq!(exactly.len(), 100);
    let resp = app
        .http
        .post(app.url("/in/small"))
        .header("content-type", "application/json")
        .body(exactly)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "a body of exactly the limit is accepted");
    app.stop().await;
}

async fn non_json_is_415_and_broken_json_400(app: TestApp) {
    app.create_source(json!({"name": "j"})).await;
    let post = |ct: Option<&'static str>, body: &'static str| {
        let mut req = app.http.post(app.url("/in/j")).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    assert_envelope(
        post(Some("text/plain"), "{}").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_envelope(post(None, "{}").await.unwrap(), 415, "unsupported_media_type").await;
    assert_envelope(
        post(Some("application/json"), "{\"a\":").await.unwrap(),
        400,
        "invalid_json",
    )
    .await;
    assert_eq!(
        post(Some("application/json; charset=utf-8"), "[1]")
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        post(Some("application/cloudevents+json"), "{}").await.unwrap().status(),
        202
    );
    app.stop().await;
}

async fn any_content_is_accepted_when_the_source_allows_it(app: TestApp) {
    app.create_source(json!({"name": "forms", "accept": "any"})).await;
    let resp = app
        .http
        .post(app.url("/in/forms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("From=%2B15551234567&Body=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let event: Value = app.api_get(&format!("/v1/events/{id}")).await.json().await.unwrap();
    // A form is shown as its fields (so redaction paths apply to it); the stored bytes are kept.
    assert_eq!(event["payload"], json!({"From": "+15551234567", "Body": "hi"}));
    assert_eq!(event["payload_encoding"], "form");
    let bytes: Vec<u8> = vec![0, 159, 146, 150, 255];
    let resp = app
        .http
        .post(app.url("/in/forms"))
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let event: Value = app.api_get(&format!("/v1/events/{id}")).await.json().await.unwrap();
    assert_eq!(event["payload_encoding"], "base64");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(event["payload"].as_str().unwrap())
            .unwrap(),
        bytes
    );
    app.stop().await;
}

async fn token_and_basic_sources_authenticate(app: TestApp) {
    app.create_source(json!({"name": "gitlab", "verify": {"scheme": "token", "header": "X-Gitlab-Token", "secrets": ["old-t", "new-t"]}})).await;
    let with = |header: Option<(&'static str, String)>| {
        // Distinct bodies: identical ones would be answered as duplicates (body-hash dedup).
        let mut req = app
            .http
            .post(app.url("/in/gitlab"))
            .json(&json!({"x": ulid::Ulid::new().to_string()}));
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        req.send()
    };
    assert_envelope(with(None).await.unwrap(), 401, "unauthenticated").await;
    assert_envelope(
        with(Some(("x-gitlab-token", "wrong".into()))).await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    assert_eq!(
        with(Some(("x-gitlab-token", "old-t".into()))).await.unwrap().status(),
        202,
        "rotation: old secret"
    );
    let resp = with(Some(("x-gitlab-token", "new-t".into()))).await.unwrap();
    assert_eq!(resp.status(), 202, "rotation: new secret");
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let event = app.api_get(&format!("/v1/events/{id}")).await.text().await.unwrap();
    assert!(!event.contains("new-t"), "the token header is redacted");

    app.create_source(json!({"name": "legacy", "verify": {"scheme": "basic", "secrets": ["hook:pa55"]}}))
        .await;
    let basic = |cred: &str| {
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(cred));
        app.http
            .post(app.url("/in/legacy"))
            .header("authorization", v)
            .json(&json!({}))
            .send()
    };
    assert_eq!(basic("hook:pa55").await.unwrap().status(), 202);
    assert_envelope(basic("hook:nope").await.unwrap(), 401, "unauthenticated").await;
    app.stop().await;
}

async fn every_request_leaves_a_receipt(app: TestApp) {
    app.create_source(json!({"name": "r", "max_body_bytes": 50, "verify": {"scheme": "token", "secrets": ["t"]}}))
        .await;
    let ok = app
        .http
        .post(app.url("/in/r"))
        .bearer_auth("t")
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let _ = app
        .http
        .post(app.url("/in/r"))
        .bearer_auth("bad")
        .json(&json!({"secret": "body-not-kept"}))
        .send()
        .await
        .unwrap();
    let _ = app
        .http
        .post(app.url("/in/r"))
        .bearer_auth("t")
        .json(&json!({"pad": "x".repeat(100)}))
        .send()
        .await
        .unwrap();
    let _ = app.send("ghost", &json!({})).await;
    // Receipts of rejections are written asynchronously; give the writer a moment.
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        let page: Value = app.api_get("/v1/receipts").await.json().await.unwrap();
        outcomes = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["source"].as_str().unwrap().to_string(),
                    r["status_code"].as_i64().unwrap(),
                )
            })
            .collect();
        if outcomes.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        outcomes,
        [
            ("ghost".into(), 404),
            ("r".into(), 413),
            ("r".into(), 401),
            ("r".into(), 202)
        ]
    );
    let src_id = app.api_get("/v1/sources/r").await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id: Value = app
        .api_get(&format!("/v1/receipts?source={src_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        by_id["data"].as_array().unwrap().len(),
        3,
        "the source's receipts by id"
    );
    let page: Value = app.api_get("/v1/receipts?source=r").await.json().await.unwrap();
    let text = page.to_string();
    assert!(!text.contains("body-not-kept"), "rejected bodies are not stored");
    for r in page["data"].as_array().unwrap() {
        assert!(r["request_id"].as_str().unwrap().starts_with("req_"));
        if r["status_code"] != 202 {
            assert!(r["event_id"].is_null());
            assert!(r["reason"].as_str().is_some());
        }
    }
    app.stop().await;
}

/// SPEC §2: a repeated delivery is answered 200 with the first event's id, and stored once, even
/// when the repeats race each other.
async fn duplicate_deliveries_are_answered_with_the_first_event(app: TestApp) {
    app.create_source(json!({"name": "gh", "verify": {"scheme": "token", "secrets": ["t"]}}))
        .await;
    let body = json!({"action": "opened", "number": 7});
    let send = || app.http.post(app.url("/in/gh")).bearer_auth("t").json(&body).send();
    let results = futures::future::join_all((0..100).map(|_| send())).await;
    let mut created = Vec::new();
    let mut duplicates = Vec::new();
    for r in results {
        let r = r.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        match (status, v["status"].as_str().unwrap()) {
            (202, "received") => created.push(v["id"].as_str().unwrap().to_string()),
            (200, "duplicate") => duplicates.push(v["id"].as_str().unwrap().to_string()),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one event");
    assert_eq!(duplicates.len(), 99, "99 duplicate answers");
    assert!(
        duplicates.iter().all(|d| d == &created[0]),
        "each names the first event"
    );
    let page: Value = app.api_get("/v1/events?source=gh").await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let event: Value = app
        .api_get(&format!("/v1/events/{}", created[0]))
        .await
        .json()
        .await
        .unwrap();
    let timeline = event["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 100, "the first receipt and 99 duplicate receipts");
    assert!(
        timeline[1..]
            .iter()
            .all(|t| t["state"] == "duplicate" && t["status_code"] == 200)
    );
    // A different body is a different delivery.
    let other = app
        .http
        .post(app.url("/in/gh"))
        .bearer_auth("t")
        .json(&json!({"action": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 202);
    app.stop().await;
}

async fn event_type_allow_list_and_rate_limit(app: TestApp) {
    app.create_source(json!({"name": "shop", "event_types": ["order.*", "refund.created"]}))
        .await;
    assert_eq!(
        app.send("shop", &json!({"type": "order.created", "n": 1}))
            .await
            .status(),
        202
    );
    assert_eq!(app.send("shop", &json!({"type": "refund.created"})).await.status(), 202);
    let ignored = app.send("shop", &json!({"type": "customer.updated"})).await;
    assert_eq!(ignored.status(), 200);
    assert_eq!(
        ignored.json::<Value>().await.unwrap(),
        json!({"status": "ignored", "type": "customer.updated"})
    );
    assert_eq!(
        app.send("shop", &json!({"no": "type"})).await.status(),
        200,
        "untyped events are not in the list"
    );
    let page: Value = app.api_get("/v1/events?source=shop").await.json().await.unwrap();
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        2,
        "ignored deliveries create no event"
    );

    app.create_source(json!({"name": "slow", "rate_limit": {"per_second": 0.5, "burst": 2}}))
        .await;
    assert_eq!(app.send("slow", &json!({"i": 1})).await.status(), 202);
    assert_eq!(app.send("slow", &json!({"i": 2})).await.status(), 202);
    let limited = app.send("slow", &json!({"i": 3})).await;
    assert_eq!(limited.status(), 429, "third request within the burst window");
    let retry = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry after {retry}");
    assert_envelope(limited, 429, "rate_limited").await;
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        let r: Value = app.api_get("/v1/receipts").await.json().await.unwrap();
        outcomes = r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["status_code"].as_i64().unwrap(),
                    x["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if outcomes.len() >= 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(outcomes.contains(&(429, "rejected".into())), "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| o.1 == "ignored").count(), 2);
    app.stop().await;
}

async fn redacted_paths_are_hidden_in_views_but_kept_raw(app: TestApp) {
    app.create_source(json!({"name": "pii", "redact": ["email", "data.object.card", "items.ssn"]}))
        .await;
    let body = json!({"email": "jane@example.com", "data": {"object": {"card": {"number": "4242424242424242"}, "amount": 7}},
                      "items": [{"ssn": "078-05-1120", "n": 1}]});
    let id = app.send("pii", &body).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = app.api_get(&format!("/v1/events/{id}")).await.text().await.unwrap();
    for secret in ["jane@example.com", "4242424242424242", "078-05-1120"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let v: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["payload"]["data"]["object"]["amount"], 7);
    assert_eq!(v["payload"]["email"], "[redacted]");
    let stored = app.store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&stored.payload).unwrap(),
        body,
        "flows see the raw payload"
    );
    let bad = app
        .api_post("/v1/sources", &json!({"name": "bad", "redact": ["a..b"]}))
        .await;
    assert_envelope(bad, 422, "validation_failed").await;
    app.stop().await;
}

async fn ip_allow_list_trusts_forwarded_for_only_from_proxies(app: TestApp) {
    let post = |source: &'static str, xff: Option<&'static str>| {
        let mut req = app
            .http
            .post(app.url(&format!("/in/{source}")))
            .json(&json!({"n": ulid::Ulid::new().to_string()}));
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        req.send()
    };
    app.create_source(json!({"name": "office", "allow_ips": ["10.0.0.0/8"]}))
        .await;
    assert_envelope(post("office", None).await.unwrap(), 403, "ip_not_allowed").await;
    // Without a trusted proxy the header is the client's word: ignored.
    assert_envelope(post("office", Some("10.1.2.3")).await.unwrap(), 403, "ip_not_allowed").await;
    app.create_source(json!({"name": "proxied", "allow_ips": ["10.0.0.0/8"], "trusted_proxies": ["127.0.0.1/32"]}))
        .await;
    assert_eq!(post("proxied", Some("10.1.2.3")).await.unwrap().status(), 202);
    assert_envelope(
        post("proxied", Some("10.1.2.3, 8.8.8.8")).await.unwrap(),
        403,
        "ip_not_allowed",
    )
    .await;
    app.create_source(json!({"name": "local", "allow_ips": ["127.0.0.0/8", "::1"]}))
        .await;
    assert_eq!(post("local", None).await.unwrap().status(), 202);
    // GET handshakes pass the same gate as deliveries.
    let meta = json!({"name": "meta", "allow_ips": ["10.0.0.0/8"], "verify": {"scheme": "meta", "secrets": ["s"], "verify_token": "vt"}});
    app.create_source(meta).await;
    let get = app
        .http
        .get(app.url("/in/meta?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=42"))
        .send()
        .await
        .unwrap();
    assert_envelope(get, 403, "ip_not_allowed").await;
    let bad = app
        .api_post("/v1/sources", &json!({"name": "bad", "allow_ips": ["10.0.0.0/40"]}))
        .await;
    assert_envelope(bad, 422, "validation_failed").await;
    app.stop().await;
}
