//! `/v1/endpoints` (routes/endpoints.rs): the view adds the delivery engine's live state (circuit,
//! pause, in-flight count) to the definition (`EndpointSpec`, from core), with header values
//! masked.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use switchyard_core::endpoint::EndpointSpec;
use utoipa::ToSchema;

use super::common::{ErrorEnvelope, ListParams, Page, Replayed};

/// `POST /v1/endpoints`: the definition, plus an optional signing secret.
#[derive(ToSchema, serde::Deserialize)]
pub struct NewEndpoint {
    #[serde(flatten)]
    pub spec: EndpointSpec,
    /// A `whsec_<base64>` signing secret; generated when absent.
    pub secret: Option<String>,
}

/// The endpoint's circuit breaker.
#[derive(ToSchema)]
pub struct Circuit {
    #[schema(inline)]
    pub state: CircuitState,
    /// While `open`: when one probe delivery is let through.
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

/// An endpoint as the API shows it.
#[derive(ToSchema)]
pub struct EndpointView {
    #[schema(example = "ep_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub name: Option<String>,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub filter: Option<String>,
    pub sources: Option<Vec<String>>,
    pub retry_schedule_seconds: Option<Vec<u64>>,
    pub rate_limit_per_second: Option<f64>,
    pub max_concurrency: Option<u32>,
    /// Every value is `"********"`.
    pub headers: HashMap<String, Value>,
    pub enabled: bool,
    pub disable_after_seconds: Option<u64>,
    pub ordering_key: Option<String>,
    pub retention_days: Option<u32>,
    /// Why the endpoint was disabled by the server (410, failing too long), if it was.
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub failing_since: Option<String>,
    pub circuit: Circuit,
    /// Deliveries are paused (a `429`/`Retry-After`) until then.
    #[schema(format = DateTime)]
    pub paused_until: Option<String>,
    /// Attempts in progress on this node.
    pub in_flight: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The signing secret, only in the answers that set it (creation, rotation).
    pub secret: Option<String>,
}

/// `POST /v1/endpoints/{id}/secret/rotate`; the body may be empty.
#[derive(ToSchema)]
pub struct Rotate {
    /// The new `whsec_` secret; generated when absent.
    pub secret: Option<String>,
    /// How long the old secret keeps signing beside the new one (default one day).
    #[schema(minimum = 0, maximum = 2592000)]
    pub grace_seconds: Option<u64>,
}

/// `POST /v1/endpoints/{id}/replay`.
#[derive(ToSchema)]
pub struct ReplaySince {
    /// Failed and dead deliveries created since then are sent again.
    #[schema(format = DateTime)]
    pub since: String,
}

const ID: &str = "The endpoint's id (`ep_…`) or name";

/// Create an endpoint. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/endpoints", tag = "endpoints",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the creation safe to retry: 1 to 255 visible ASCII characters")),
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = EndpointView),
        (status = 409, description = "The name is taken, or the Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "The definition is invalid (`details.fields`)", body = ErrorEnvelope),
    )
)]
pub fn create_endpoint() {}

/// List endpoints, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/endpoints", tag = "endpoints",
    params(ListParams),
    responses((status = 200, description = "A page of endpoints", body = Page<EndpointView>))
)]
pub fn list_endpoints() {}

/// Show an endpoint. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
    )
)]
pub fn show_endpoint() {}

/// Change an endpoint: each top-level field given replaces the stored one; the secret changes
/// only through rotation. Scope: `write`.
#[utoipa::path(
    patch, path = "/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    request_body(content = Object, description = "Top-level fields of the endpoint definition to replace"),
    responses(
        (status = 200, description = "The changed endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
        (status = 409, description = "The new name is taken", body = ErrorEnvelope),
        (status = 422, description = "The result is not a valid endpoint", body = ErrorEnvelope),
    )
)]
pub fn update_endpoint() {}

/// Delete an endpoint. Scope: `write`.
#[utoipa::path(
    delete, path = "/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
    )
)]
pub fn delete_endpoint() {}

/// Enable an endpoint (and clear a disable by the server). Scope: `write`.
#[utoipa::path(
    post, path = "/v1/endpoints/{id}/enable", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The endpoint, enabled", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
    )
)]
pub fn enable_endpoint() {}

/// Disable an endpoint: nothing is delivered to it until it is enabled. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/endpoints/{id}/disable", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The endpoint, disabled", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
    )
)]
pub fn disable_endpoint() {}

/// Rotate the signing secret; the old one keeps signing beside it for the grace period.
/// Scope: `write`.
#[utoipa::path(
    post, path = "/v1/endpoints/{id}/secret/rotate", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    request_body(content = Rotate, description = "Optional: an empty body rotates to a generated secret"),
    responses(
        (status = 200, description = "The endpoint with its new `secret`", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
        (status = 422, description = "`secret` or `grace_seconds` is not valid", body = ErrorEnvelope),
    )
)]
pub fn rotate_endpoint_secret() {}

/// Send the endpoint's failed and dead deliveries since a time again. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/endpoints/{id}/replay", tag = "endpoints",
    params(("id" = String, Path, description = ID)),
    request_body = ReplaySince,
    responses(
        (status = 202, description = "Deliveries scheduled again", body = Replayed),
        (status = 404, description = "No such endpoint", body = ErrorEnvelope),
        (status = 422, description = "`since` is not an RFC 3339 timestamp", body = ErrorEnvelope),
    )
)]
pub fn replay_endpoint() {}
