//! What `/metrics` shows (SPEC §5), named in one place after Prometheus conventions
//! (`…_total` counters, `…_seconds` histograms). Labels are bounded: source, endpoint, flow and
//! destination names (or ids) and outcomes — never an event, delivery or run id. Counters go to
//! the process-wide `metrics` recorder, installed once ([`install`]); gauges that describe state
//! (the queue, breakers) are set when the page is rendered, from the store and the dispatcher.

use std::sync::OnceLock;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchyard_core::time::now_micros;
use switchyard_store::{Store, StoreError};

use crate::delivery::Dispatcher;
use crate::endpoints::EndpointCatalog;
use crate::jobs::guard::BreakerState;

/// Requests to `/in/{source}` by outcome: `received`, `quarantined`, `duplicate`, `ignored`,
/// `handshake`, or the refusal's error code (`unauthenticated`, `rate_limited`, …). `source` is
/// `unknown` for names that match no source.
pub const INTAKE: &str = "switchyard_intake_requests_total";
/// Requests refused because their signature or credentials did not verify.
pub const VERIFICATION_FAILURES: &str = "switchyard_verification_failures_total";
/// Delivery attempts by endpoint and outcome (`succeeded`, `retrying`, `failed`, …).
pub const DELIVERY_ATTEMPTS: &str = "switchyard_delivery_attempts_total";
/// How long attempts took, by endpoint.
pub const ATTEMPT_SECONDS: &str = "switchyard_delivery_attempt_duration_seconds";
/// Flow step attempts, by flow, step kind and outcome (`succeeded`, `filtered`, `retrying` — a
/// retryable failure, the last one included: the run's end says `dead` — `failed`, `waiting`).
pub const FLOW_STEPS: &str = "switchyard_flow_steps_total";
/// Flow runs ended, by flow and final status.
pub const FLOW_RUNS: &str = "switchyard_flow_runs_total";
/// OAuth2 client-credentials token requests by outcome (`issued`, `refused`, `failed`).
pub const TOKEN_REQUESTS: &str = "switchyard_oauth2_token_requests_total";
/// Jobs waiting or running, by kind (`delivery`, `run`).
pub const QUEUE_JOBS: &str = "switchyard_queue_jobs";
/// How long the oldest due job of a kind has been due (0 when none is).
pub const QUEUE_OLDEST_SECONDS: &str = "switchyard_queue_oldest_age_seconds";
/// Sends held back by a rate limit, a 429 pause or a concurrency cap: by endpoint (a claimed
/// delivery given back) or by destination (a flow step that had to wait for a slot).
pub const RATE_LIMIT_WAITS: &str = "switchyard_rate_limit_waits_total";
/// 1 while an endpoint is paused after a 429 on this node.
pub const ENDPOINT_PAUSED: &str = "switchyard_endpoint_paused";
/// 1 for the state each endpoint's circuit breaker is in on this node (`closed`, `open`,
/// `half_open`), 0 for the others.
pub const CIRCUIT_STATE: &str = "switchyard_endpoint_circuit_state";

const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The recorder, installed on first use; every engine in the process shares it (tests run many).
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(ATTEMPT_SECONDS.to_string()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first; the handle then renders
            // what this one holds (nothing), and the process keeps working.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

pub fn intake(source: &str, outcome: &'static str) {
    counter!(INTAKE, "source" => source.to_string(), "outcome" => outcome).increment(1);
    if outcome == "unauthenticated" {
        counter!(VERIFICATION_FAILURES, "source" => source.to_string()).increment(1);
    }
}

pub fn delivery_attempt(endpoint: &str, outcome: &'static str, seconds: f64) {
    counter!(DELIVERY_ATTEMPTS, "endpoint" => endpoint.to_string(), "outcome" => outcome).increment(1);
    histogram!(ATTEMPT_SECONDS, "endpoint" => endpoint.to_string()).record(seconds);
}

pub fn flow_step(flow: &str, kind: &'static str, outcome: &'static str) {
    counter!(FLOW_STEPS, "flow" => flow.to_string(), "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn flow_run(flow: &str, status: &'static str) {
    counter!(FLOW_RUNS, "flow" => flow.to_string(), "status" => status).increment(1);
}

pub fn token_request(outcome: &'static str) {
    counter!(TOKEN_REQUESTS, "outcome" => outcome).increment(1);
}

pub fn rate_limit_wait(lane: &'static str, name: &str) {
    counter!(RATE_LIMIT_WAITS, "lane" => lane, "name" => name.to_string()).increment(1);
}

pub fn queue(kind: &'static str, jobs: i64, oldest_age_seconds: f64) {
    gauge!(QUEUE_JOBS, "kind" => kind).set(jobs as f64);
    gauge!(QUEUE_OLDEST_SECONDS, "kind" => kind).set(oldest_age_seconds);
}

pub fn circuit(endpoint: &str, state: &'static str) {
    for s in ["closed", "open", "half_open"] {
        gauge!(CIRCUIT_STATE, "endpoint" => endpoint.to_string(), "state" => s).set(if s == state { 1.0 } else { 0.0 });
    }
}

/// The Prometheus text for `/metrics`: the counters recorded so far, with the queue's depth and
/// oldest age read from the store and each endpoint's breaker state on this node.
pub async fn render(
    store: &dyn Store,
    endpoints: &EndpointCatalog,
    dispatcher: &Dispatcher,
) -> Result<String, StoreError> {
    let handle = install();
    let now = now_micros();
    for q in store.queue_stats().await? {
        let age = q.oldest_due_at.map_or(0.0, |due| (now - due).max(0) as f64 / 1e6);
        queue(q.kind.as_str(), q.jobs, age);
    }
    for ep in endpoints.all() {
        let state = match dispatcher.breaker(&ep.id) {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
        };
        let label = ep.spec.name.as_deref().unwrap_or(&ep.id);
        circuit(label, state);
        let paused = dispatcher.paused_until(&ep.id) > now;
        gauge!(ENDPOINT_PAUSED, "endpoint" => label.to_string()).set(if paused { 1.0 } else { 0.0 });
    }
    handle.run_upkeep();
    Ok(handle.render())
}
