//! `/v1/flows` (routes/flows.rs): the definition (`FlowSpec`, from core) with its id, version
//! and times; versions; manual runs.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::flow::{FlowSpec, OnFailure, Step, Trigger};
use utoipa::ToSchema;

use super::common::{ErrorEnvelope, ListParams, Page};

/// A flow as the API shows it. A `PUT` may send a view back whole: its read-only fields are
/// ignored.
#[derive(ToSchema)]
pub struct FlowView {
    #[schema(example = "flw_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub name: String,
    pub trigger: Trigger,
    pub steps: Vec<Step>,
    pub on_failure: Option<OnFailure>,
    /// Every change makes a new version; runs keep the one they started with.
    pub version: i64,
    /// A cron trigger's next five firings (absent for other triggers).
    pub next_runs: Option<Vec<String>>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// One stored version of a flow.
#[derive(ToSchema)]
pub struct FlowVersion {
    pub version: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub definition: FlowSpec,
}

/// Every version of a flow, newest first (one page).
#[derive(ToSchema)]
pub struct FlowVersions {
    pub data: Vec<FlowVersion>,
}

/// `POST /v1/flows/{id}/runs`.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualRun {
    /// The run's input (default `{}`).
    pub payload: Option<Value>,
}

#[derive(ToSchema)]
pub struct RunStarted {
    /// The run's id (`run_…`).
    pub id: String,
    /// The id of the event that carries the payload.
    pub event_id: String,
    /// The flow's name.
    pub flow: String,
}

const ID: &str = "The flow's id (`flw_…`) or name";

/// Create a flow; every jq expression is compiled and every reference checked first.
/// Scope: `write`.
#[utoipa::path(
    post, path = "/v1/flows", tag = "flows",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the creation safe to retry: 1 to 255 visible ASCII characters")),
    request_body = FlowSpec,
    responses(
        (status = 201, description = "Created, as version 1", body = FlowView),
        (status = 409, description = "The name is taken, or the Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "The definition is invalid (`details.fields`)", body = ErrorEnvelope),
    )
)]
pub fn create_flow() {}

/// List flows, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/flows", tag = "flows",
    params(ListParams),
    responses((status = 200, description = "A page of flows", body = Page<FlowView>))
)]
pub fn list_flows() {}

/// Show a flow's current version. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The flow", body = FlowView),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
    )
)]
pub fn show_flow() {}

/// Replace a flow's whole definition: a new version unless nothing changed. Scope: `write`.
#[utoipa::path(
    put, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = ID)),
    request_body = FlowSpec,
    responses(
        (status = 200, description = "The flow", body = FlowView),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
        (status = 409, description = "The name is taken, or the flow changed meanwhile (`flow_changed`)", body = ErrorEnvelope),
        (status = 422, description = "The definition is invalid (`details.fields`)", body = ErrorEnvelope),
    )
)]
pub fn replace_flow() {}

/// Change a flow: each top-level field given replaces the stored one; a new version unless
/// nothing changed. Scope: `write`.
#[utoipa::path(
    patch, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = ID)),
    request_body(content = Object, description = "Top-level fields of the flow definition to replace"),
    responses(
        (status = 200, description = "The flow", body = FlowView),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
        (status = 409, description = "The name is taken, or the flow changed meanwhile (`flow_changed`)", body = ErrorEnvelope),
        (status = 422, description = "The result is not a valid flow", body = ErrorEnvelope),
    )
)]
pub fn update_flow() {}

/// Delete a flow; its runs stay. Scope: `write`.
#[utoipa::path(
    delete, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
    )
)]
pub fn delete_flow() {}

/// Every version of a flow. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/flows/{id}/versions", tag = "flows",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The versions", body = FlowVersions),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
    )
)]
pub fn flow_versions() {}

/// Start a run of the flow, whatever its trigger, with an event of type `switchyard.manual` (or
/// the flow's first exact `event_types` entry) carrying the payload. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/flows/{id}/runs", tag = "flows",
    params(
        ("id" = String, Path, description = ID),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the start safe to retry: 1 to 255 visible ASCII characters"),
    ),
    request_body = ManualRun,
    responses(
        (status = 202, description = "The run was created", body = RunStarted),
        (status = 404, description = "No such flow", body = ErrorEnvelope),
        (status = 409, description = "The Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "The body is not `{\"payload\": …}`, or the trigger filter said no (`flow_filtered`)", body = ErrorEnvelope),
    )
)]
pub fn start_run() {}

/// Make an earlier version's definition current again (a rollback): stored as a new version;
/// runs keep the version they started with. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/flows/{id}/versions/{version}/activate", tag = "flows",
    params(
        ("id" = String, Path, description = "The flow's id (`flw_…`) or name"),
        ("version" = i64, Path, description = "The version to make current"),
    ),
    responses(
        (status = 200, description = "The flow, now at a new version with that definition (`activated_from` names it)", body = FlowView),
        (status = 404, description = "No such flow (`not_found`) or version (`version_not_found`)", body = ErrorEnvelope),
        (status = 422, description = "The old definition no longer passes the checks (e.g. a destination is gone)", body = ErrorEnvelope),
    )
)]
pub fn activate_version() {}
