//! What-if runs: `POST /v1/flows/{id}/test` and `/compare` (routes/flow_test.rs).

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::flow::{FlowSpec, RunStatus, StepStatus};
use utoipa::ToSchema;

use super::common::ErrorEnvelope;

const ID: &str = "The flow's id (`flw_…`) or name";

/// Walk over a stored event (`event_id`) or a given `payload` (with an optional `type`); with
/// `definition`, walk that changed definition instead of the active one (its `name` is the
/// flow's; it is checked like any change).
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    #[schema(example = "evt_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub event_id: Option<String>,
    pub payload: Option<Value>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub definition: Option<FlowSpec>,
}

/// What answered an `http` step: the response `recorded` in the event's real run, or the `stub`
/// (`200`, empty body).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AnsweredByView {
    Recorded,
    Stub,
}

/// A request the run would send (none is sent).
#[derive(ToSchema)]
pub struct WhatIfRequestView {
    /// The step's path.
    pub step: String,
    /// `http`, `deliver`, `emit` or `delay`.
    pub kind: String,
    /// http: `{method, url, headers: [[name, value]…], body}` (credentials `********`);
    /// deliver: `{endpoint, endpoint_id, type, payload}`; emit: `{type, payload}`; delay: `{until}`.
    pub request: Value,
    pub answered_by: Option<AnsweredByView>,
}

#[derive(ToSchema)]
pub struct WhatIfStep {
    pub path: String,
    pub status: StepStatus,
    pub output: Option<Value>,
    pub error: Option<Value>,
}

/// A what-if run: nothing was sent, published or stored.
#[derive(ToSchema)]
pub struct WhatIfReport {
    pub flow: String,
    /// The active version walked; null for a changed definition.
    pub version: Option<i64>,
    /// `active` or `changed`.
    pub definition: String,
    pub event_id: String,
    pub status: RunStatus,
    pub filtered_by_trigger: bool,
    /// Flow control as the run would get it: `{key, limit, sequence, waits_seconds}`
    /// (debounce's quiet period); null without `concurrency`, `ordering` or `debounce`.
    pub control: Option<Value>,
    /// The real run whose recorded responses answered `http` steps.
    pub recorded_run: Option<String>,
    pub steps: Vec<WhatIfStep>,
    pub requests: Vec<WhatIfRequestView>,
    /// `{step, class, message}` of the failing step.
    pub error: Option<Value>,
    /// Always false.
    pub sent: bool,
}

#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub definition: FlowSpec,
    /// How many of the trigger's latest events (1–10000, default 100).
    pub last: Option<usize>,
}

#[derive(ToSchema)]
pub struct EventDifference {
    pub event_id: String,
    pub active_status: RunStatus,
    pub changed_status: RunStatus,
    /// `{step, field, active, changed}`: a field of a request that differs (`field: ""` for a
    /// request only one side sends; `field: "status"` when the runs end differently).
    pub differences: Vec<Value>,
}

#[derive(ToSchema)]
pub struct Comparison {
    pub flow: String,
    pub version: i64,
    pub compared: usize,
    pub differing: usize,
    /// The events whose walks differ.
    pub events: Vec<EventDifference>,
    pub sent: bool,
}

/// What-if run: walk the flow (or a changed definition) over a stored event or a given payload,
/// showing every request it would send. Nothing is sent, published or stored; `http` steps are
/// answered from the event's real run when it has one, else by a stub. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/flows/{id}/test", tag = "flows",
    params(("id" = String, Path, description = ID)),
    request_body = WhatIfRequest,
    responses(
        (status = 200, description = "The what-if run", body = WhatIfReport),
        (status = 404, description = "No such flow or event", body = ErrorEnvelope),
        (status = 422, description = "Neither or both of event_id and payload, or an invalid definition (`details.fields`)", body = ErrorEnvelope),
    )
)]
pub fn test_flow() {}

/// Compare the active definition with a changed one over the last N events of the trigger:
/// both are walked what-if over each event, and the requests that differ are shown. Nothing is
/// sent. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/flows/{id}/compare", tag = "flows",
    params(("id" = String, Path, description = ID)),
    request_body = CompareRequest,
    responses(
        (status = 200, description = "Where the two definitions' requests differ", body = Comparison),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
        (status = 422, description = "An invalid definition (`details.fields`) or `last` out of range", body = ErrorEnvelope),
    )
)]
pub fn compare_flow() {}
