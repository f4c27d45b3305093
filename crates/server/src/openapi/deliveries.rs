//! `/v1/deliveries` (routes/deliveries.rs): the delivery log and each delivery's attempts.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::delivery::DeliveryStatus;
use utoipa::{IntoParams, ToSchema};

use super::common::{ErrorEnvelope, ListParams, Page, Replayed};

/// One event's delivery to one endpoint.
#[derive(ToSchema)]
pub struct DeliveryView {
    #[schema(example = "dlv_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// When the next attempt is due; only while `pending`.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// One attempt: what was sent (headers, credentials masked) and what came back.
#[derive(ToSchema)]
pub struct AttemptView {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub duration_ms: i64,
    /// `null` when no response came (timeout, connection error).
    pub status_code: Option<i64>,
    /// Why the attempt failed, e.g. `timeout`, `connect`, `http_status`.
    pub error_class: Option<String>,
    /// The start of the response body.
    pub response_excerpt: Option<String>,
    /// The request headers sent, secrets masked.
    pub request_headers: Option<Value>,
}

/// Filters of `GET /v1/deliveries`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilters {
    /// An event id (`evt_…`).
    pub event: Option<String>,
    /// An endpoint id (`ep_…`).
    pub endpoint: Option<String>,
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
}

const ID: &str = "The delivery's id (`dlv_…`)";

/// List deliveries, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/deliveries", tag = "deliveries",
    params(ListParams, DeliveryFilters),
    responses((status = 200, description = "A page of deliveries", body = Page<DeliveryView>))
)]
pub fn list_deliveries() {}

/// Show a delivery. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 404, description = "No such delivery", body = ErrorEnvelope),
    )
)]
pub fn show_delivery() {}

/// A delivery's attempts, oldest first, all on one page (`next_cursor` is always `null`).
/// Scope: `read`.
#[utoipa::path(
    get, path = "/v1/deliveries/{id}/attempts", tag = "deliveries",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The attempts", body = Page<AttemptView>),
        (status = 404, description = "No such delivery", body = ErrorEnvelope),
    )
)]
pub fn delivery_attempts() {}

/// Send a delivery again with the same `webhook-id`. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/deliveries/{id}/replay", tag = "deliveries",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 202, description = "Scheduled again", body = Replayed),
        (status = 404, description = "No such delivery", body = ErrorEnvelope),
        (status = 409, description = "An attempt is in progress (`delivery_in_flight`)", body = ErrorEnvelope),
    )
)]
pub fn replay_delivery() {}
