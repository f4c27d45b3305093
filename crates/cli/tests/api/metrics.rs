//! `/metrics` (SPEC §5) on SQLite and PostgreSQL, read with a Prometheus text-format parser:
//! intake by source and outcome (unknown names as `unknown`), delivery attempts by endpoint and
//! outcome with their latency histogram, flow steps by kind and outcome and runs by status, the
//! queue per job kind, each endpoint's breaker and 429 pause, and a step waiting for a
//! destination's slot. Labels never carry an event id. The
//! recorder is process-wide, so each run names its own source, endpoint and flow.

use serde_json::{Value, json};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_testkit::app::{TestApp, eventually};
use switchyard_testkit::backend_tests;
use switchyard_testkit::receiver::{Receiver, Reply};

use crate::delivery::endpoint;
use crate::flows::{destination, flow, run_ends};

backend_tests!(metrics_count_intake_deliveries_and_flow_steps_with_bounded_labels);

fn unique(prefix: &str) -> String {
    let id = new_id(IdKind::Request).to_lowercase();
    format!("{prefix}-{}", &id[id.len() - 10..])
}

async fn scrape(app: &TestApp) -> (String, prometheus_parse::Scrape) {
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = resp.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    (text, scrape)
}

/// The value of the one sample of `name` whose labels include all of `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

async fn metrics_count_intake_deliveries_and_flow_steps_with_bounded_labels(app: TestApp) {
    let (source, ep, flow_name) = (unique("src"), unique("ep"), unique("flow"));
    let rx = Receiver::start().await;
    app.create_source(json!({"name": source})).await;
    endpoint(&app, json!({"name": ep, "url": rx.url("/hook"), "sources": [source]})).await;
    let mut event_ids = Vec::new();
    for n in 0..2 {
        let resp = app.send(&source, &json!({"type": "order.created", "n": n})).await;
        assert_eq!(resp.status(), 202);
        event_ids.push(resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(app.send("no-such-source", &json!({})).await.status(), 404);
    let dst = destination(&app, json!({"name": unique("dst"), "base_url": rx.url("")})).await;
    flow(
        &app,
        json!({"name": flow_name, "trigger": {"manual": true}, "steps": [
            {"id": "shape", "map": "{n: .payload.n}"},
            {"id": "call", "http": {"destination": dst["name"], "path": "/called", "body": ".steps.shape.output"}}
        ]}),
    )
    .await;
    let started = app
        .api_post(&format!("/v1/flows/{flow_name}/runs"), &json!({"payload": {"n": 1}}))
        .await;
    let run_id = started.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    run_ends(&app, &run_id, "succeeded").await;
    // Two items at once against a destination that takes one call at a time: one waits.
    rx.script("/slow", vec![Reply::Slow(300), Reply::Slow(300)]);
    let narrow = destination(
        &app,
        json!({"name": unique("dst"), "base_url": rx.url(""), "max_concurrency": 1}),
    )
    .await;
    let fan = unique("flow");
    flow(
        &app,
        json!({"name": fan, "trigger": {"manual": true}, "steps": [
            {"id": "each", "foreach": {"items": "[1, 2]", "concurrency": 2, "steps": [
                {"id": "call", "http": {"destination": narrow["name"], "path": "/slow", "body": "{i: .item}"}}
            ]}}
        ]}),
    )
    .await;
    let fanned = app
        .api_post(&format!("/v1/flows/{fan}/runs"), &json!({"payload": {}}))
        .await;
    let fanned = fanned.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    run_ends(&app, &fanned, "succeeded").await;
    eventually("both deliveries are attempted", || async {
        let (_, s) = scrape(&app).await;
        value(
            &s,
            "switchyard_delivery_attempts_total",
            &[("endpoint", &ep), ("outcome", "succeeded")],
        ) == Some(2.0)
    })
    .await;

    let (text, s) = scrape(&app).await;
    let intake = |outcome: &str| {
        value(
            &s,
            "switchyard_intake_requests_total",
            &[("source", &source), ("outcome", outcome)],
        )
    };
    assert_eq!(intake("received"), Some(2.0));
    assert!(
        value(
            &s,
            "switchyard_intake_requests_total",
            &[("source", "unknown"), ("outcome", "source_not_found")]
        ) >= Some(1.0),
        "an unknown name is counted as `unknown`, never as itself"
    );
    assert!(!text.contains("no-such-source"));
    let latency = value(&s, "switchyard_delivery_attempt_duration_seconds", &[("endpoint", &ep)]);
    assert_eq!(latency, Some(2.0), "two attempts in the histogram");
    let step = |kind: &str| {
        value(
            &s,
            "switchyard_flow_steps_total",
            &[("flow", &flow_name), ("kind", kind), ("outcome", "succeeded")],
        )
    };
    assert_eq!((step("map"), step("http")), (Some(1.0), Some(1.0)));
    assert_eq!(
        value(
            &s,
            "switchyard_flow_runs_total",
            &[("flow", &flow_name), ("status", "succeeded")]
        ),
        Some(1.0)
    );
    for kind in ["delivery", "run"] {
        assert!(
            value(&s, "switchyard_queue_jobs", &[("kind", kind)]).is_some(),
            "{kind} queue depth"
        );
        assert!(value(&s, "switchyard_queue_oldest_age_seconds", &[("kind", kind)]).is_some());
    }
    assert_eq!(
        value(
            &s,
            "switchyard_endpoint_circuit_state",
            &[("endpoint", &ep), ("state", "closed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "switchyard_endpoint_circuit_state",
            &[("endpoint", &ep), ("state", "open")]
        ),
        Some(0.0)
    );
    let narrow_name = narrow["name"].as_str().unwrap();
    let waits = value(
        &s,
        "switchyard_rate_limit_waits_total",
        &[("lane", "destination"), ("name", narrow_name)],
    );
    assert_eq!(waits, Some(1.0), "the second item waited for the slot");
    assert_eq!(value(&s, "switchyard_endpoint_paused", &[("endpoint", &ep)]), Some(0.0));
    for id in event_ids.iter().chain([&run_id]) {
        assert!(!text.contains(id.as_str()), "no event or run id in a label");
    }
}
