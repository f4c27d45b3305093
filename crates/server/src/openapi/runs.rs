//! `/v1/runs` (routes/runs.rs): run summaries, and a run with its steps.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::flow::{RunStatus, StepStatus};
use utoipa::{IntoParams, ToSchema};

use super::common::{ErrorEnvelope, ListParams, Page};

/// Why a run or step failed.
#[derive(ToSchema)]
pub struct StepError {
    /// What kind of failure, e.g. `http_status`, `timeout`, `jq`.
    pub class: String,
    pub message: Option<String>,
}

/// A run in a list, in an event's view, and in `/v1/events/stream` `run` messages.
#[derive(ToSchema)]
pub struct RunSummary {
    #[schema(example = "run_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    /// The flow's name.
    pub flow: String,
    pub flow_id: String,
    /// The version the run started with and keeps.
    pub flow_version: i64,
    pub event_id: String,
    pub status: RunStatus,
    pub failed_step: Option<String>,
    pub error: Option<StepError>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
}

/// One step of a run; outputs are redacted by the trigger source's rules.
#[derive(ToSchema)]
pub struct StepView {
    pub id: String,
    /// Where the step sits (nested steps of `branch` and `foreach` included).
    pub path: String,
    pub status: StepStatus,
    pub attempts: i64,
    pub output: Option<Value>,
    pub error: Option<StepError>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
}

/// A run with its steps.
#[derive(ToSchema)]
pub struct RunView {
    pub id: String,
    pub flow: String,
    pub flow_id: String,
    pub flow_version: i64,
    pub event_id: String,
    pub status: RunStatus,
    pub failed_step: Option<String>,
    pub error: Option<StepError>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    pub steps: Vec<StepView>,
    /// Where the deliveries of the run's event are listed.
    pub deliveries: String,
}

/// Filters of `GET /v1/runs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilters {
    /// A flow's name.
    pub flow: Option<String>,
    #[param(inline)]
    pub status: Option<RunStatus>,
    /// The trigger event's id.
    pub event: Option<String>,
}

/// List runs, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/runs", tag = "runs",
    params(ListParams, RunFilters),
    responses((status = 200, description = "A page of runs", body = Page<RunSummary>))
)]
pub fn list_runs() {}

/// Show a run with its steps. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run's id (`run_…`)")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "No such run", body = ErrorEnvelope),
    )
)]
pub fn show_run() {}

/// Resume a failed or dead run from its failed step; completed steps are not run again.
/// Scope: `write`.
#[utoipa::path(
    post, path = "/v1/runs/{id}/retry", tag = "runs",
    params(("id" = String, Path, description = "The run's id (`run_…`)")),
    responses(
        (status = 202, description = "The run, pending again", body = RunView),
        (status = 404, description = "No such run", body = ErrorEnvelope),
        (status = 409, description = "The run is neither failed nor dead (`run_not_retryable`)", body = ErrorEnvelope),
    )
)]
pub fn retry_run() {}
