//! `POST /v1/apply` (routes/apply.rs): configuration as code.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::alert::AlertSpec;
use switchyard_core::destination::DestinationSpec;
use switchyard_core::endpoint::EndpointSpec;
use switchyard_core::flow::FlowSpec;
use switchyard_core::source::SourceSpec;
use utoipa::{IntoParams, ToSchema};

use super::common::ErrorEnvelope;

/// An endpoint as a config file declares it: its definition (with a `name`) and, optionally,
/// its signing secret (without one, a new endpoint gets a generated secret and an existing one
/// keeps its own).
#[derive(ToSchema, serde::Serialize)]
pub struct DeclaredEndpointView {
    #[serde(flatten)]
    pub spec: EndpointSpec,
    /// `whsec_…`
    pub secret: Option<String>,
}

/// A config file's definitions, each found by its unique name.
#[derive(ToSchema)]
pub struct ApplyRequest {
    pub sources: Option<Vec<SourceSpec>>,
    pub endpoints: Option<Vec<DeclaredEndpointView>>,
    pub destinations: Option<Vec<DestinationSpec>>,
    pub flows: Option<Vec<FlowSpec>>,
    pub alerts: Option<Vec<AlertSpec>>,
}

/// What a change does.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ChangeActionView {
    Create,
    Update,
    Delete,
}

/// A kind of definition.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ResourceKindView {
    Source,
    Endpoint,
    Destination,
    Flow,
    Alert,
}

/// A field that differs: its values before and after, or for a secret only `secret: true`.
#[derive(ToSchema)]
pub struct FieldChangeView {
    #[schema(example = "steps[0].http.path")]
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub secret: bool,
}

#[derive(ToSchema)]
pub struct ChangeView {
    pub kind: ResourceKindView,
    pub name: String,
    pub action: ChangeActionView,
    pub fields: Vec<FieldChangeView>,
}

/// The plan: every change; `applied` is false for a dry run (and when there was nothing to do).
#[derive(ToSchema)]
pub struct PlanView {
    pub changes: Vec<ChangeView>,
    pub applied: bool,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplyParams {
    /// `true`: only show the plan, change nothing.
    pub dry_run: Option<bool>,
    /// `true`: also delete what the body does not declare.
    pub prune: Option<bool>,
}

/// Reconcile the server with a config file's definitions: check them all, show what differs
/// (secrets compared, never shown) and apply it. Applying the same body again changes nothing.
/// Scope: `write`.
#[utoipa::path(
    post, path = "/v1/apply", tag = "config",
    params(ApplyParams),
    request_body = ApplyRequest,
    responses(
        (status = 200, description = "The plan, applied unless `dry_run`", body = PlanView),
        (status = 409, description = "Another writer changed a definition meanwhile; apply again", body = ErrorEnvelope),
        (status = 422, description = "A definition is invalid (`details.fields`, each under its place in the file, e.g. `flows[1].steps[0].http.destination`)", body = ErrorEnvelope),
    )
)]
pub fn apply_config() {}
