//! `/v1/sources` (routes/sources.rs): the view adds `id`, `ingest_path` and times to the masked
//! definition (`SourceSpec`, whose schema comes from core).

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::source::{Accept, DedupSpec, RateLimit, SourceSpec, VerifySpec};
use utoipa::ToSchema;

use super::common::{ErrorEnvelope, ListParams, Page};

/// A source as the API shows it: its definition with every secret masked (`"********"`), except
/// in the creation answer, which shows them once.
#[derive(ToSchema)]
pub struct SourceView {
    #[schema(example = "src_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub name: String,
    /// Where the provider posts: `/in/{name}`.
    pub ingest_path: String,
    pub verify: VerifySpec,
    /// A JSON Schema that payloads must pass, else the event is quarantined.
    pub schema: Option<Value>,
    pub dedup: DedupSpec,
    pub max_body_bytes: u64,
    /// Absent: the scheme's default.
    pub accept: Option<Accept>,
    pub enabled: bool,
    pub event_types: Option<Vec<String>>,
    pub rate_limit: Option<RateLimit>,
    pub redact: Option<Vec<String>>,
    pub retention_days: Option<u32>,
    pub allow_ips: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<String>>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Create a source. Scope: `write`. A repeat with the same `Idempotency-Key` answers the first
/// response again (with the `Idempotent-Replayed: true` header).
#[utoipa::path(
    post, path = "/v1/sources", tag = "sources",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the creation safe to retry: 1 to 255 visible ASCII characters")),
    request_body = SourceSpec,
    responses(
        (status = 201, description = "Created; the secrets are shown this once", body = SourceView),
        (status = 409, description = "The name is taken, or the Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "The definition is invalid (`details.fields`), or the Idempotency-Key was used with another request", body = ErrorEnvelope),
    )
)]
pub fn create_source() {}

/// List sources, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/sources", tag = "sources",
    params(ListParams),
    responses((status = 200, description = "A page of sources", body = Page<SourceView>))
)]
pub fn list_sources() {}

/// Show a source. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "The source's id (`src_…`) or name")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 404, description = "No such source", body = ErrorEnvelope),
    )
)]
pub fn show_source() {}

/// Change a source: each top-level field given replaces the stored one. Scope: `write`.
#[utoipa::path(
    patch, path = "/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "The source's id (`src_…`) or name")),
    request_body(content = Object, description = "Top-level fields of the source definition to replace"),
    responses(
        (status = 200, description = "The changed source", body = SourceView),
        (status = 404, description = "No such source", body = ErrorEnvelope),
        (status = 409, description = "The new name is taken", body = ErrorEnvelope),
        (status = 422, description = "The result is not a valid source", body = ErrorEnvelope),
    )
)]
pub fn update_source() {}

/// Delete a source; its events stay, with their redaction rules. Scope: `write`.
#[utoipa::path(
    delete, path = "/v1/sources/{id}", tag = "sources",
    params(("id" = String, Path, description = "The source's id (`src_…`) or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such source", body = ErrorEnvelope),
    )
)]
pub fn delete_source() {}

/// Disable a source: `/in/{name}` answers 404 until it is enabled. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/sources/{id}/disable", tag = "sources",
    params(("id" = String, Path, description = "The source's id (`src_…`) or name")),
    responses(
        (status = 200, description = "The source, disabled", body = SourceView),
        (status = 404, description = "No such source", body = ErrorEnvelope),
    )
)]
pub fn disable_source() {}

/// Enable a source. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/sources/{id}/enable", tag = "sources",
    params(("id" = String, Path, description = "The source's id (`src_…`) or name")),
    responses(
        (status = 200, description = "The source, enabled", body = SourceView),
        (status = 404, description = "No such source", body = ErrorEnvelope),
    )
)]
pub fn enable_source() {}
