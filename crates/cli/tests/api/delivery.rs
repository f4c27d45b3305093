//! Outbound delivery end to end: publish → signed request at a local receiver, and every way a
//! receiver can fail (SPEC §3), on SQLite and PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::source::VerifySpec;
use switchyard_core::time::parse_rfc3339;
use switchyard_core::verify::{SignedRequest, verify};

use switchyard_testkit::app::{ADMIN_KEY, Backend, Options, TestApp, assert_envelope};
use switchyard_testkit::backend_tests;
use switchyard_testkit::receiver::{Received, Receiver, Reply, ok};

backend_tests!(
    published_events_arrive_signed_once_per_matching_endpoint,
    retryable_failures_retry_with_the_same_webhook_id,
    retry_after_is_honoured,
    permanent_failures_gone_and_redirects,
    hung_attempts_time_out_and_are_recorded,
    private_destinations_are_refused,
    dead_deliveries_replay_with_the_same_webhook_id,
    the_cli_lists_and_replays_deliveries,
    a_failing_fifo_head_blocks_only_its_key,
    secret_rotation_signs_with_both_during_the_grace,
    endpoint_definitions_are_validated_and_secrets_masked,
);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn endpoint(app: &TestApp, body: Value) -> Value {
    let resp = app.api_post("/v1/endpoints", &body).await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

async fn publish(app: &TestApp, event_type: &str, payload: Value) -> Value {
    let resp = app
        .api_post("/v1/events", &json!({"type": event_type, "payload": payload}))
        .await;
    assert_eq!(resp.status(), 202);
    resp.json().await.unwrap()
}

/// Verifies a received request as a Standard Webhooks receiver would.
pub(crate) fn verifies(r: &Received, secrets: &[&str]) -> bool {
    let spec: VerifySpec = serde_json::from_value(json!({"scheme": "standard-webhooks"})).unwrap();
    let lookup = |n: &str| r.headers.get(n).map(String::as_str);
    let req = SignedRequest {
        method: "POST",
        url: None,
        body: &r.body,
        now: switchyard_core::time::now_micros() / 1_000_000,
        header: &lookup,
    };
    let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    verify(&spec, &secrets, &req).is_ok()
}

pub(crate) async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    let v: Value = app
        .api_get(&format!("/v1/deliveries?{query}"))
        .await
        .json()
        .await
        .unwrap();
    v["data"].as_array().unwrap().clone()
}

