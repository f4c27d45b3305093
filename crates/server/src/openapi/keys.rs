//! `/v1/keys` (routes/keys.rs) and `/v1/audit` (routes/audit.rs), both admin only.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::apikey::Scope;
use utoipa::ToSchema;

use super::common::{ErrorEnvelope, ListParams, Page};

/// `POST /v1/keys`.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (at most 200 characters).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
    pub scope: Scope,
}

/// An API key; the key itself is shown only in the creation answer.
#[derive(ToSchema)]
pub struct KeyView {
    #[schema(example = "key_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// The key's last characters, to tell keys apart.
    pub hint: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    /// The key, only in the creation answer: store it now, it is never shown again.
    pub key: Option<String>,
}

/// Who changed what (SPEC §4); secret values are never recorded.
#[derive(ToSchema)]
pub struct AuditEntry {
    #[schema(example = "aud_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// The API key that made the change; `null` for `apply` against the database and start-up.
    pub key_id: Option<String>,
    /// e.g. `create`, `update`, `delete`, `enable`, `disable`, `rotate`, `replay`, `release`.
    pub action: String,
    /// e.g. `source`, `endpoint`, `destination`, `flow`, `event`, `delivery`, `run`, `key`.
    pub resource: String,
    pub resource_id: String,
    /// The masked fields that changed, before and after.
    pub changes: Option<Value>,
}

/// Mint an API key. Scope: `admin`.
#[utoipa::path(
    post, path = "/v1/keys", tag = "admin",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the creation safe to retry: 1 to 255 visible ASCII characters")),
    request_body = NewKey,
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = KeyView),
        (status = 409, description = "The Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "An unknown scope, or a name over 200 characters", body = ErrorEnvelope),
    )
)]
pub fn create_key() {}

/// List API keys (revoked ones included), newest first. Scope: `admin`.
#[utoipa::path(
    get, path = "/v1/keys", tag = "admin",
    params(ListParams),
    responses((status = 200, description = "A page of keys", body = Page<KeyView>))
)]
pub fn list_keys() {}

/// Revoke an API key at once. Scope: `admin`.
#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "The key's id (`key_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such active key", body = ErrorEnvelope),
    )
)]
pub fn revoke_key() {}

/// The audit log, newest first. Scope: `admin`.
#[utoipa::path(
    get, path = "/v1/audit", tag = "admin",
    params(ListParams, ("resource_id" = Option<String>, Query, description = "Only changes to this resource")),
    responses((status = 200, description = "A page of audit entries", body = Page<AuditEntry>))
)]
pub fn list_audit() {}
