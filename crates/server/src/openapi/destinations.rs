//! `/v1/destinations` (routes/destinations.rs): the definition (`DestinationSpec`, from core)
//! with every credential and header value `"********"`, plus its id and times.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use switchyard_core::destination::{Auth, DestinationSpec};
use utoipa::ToSchema;

use super::common::{ErrorEnvelope, ListParams, Page};

/// A destination as the API shows it; credential values are write-only.
#[derive(ToSchema)]
pub struct DestinationView {
    #[schema(example = "dst_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub auth: Option<Auth>,
    /// Every value is `"********"`.
    pub headers: HashMap<String, Value>,
    pub rate_limit_per_second: Option<f64>,
    pub max_concurrency: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub retry_schedule_seconds: Option<Vec<u64>>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

const ID: &str = "The destination's id (`dst_…`) or name";

/// Create a destination. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/destinations", tag = "destinations",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the creation safe to retry: 1 to 255 visible ASCII characters")),
    request_body = DestinationSpec,
    responses(
        (status = 201, description = "Created (credentials masked)", body = DestinationView),
        (status = 409, description = "The name is taken, or the Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "The definition is invalid (`details.fields`)", body = ErrorEnvelope),
    )
)]
pub fn create_destination() {}

/// List destinations, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/destinations", tag = "destinations",
    params(ListParams),
    responses((status = 200, description = "A page of destinations", body = Page<DestinationView>))
)]
pub fn list_destinations() {}

/// Show a destination. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/destinations/{id}", tag = "destinations",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The destination", body = DestinationView),
        (status = 404, description = "No such destination", body = ErrorEnvelope),
    )
)]
pub fn show_destination() {}

/// Change a destination: each top-level field given replaces the stored one; masked values sent
/// back keep the stored credentials. Scope: `write`.
#[utoipa::path(
    patch, path = "/v1/destinations/{id}", tag = "destinations",
    params(("id" = String, Path, description = ID)),
    request_body(content = Object, description = "Top-level fields of the destination definition to replace"),
    responses(
        (status = 200, description = "The changed destination", body = DestinationView),
        (status = 404, description = "No such destination", body = ErrorEnvelope),
        (status = 409, description = "The new name is taken", body = ErrorEnvelope),
        (status = 422, description = "The result is not a valid destination", body = ErrorEnvelope),
    )
)]
pub fn update_destination() {}

/// Delete a destination. Scope: `write`.
#[utoipa::path(
    delete, path = "/v1/destinations/{id}", tag = "destinations",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such destination", body = ErrorEnvelope),
        (status = 409, description = "A flow still uses it", body = ErrorEnvelope),
    )
)]
pub fn delete_destination() {}