/// Polls until the event's only delivery reaches `status`.
async fn settled(app: &TestApp, event_id: &str, status: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let ds = deliveries(app, &format!("event={event_id}")).await;
        if ds.len() == 1 && ds[0]["status"] == status {
            return ds[0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivery of {event_id} never became {status}: {ds:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn attempts(app: &TestApp, delivery_id: &str) -> Vec<Value> {
    let v: Value = app
        .api_get(&format!("/v1/deliveries/{delivery_id}/attempts"))
        .await
        .json()
        .await
        .unwrap();
    v["data"].as_array().unwrap().clone()
}

async fn published_events_arrive_signed_once_per_matching_endpoint(app: TestApp) {
    let rx = Receiver::start().await;
    let ep = endpoint(
        &app,
        json!({"url": rx.url("/orders"), "secret": SECRET, "event_types": ["order.*"], "headers": {"X-Team": "shop"}}),
    )
    .await;
    assert_eq!(ep["secret"], SECRET, "shown on creation");
    endpoint(
        &app,
        json!({"url": rx.url("/big"), "event_types": ["order.created"], "filter": ".amount > 100"}),
    )
    .await;
    let small = publish(&app, "order.created", json!({"amount": 5})).await;
    assert_eq!(small["deliveries"], 1, "the filtered endpoint is left out");
    let big = publish(&app, "order.created", json!({"amount": 500})).await;
    assert_eq!(big["deliveries"], 2);
    let none = publish(&app, "user.created", json!({})).await;
    assert_eq!(none["deliveries"], 0);
    let got = rx.wait_for("/orders", 2, WAIT).await;
    rx.wait_for("/big", 1, WAIT).await;
    let first = got
        .iter()
        .find(|r| r.headers["webhook-id"] == small["id"].as_str().unwrap())
        .unwrap();
    assert!(verifies(first, &[SECRET]), "{:?}", first.headers);
    assert_eq!(
        serde_json::from_slice::<Value>(&first.body).unwrap(),
        json!({"amount": 5})
    );
    assert_eq!(first.headers["content-type"], "application/json");
    assert!(first.headers["user-agent"].starts_with("Switchyard/"));
    assert_eq!(first.headers["x-team"], "shop");
    let d = settled(&app, small["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(
        (d["attempts"].as_i64(), d["next_attempt_at"].is_null()),
        (Some(1), true)
    );
    let a = attempts(&app, d["id"].as_str().unwrap()).await;
    assert_eq!(
        (a.len(), a[0]["status_code"].as_i64(), a[0]["error_class"].is_null()),
        (1, Some(200), true)
    );
    assert_eq!(a[0]["request_headers"]["webhook-signature"], "[redacted]");
    // A publish with an Idempotency-Key is stored and fanned out once.
    let send = || {
        app.http
            .post(app.url("/v1/events"))
            .bearer_auth(ADMIN_KEY)
            .header("idempotency-key", "pub-1")
            .json(&json!({"type": "order.paid", "payload": {}}))
            .send()
    };
    let (a, b) = (send().await.unwrap(), send().await.unwrap());
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["id"], b["id"]);
    // Stored evidence, not a wait: the repeated publish has exactly one delivery row, and it
    // succeeded after exactly one attempt.
    let d = settled(&app, a["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(d["attempts"], 1);
    rx.wait_for("/orders", 3, WAIT).await;
    let paid: Vec<_> = rx
        .received("/orders")
        .into_iter()
        .filter(|r| r.headers["webhook-id"] == a["id"].as_str().unwrap())
        .collect();
    assert_eq!(paid.len(), 1, "one delivery for the repeated publish");
}

async fn retryable_failures_retry_with_the_same_webhook_id(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/flaky", vec![Reply::Status(503, vec![]), Reply::Close, ok()]);
    endpoint(
        &app,
        json!({"url": rx.url("/flaky"), "retry_schedule_seconds": [0, 0, 0, 0]}),
    )
    .await;
    let ev = publish(&app, "a", json!({"n": 1})).await;
    let got = rx.wait_for("/flaky", 3, WAIT).await;
    assert!(
        got.iter()
            .all(|r| r.headers["webhook-id"] == ev["id"].as_str().unwrap())
    );
    let d = settled(&app, ev["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(d["attempts"], 3);
    let a = attempts(&app, d["id"].as_str().unwrap()).await;
    let classes: Vec<Value> = a.iter().map(|a| a["error_class"].clone()).collect();
    assert_eq!(classes[0], "http_503");
    assert!(classes[1] == "io" || classes[1] == "connect", "{classes:?}");
    assert!(classes[2].is_null());
}

async fn retry_after_is_honoured(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script(
        "/limited",
        vec![Reply::Status(429, vec![("retry-after", "2".into())]), ok()],
    );
    let ep = endpoint(
        &app,
        json!({"url": rx.url("/limited"), "retry_schedule_seconds": [0, 0]}),
    )
    .await;
    let ev = publish(&app, "a", json!({})).await;
    rx.wait_for("/limited", 1, WAIT).await;
    // Evidence from what the server recorded, not from the test's clock: the retry was scheduled
    // Retry-After's 2 s after the attempt over a 0 s schedule, and did not start before that.
    let view = format!("/v1/endpoints/{}", ep["id"].as_str().unwrap());
    // The pause shows on the endpoint while it lasts: it must be seen before the retry comes.
    let v = loop {
        let retried = rx.received("/limited").len() >= 2;
        let v: Value = app.api_get(&view).await.json().await.unwrap();
        if v["paused_until"].is_string() {
            break v;
        }
        assert!(
            !retried,
            "the pause was never shown on the endpoint before the retry: {v}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let d = settled(&app, ev["id"].as_str().unwrap(), "succeeded").await;
    let a = attempts(&app, d["id"].as_str().unwrap()).await;
    assert_eq!(a.len(), 2, "{a:?}");
    let at = |i: usize| parse_rfc3339(a[i]["at"].as_str().unwrap()).unwrap();
    assert_eq!(a[0]["status_code"], 429);
    assert!(
        at(1) - at(0) >= 2_000_000,
        "Retry-After: 2 was honoured over a 0 s schedule: {a:?}"
    );
    // What the endpoint showed during the pause is the pause Retry-After asked for.
    let until = parse_rfc3339(v["paused_until"].as_str().unwrap()).unwrap();
    assert!(until >= at(0) + 2_000_000, "{v}");
}

async fn permanent_failures_gone_and_redirects(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/bad", vec![Reply::Status(400, vec![])]);
    rx.script("/gone", vec![Reply::Status(410, vec![])]);
    rx.script(
        "/moved",
        vec![Reply::Status(302, vec![("location", rx.url("/elsewhere"))])],
    );
    endpoint(&app, json!({"url": rx.url("/bad"), "event_types": ["bad"]})).await;
    let gone = endpoint(&app, json!({"url": rx.url("/gone"), "event_types": ["gone"]})).await;
    endpoint(
        &app,
        json!({"url": rx.url("/moved"), "event_types": ["moved"], "retry_schedule_seconds": [0, 0]}),
    )
    .await;
    let bad = publish(&app, "bad", json!({})).await;
    let d = settled(&app, bad["id"].as_str().unwrap(), "failed").await;
    assert_eq!(
        (d["attempts"].as_i64(), d["last_status_code"].as_i64()),
        (Some(1), Some(400))
    );
    let g = publish(&app, "gone", json!({})).await;
    settled(&app, g["id"].as_str().unwrap(), "failed").await;
    let shown: Value = app
        .api_get(&format!("/v1/endpoints/{}", gone["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["enabled"], false, "410 disables the endpoint");
    assert!(shown["disabled_reason"].as_str().unwrap().contains("410"));
    let again = publish(&app, "gone", json!({})).await;
    assert_eq!(again["deliveries"], 0, "a disabled endpoint gets nothing new");
    // The disable is itself an event, for alerting and for endpoints subscribed to it.
    let deadline = std::time::Instant::now() + WAIT;
    let notice = loop {
        let page: Value = app
            .api_get("/v1/events?type=switchyard.endpoint.disabled")
            .await
            .json()
            .await
            .unwrap();
        if let Some(first) = page["data"].as_array().and_then(|d| d.first()) {
            break first.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no switchyard.endpoint.disabled event"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let shown: Value = app
        .api_get(&format!("/v1/events/{}", notice["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["payload"]["endpoint_id"], gone["id"]);
    assert!(shown["payload"]["reason"].as_str().unwrap().contains("410"));
    let m = publish(&app, "moved", json!({})).await;
    let d = settled(&app, m["id"].as_str().unwrap(), "dead").await;
    assert_eq!(d["attempts"], 2, "a redirect is a retryable failure, never followed");
    assert!(rx.received("/elsewhere").is_empty());
}

/// With a long outbound timeout, the healthy endpoint receiving everything while the hanging
/// one has not finished a single attempt shows that nothing waited for the hang.
async fn hanging_endpoint_leaves_healthy_one_alone(backend: Backend) {
    let opts = Options {
        outbound_timeout: Some(Duration::from_secs(60)),
        ..Options::default()
    };
    let Some(app) = TestApp::spawn_with(backend, opts).await else {
        return;
    };
    let rx = Receiver::start().await;
    rx.script("/hang", vec![Reply::Hang]);
    endpoint(&app, json!({"url": rx.url("/hang"), "max_concurrency": 2})).await;
    endpoint(&app, json!({"url": rx.url("/healthy")})).await;
    for i in 0..30 {
        publish(&app, "t", json!({"i": i})).await;
    }
    rx.wait_for("/healthy", 30, WAIT).await;
    rx.wait_for("/hang", 2, WAIT).await;
    // Results are recorded in batches just after the answers arrive.
    let deadline = std::time::Instant::now() + WAIT;
    while deliveries(&app, "status=succeeded").await.len() < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "every healthy delivery is recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pending = deliveries(&app, "status=pending&limit=100").await;
    assert_eq!(pending.len(), 30, "the hanging endpoint's deliveries wait");
    let tried = futures::future::join_all(pending.iter().map(|d| attempts(&app, d["id"].as_str().unwrap()))).await;
    assert!(tried.iter().all(Vec::is_empty), "no hung attempt has ended yet");
    assert_eq!(rx.received("/hang").len(), 2, "its concurrency cap holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_delay_a_healthy_one_sqlite() {
    hanging_endpoint_leaves_healthy_one_alone(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_delay_a_healthy_one_postgres() {
    hanging_endpoint_leaves_healthy_one_alone(Backend::Postgres).await;
}

async fn hung_attempts_time_out_and_are_recorded(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/hang", vec![Reply::Hang]);
    endpoint(&app, json!({"url": rx.url("/hang"), "retry_schedule_seconds": [0]})).await;
    let ev = publish(&app, "t", json!({})).await;
    let d = settled(&app, ev["id"].as_str().unwrap(), "dead").await;
    let a = attempts(&app, d["id"].as_str().unwrap()).await;
    assert_eq!(a[0]["error_class"], "timeout");
    assert!(a[0]["status_code"].is_null());
}

async fn private_destinations_are_refused(app: TestApp) {
    for (i, url) in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x",
    ]
    .iter()
    .enumerate()
    {
        endpoint(&app, json!({"url": url, "event_types": [format!("t{i}")]})).await;
        let ev = publish(&app, &format!("t{i}"), json!({})).await;
        let d = settled(&app, ev["id"].as_str().unwrap(), "failed").await;
        let a = attempts(&app, d["id"].as_str().unwrap()).await;
        assert_eq!(a[0]["error_class"], "destination_refused", "{url}");
        assert!(
            a[0]["response_excerpt"]
                .as_str()
                .unwrap()
                .contains("--allow-destinations")
        );
    }
}

async fn dead_deliveries_replay_with_the_same_webhook_id(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/down", vec![Reply::Status(500, vec![])]);
    let ep = endpoint(&app, json!({"url": rx.url("/down"), "retry_schedule_seconds": [0, 0]})).await;
    let ev = publish(&app, "a", json!({"x": 1})).await;
    let d = settled(&app, ev["id"].as_str().unwrap(), "dead").await;
    rx.script("/down", vec![ok()]);
    let resp = app
        .api_post(
            &format!("/v1/deliveries/{}/replay", d["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let d2 = settled(&app, ev["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(d2["id"], d["id"]);
    let got = rx.received("/down");
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.headers["webhook-id"] == ev["id"].as_str().unwrap())
    );
    // Replay by endpoint since a time, and by event.
    rx.script("/down", vec![Reply::Status(500, vec![])]);
    let ev2 = publish(&app, "a", json!({"x": 2})).await;
    settled(&app, ev2["id"].as_str().unwrap(), "dead").await;
    rx.script("/down", vec![ok()]);
    let r: Value = app
        .api_post(
            &format!("/v1/endpoints/{}/replay", ep["id"].as_str().unwrap()),
            &json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["replayed"], 1, "only failed or dead deliveries");
    settled(&app, ev2["id"].as_str().unwrap(), "succeeded").await;
    let r: Value = app
        .api_post(
            &format!("/v1/events/{}/replay", ev2["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["replayed"], 1);
    rx.wait_for("/down", 6, WAIT).await;
    let missing = app.api_post("/v1/deliveries/dlv_nope/replay", &json!({})).await;
    assert_envelope(missing, 404, "not_found").await;
}

async fn cli(app: &TestApp, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env("SWITCHYARD_URL", &app.base)
        .env("SWITCHYARD_KEY", ADMIN_KEY)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn the_cli_lists_and_replays_deliveries(app: TestApp) {
    let rx = Receiver::start().await;
    rx.script("/cli", vec![Reply::Status(500, vec![])]);
    let ep = endpoint(&app, json!({"url": rx.url("/cli"), "retry_schedule_seconds": [0]})).await;
    let mut events = Vec::new();
    for i in 0..3 {
        let ev = publish(&app, "a", json!({"i": i})).await;
        settled(&app, ev["id"].as_str().unwrap(), "dead").await;
        events.push(ev["id"].as_str().unwrap().to_string());
    }
    let listed = cli(&app, &["deliveries", "list", "--status", "dead"]).await;
    assert_eq!(listed.lines().count(), 4, "a header and three rows:\n{listed}");
    rx.script("/cli", vec![ok()]);
    let one = cli(&app, &["deliveries", "replay", "--event", &events[0]]).await;
    assert_eq!(one.trim(), "replayed 1: 1 settled, 0 still pending");
    let ep_id = ep["id"].as_str().unwrap();
    let rest = cli(
        &app,
        &[
            "deliveries",
            "replay",
            "--endpoint",
            ep_id,
            "--since",
            "2000-01-01T00:00:00Z",
        ],
    )
    .await;
    assert_eq!(rest.trim(), "replayed 2: 2 settled, 0 still pending");
    assert_eq!(deliveries(&app, "status=succeeded").await.len(), 3);
    let again = cli(
        &app,
        &[
            "deliveries",
            "replay",
            "--endpoint",
            ep_id,
            "--since",
            "2000-01-01T00:00:00Z",
        ],
    )
    .await;
    assert_eq!(
        again.trim(),
        "replayed 0",
        "only failed or dead deliveries are replayed"
    );
    // `events replay` (SPEC §1) sends an event again, even a delivered one, with its webhook-id.
    let before = rx.received("/cli").len();
    let replayed = cli(&app, &["events", "replay", &events[1]]).await;
    assert_eq!(replayed.trim(), "replayed 1: 1 settled, 0 still pending");
    let got = rx.wait_for("/cli", before + 1, WAIT).await;
    assert_eq!(got.last().unwrap().headers["webhook-id"], events[1]);
}

async fn secret_rotation_signs_with_both_during_the_grace(app: TestApp) {
    let rx = Receiver::start().await;
    let ep = endpoint(&app, json!({"url": rx.url("/r"), "secret": SECRET})).await;
    let id = ep["id"].as_str().unwrap();
    let rotated: Value = app
        .api_post(
            &format!("/v1/endpoints/{id}/secret/rotate"),
            &json!({"grace_seconds": 3600}),
        )
        .await
        .json()
        .await
        .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != SECRET);
    publish(&app, "a", json!({})).await;
    let got = rx.wait_for("/r", 1, WAIT).await;
    assert_eq!(got[0].headers["webhook-signature"].split(' ').count(), 2);
    assert!(verifies(&got[0], &[SECRET]), "the old secret still verifies");
    assert!(verifies(&got[0], &[&new]), "so does the new one");
    assert!(!verifies(&got[0], &["whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ="]));
}

async fn endpoint_definitions_are_validated_and_secrets_masked(app: TestApp) {
    for (body, field) in [
        (json!({"url": "ftp://x"}), "url"),
        (json!({"url": "https://x.example", "filter": "def f: f; f"}), "filter"),
        (
            json!({"url": "https://x.example", "headers": {"webhook-signature": "x"}}),
            "headers",
        ),
    ] {
        let err = assert_envelope(app.api_post("/v1/endpoints", &body).await, 422, "validation_failed").await;
        assert_eq!(err["details"]["fields"][0]["field"], field, "{body}");
    }
    let bad_secret = app
        .api_post("/v1/endpoints", &json!({"url": "https://x.example", "secret": "nope"}))
        .await;
    assert_envelope(bad_secret, 422, "validation_failed").await;
    let ep = endpoint(
        &app,
        json!({"url": "https://x.example", "headers": {"Authorization": "Bearer top-secret"}}),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    let shown = app.api_get(&format!("/v1/endpoints/{id}")).await.text().await.unwrap();
    assert!(!shown.contains("top-secret") && !shown.contains("whsec_"), "{shown}");
    let v: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["circuit"]["state"], "closed");
    let listed = app.api_get("/v1/endpoints").await.text().await.unwrap();
    assert!(!listed.contains("top-secret") && !listed.contains("whsec_"));
    let missing = app.api_get("/v1/endpoints/ep_nope").await;
    assert_envelope(missing, 404, "not_found").await;
    let unknown = app.api_post("/v1/events", &json!({"type": "a"})).await;
    assert_envelope(unknown, 422, "validation_failed").await;
}

async fn a_failing_fifo_head_blocks_only_its_key(app: TestApp) {
    let rx = Receiver::start().await;
    // Customer a's first order fails twice, then everything succeeds.
    rx.fail_body(r#""customer":"a","n":1"#, 2);
    endpoint(
        &app,
        json!({"url": rx.url("/fifo"), "ordering_key": ".customer", "retry_schedule_seconds": [0, 1, 1]}),
    )
    .await;
    let a1 = publish(&app, "o", json!({"customer": "a", "n": 1})).await;
    rx.wait_for("/fifo", 1, WAIT).await;
    let a2 = publish(&app, "o", json!({"customer": "a", "n": 2})).await;
    let b1 = publish(&app, "o", json!({"customer": "b", "n": 1})).await;
    let got = rx.wait_for("/fifo", 5, WAIT).await;
    let order: Vec<&str> = got.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
    let (a1, a2, b1) = (
        a1["id"].as_str().unwrap(),
        a2["id"].as_str().unwrap(),
        b1["id"].as_str().unwrap(),
    );
    assert_eq!(
        order.iter().filter(|id| **id == a1).count(),
        3,
        "a1 tried until it succeeded: {order:?}"
    );
    let last_a1 = order.iter().rposition(|id| *id == a1).unwrap();
    let first_a2 = order.iter().position(|id| *id == a2).unwrap();
    assert!(first_a2 > last_a1, "a2 waited for a1 to succeed: {order:?}");
    let first_b1 = order.iter().position(|id| *id == b1).unwrap();
    assert!(first_b1 < last_a1, "b1 did not wait for customer a: {order:?}");
}
