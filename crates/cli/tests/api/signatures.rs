//! Signed sources end to end: for each scheme, an authentic delivery is accepted and a forged,
//! tampered or stale one is refused with 401 — through the real server and storage.

use serde_json::{Value, json};
use switchyard_core::source::VerifySpec;
use switchyard_core::verify::{Outgoing, sign, twilio_json_url};

use switchyard_testkit::app::{TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

backend_tests!(
    each_scheme_accepts_its_providers_own_requests_by_default,
    each_scheme_accepts_authentic_and_refuses_forged,
    handshakes_are_answered_and_create_no_event
);

fn now() -> i64 {
    switchyard_core::time::now_micros() / 1_000_000
}

async fn deliver(
    app: &TestApp,
    source: &str,
    verify: &Value,
    secret: &str,
    body: &[u8],
    ts: i64,
    ct: &str,
) -> reqwest::Response {
    let spec: VerifySpec = serde_json::from_value(verify.clone()).unwrap();
    let mut url = app.url(&format!("/in/{source}"));
    if spec.scheme == switchyard_core::source::Scheme::Twilio && ct == "application/json" {
        url = twilio_json_url(&url, body);
    }
    let out = Outgoing {
        body,
        timestamp: ts,
        id: "msg_e2e",
        url: &url,
        method: "POST",
    };
    let mut req = app.http.post(&url).header("content-type", ct).body(body.to_vec());
    for (k, v) in sign(&spec, secret, &out).unwrap() {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

/// A source name, its `verify`, the secret, and the requests (content type, body) to send.
type ProviderCase = (&'static str, Value, &'static str, Vec<(&'static str, &'static str)>);

/// For every scheme, a request shaped as its provider documents it — content type (with the
/// charset some add), body encoding and shape — is accepted by a source that names only its
/// scheme and secret: no `accept` option needed.
async fn each_scheme_accepts_its_providers_own_requests_by_default(app: TestApp) {
    const JSON: &str = "application/json";
    const JSON_UTF8: &str = "application/json; charset=utf-8";
    const FORM: &str = "application/x-www-form-urlencoded";
    const FORM_UTF8: &str = "application/x-www-form-urlencoded; charset=utf-8";
    let base = app.url("");
    let url_of = |name: &str| format!("{base}/in/{name}");
    let sw_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // (source, verify, secret, [(content type, body)]) — bodies as each provider's docs show them.
    let cases: Vec<ProviderCase> = vec![
        (
            "none",
            json!({"scheme": "none"}),
            "",
            vec![(JSON, r#"{"type":"hello"}"#)],
        ),
        (
            "token",
            json!({"scheme": "token"}),
            "tok-123",
            vec![(JSON, r#"{"object_kind":"push"}"#)],
        ),
        (
            "basic",
            json!({"scheme": "basic"}),
            "user:pass",
            vec![(JSON, r#"{"type":"x"}"#)],
        ),
        (
            "sw",
            json!({"scheme": "standard-webhooks"}),
            sw_secret,
            vec![(
                JSON,
                r#"{"type":"contact.created","timestamp":"2026-01-01T00:00:00Z","data":{}}"#,
            )],
        ),
        (
            "stripe",
            json!({"scheme": "stripe"}),
            "whsec_s",
            vec![(
                JSON_UTF8,
                r#"{"id":"evt_1","object":"event","type":"charge.succeeded","data":{"object":{}}}"#,
            )],
        ),
        (
            "github",
            json!({"scheme": "github"}),
            "gh",
            vec![
                (JSON, r#"{"action":"opened","repository":{"id":1}}"#),
                // A hook set to form: the JSON is in the payload field.
                (
                    FORM,
                    "payload=%7B%22action%22%3A%22closed%22%2C%22repository%22%3A%7B%22id%22%3A1%7D%7D",
                ),
            ],
        ),
        (
            "shopify",
            json!({"scheme": "shopify"}),
            "shp",
            vec![(JSON, r##"{"id":549755813,"name":"#1001","total_price":"49.00"}"##)],
        ),
        (
            "slack",
            json!({"scheme": "slack"}),
            "slk",
            vec![
                (
                    JSON,
                    r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#,
                ),
                // Interactivity: a form whose payload field holds JSON.
                (
                    FORM,
                    "payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%221%22%7D",
                ),
                // Slash commands: plain form fields.
                (
                    FORM,
                    "token=x&team_id=T1&command=%2Fweather&text=94070&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1",
                ),
            ],
        ),
        (
            "twilio",
            json!({"scheme": "twilio", "url": url_of("twilio")}),
            "tw",
            vec![
                (
                    FORM_UTF8,
                    "MessageSid=SM1&AccountSid=AC1&From=%2B15551234567&To=%2B15557654321&Body=Hi&MessageStatus=delivered",
                ),
                // Products that post JSON sign the URL with bodySHA256.
                (
                    JSON,
                    r#"[{"specversion":"1.0","type":"com.twilio.messaging.message.delivered","id":"EZ1"}]"#,
                ),
            ],
        ),
        (
            "square",
            json!({"scheme": "square", "url": url_of("square")}),
            "sq",
            vec![(
                JSON,
                r#"{"merchant_id":"M1","type":"payment.created","event_id":"e1","data":{}}"#,
            )],
        ),
        (
            "paddle",
            json!({"scheme": "paddle"}),
            "pdl",
            vec![(
                JSON,
                r#"{"event_id":"evt_01","event_type":"subscription.created","data":{}}"#,
            )],
        ),
        (
            "zoom",
            json!({"scheme": "zoom"}),
            "zm",
            vec![(
                JSON_UTF8,
                r#"{"event":"meeting.started","payload":{"object":{}},"event_ts":1}"#,
            )],
        ),
        (
            "meta",
            json!({"scheme": "meta"}),
            "mt",
            vec![(
                JSON,
                r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}"#,
            )],
        ),
        (
            "typeform",
            json!({"scheme": "typeform"}),
            "tf",
            vec![(
                JSON,
                r#"{"event_id":"01","event_type":"form_response","form_response":{}}"#,
            )],
        ),
        (
            "hubspot",
            json!({"scheme": "hubspot", "url": url_of("hubspot")}),
            "hs",
            vec![(
                JSON,
                r#"[{"eventId":100,"subscriptionType":"contact.propertyChange","objectId":123}]"#,
            )],
        ),
        (
            "hmac",
            json!({"scheme": "hmac", "header": "X-Signature"}),
            "hm",
            vec![(JSON, r#"{"type":"x"}"#)],
        ),
    ];
    for (name, verify, secret, requests) in cases {
        let mut v = verify.clone();
        if !secret.is_empty() {
            v["secrets"] = json!([secret]);
        }
        let created = app.create_source(json!({"name": name, "verify": v})).await;
        assert!(
            created.get("accept").is_none_or(Value::is_null),
            "no accept option: {created}"
        );
        for (ct, body) in requests {
            let resp = deliver(&app, name, &verify, secret, body.as_bytes(), now(), ct).await;
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 202, "{name} with {ct}: {text}");
        }
    }
    // A JSON-only provider's source still refuses a form, saying what it takes.
    let resp = deliver(
        &app,
        "stripe",
        &json!({"scheme": "stripe"}),
        "whsec_s",
        b"a=1",
        now(),
        FORM,
    )
    .await;
    let err = assert_envelope(resp, 415, "unsupported_media_type").await;
    assert!(err["message"].as_str().unwrap().contains("application/json"), "{err}");
    app.stop().await;
}

async fn each_scheme_accepts_authentic_and_refuses_forged(app: TestApp) {
    let base = app.url("");
    let cases = [
        ("stripe", json!({"scheme": "stripe"}), "whsec_stripe_secret", true),
        ("github", json!({"scheme": "github"}), "gh-secret", false),
        (
            "sw",
            json!({"scheme": "standard-webhooks"}),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            true,
        ),
        ("slack", json!({"scheme": "slack"}), "slack-signing-secret", true),
        ("paddle", json!({"scheme": "paddle"}), "pdl_ntfset_secret", true),
        (
            "tw",
            json!({"scheme": "twilio", "url": format!("{base}/in/tw")}),
            "twilio-auth-token",
            false,
        ),
        (
            "hub",
            json!({"scheme": "hubspot", "url": format!("{base}/in/hub")}),
            "hubspot-client-secret",
            true,
        ),
        (
            "gen",
            json!({"scheme": "hmac", "header": "X-Sig", "prefix": "sha512=", "algorithm": "sha512",
                       "template": "{timestamp}.{body}", "timestamp_header": "X-Ts"}),
            "generic",
            true,
        ),
    ];
    for (name, verify, secret, timestamped) in cases {
        let mut v = verify.clone();
        v["secrets"] = json!(["an-old-secret-still-active", secret]);
        if name == "sw" {
            v["secrets"] = json!(["whsec_b2xkLXNlY3JldA==", secret]);
        }
        app.create_source(json!({"name": name, "verify": v})).await;
        let body = br#"{"id":"evt_test_1","type":"thing.happened"}"#;
        let ok = deliver(&app, name, &verify, secret, body, now(), "application/json").await;
        assert_eq!(ok.status(), 202, "{name}: authentic delivery");
        let forger = if name == "sw" {
            "whsec_Zm9yZ2VkLWtleQ=="
        } else {
            "not-the-secret"
        };
        let forged = deliver(&app, name, &verify, forger, body, now(), "application/json").await;
        assert_envelope(forged, 401, "unauthenticated").await;
        // Tampered: sign one body, send another.
        let spec: VerifySpec = serde_json::from_value(verify.clone()).unwrap();
        let url = app.url(&format!("/in/{name}"));
        let signed_url = if name == "tw" {
            twilio_json_url(&url, body)
        } else {
            url.clone()
        };
        let out = Outgoing {
            body,
            timestamp: now(),
            id: "msg_x",
            url: &signed_url,
            method: "POST",
        };
        let mut req = app
            .http
            .post(&signed_url)
            .header("content-type", "application/json")
            .body(r#"{"id":"evt_test_2"}"#);
        for (k, v) in sign(&spec, secret, &out).unwrap() {
            req = req.header(k, v);
        }
        assert_envelope(req.send().await.unwrap(), 401, "unauthenticated").await;
        if timestamped {
            let stale = deliver(&app, name, &verify, secret, body, now() - 3600, "application/json").await;
            let err = assert_envelope(stale, 401, "unauthenticated").await;
            assert!(err["message"].as_str().unwrap().contains("tolerance"), "{name}: {err}");
        }
        let unsigned = app.http.post(&url).json(&json!({"x": 1})).send().await.unwrap();
        assert_envelope(unsigned, 401, "unauthenticated").await;
    }
    // Twilio's usual form-encoded body, on a source that accepts any content type.
    let tw = json!({"scheme": "twilio", "url": format!("{base}/in/twform")});
    let mut v = tw.clone();
    v["secrets"] = json!(["twilio-auth-token"]);
    app.create_source(json!({"name": "twform", "verify": v, "accept": "any"}))
        .await;
    let form = b"From=%2B15551234567&Body=hello&To=%2B15557654321";
    let ok = deliver(
        &app,
        "twform",
        &tw,
        "twilio-auth-token",
        form,
        now(),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(ok.status(), 202);
    // The signature header never reaches storage.
    let id = ok.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let event = app.api_get(&format!("/v1/events/{id}")).await.text().await.unwrap();
    assert!(event.contains(r#""x-twilio-signature":"[redacted]""#), "{event}");
    app.stop().await;
}

async fn handshakes_are_answered_and_create_no_event(app: TestApp) {
    let slack = json!({"scheme": "slack"});
    app.create_source(json!({"name": "slack", "verify": {"scheme": "slack", "secrets": ["ss"]}}))
        .await;
    let challenge = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let resp = deliver(&app, "slack", &slack, "ss", challenge, now(), "application/json").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    let forged = deliver(&app, "slack", &slack, "not-ss", challenge, now(), "application/json").await;
    assert_envelope(forged, 401, "unauthenticated").await;

    let zoom = json!({"scheme": "zoom"});
    app.create_source(json!({"name": "zoom", "verify": {"scheme": "zoom", "secrets": ["zs"]}}))
        .await;
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let resp = deliver(&app, "zoom", &zoom, "zs", body, now(), "application/json").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        v["encryptedToken"],
        switchyard_core::verify::hmac_sha256_hex(b"zs", b"qgg8vlvZRS6UYooatFL8Aw")
    );

    app.create_source(
        json!({"name": "meta", "verify": {"scheme": "meta", "secrets": ["app"], "verify_token": "vt-1"}}),
    )
    .await;
    let ok = app
        .http
        .get(app.url("/in/meta?hub.mode=subscribe&hub.verify_token=vt-1&hub.challenge=1158201444"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let bad = app
        .http
        .get(app.url("/in/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_envelope(bad, 403, "handshake_refused").await;

    app.create_source(json!({"name": "graph"})).await;
    let g = app
        .http
        .post(app.url("/in/graph?validationToken=Validation%3A%20Testing%20client"))
        .send()
        .await
        .unwrap();
    assert_eq!(g.status(), 200);
    assert!(g.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(g.text().await.unwrap(), "Validation: Testing client");
    assert_envelope(
        app.http.get(app.url("/in/graph")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;

    let events: Value = app.api_get("/v1/events").await.json().await.unwrap();
    assert!(
        events["data"].as_array().unwrap().is_empty(),
        "handshakes create no event"
    );
    let mut handshakes = 0;
    for _ in 0..50 {
        let receipts: Value = app.api_get("/v1/receipts").await.json().await.unwrap();
        handshakes = receipts["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "handshake")
            .count();
        if handshakes == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(handshakes, 4, "each answered handshake leaves a receipt");
    app.stop().await;
}
