//! `/v1/keys` (admin only): mint, list and revoke API keys. The key value appears exactly once,
//! in the creation response; the store keeps only its hash.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::apikey::{Scope, generate_key, hash_key, key_hint};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::{now_micros, to_rfc3339};
use switchyard_store::ApiKeyRow;

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params, page_response};
use crate::idempotency;
use crate::routes::audit::note;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    name: String,
    scope: Scope,
}

pub fn key_view(k: &ApiKeyRow) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "scope": k.scope,
        "hint": k.hint,
        "created_at": to_rfc3339(k.created_at),
        "revoked_at": k.revoked_at.map(to_rfc3339),
    })
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/keys", &body, || async {
        let req: NewKey = serde_json::from_value(body.clone())
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", e.to_string()))?;
        if req.name.len() > 200 {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "name is limited to 200 characters",
            ));
        }
        let key = generate_key();
        let row = ApiKeyRow {
            id: new_id(IdKind::ApiKey),
            name: req.name,
            scope: req.scope.as_str().into(),
            hash: hash_key(&key),
            hint: key_hint(&key),
            created_at: now_micros(),
            revoked_at: None,
        };
        state.store.insert_api_key(&row).await?;
        tracing::info!(key_id = %row.id, scope = %row.scope, by = %principal.key_id, "API key created");
        let after = key_view(&row);
        note(
            &state,
            &principal,
            AuditAction::Create,
            AuditResource::Key,
            &row.id,
            None,
            Some(&after),
        )
        .await;
        let mut v = key_view(&row);
        v["key"] = json!(key);
        Ok((StatusCode::CREATED, v))
    })
    .await
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let limit = params.limit()?;
    let cursor = params.id_cursor(switchyard_core::ids::IdKind::ApiKey)?;
    let page = state.store.list_api_keys(cursor.as_deref(), limit).await?;
    Ok(page_response(&page, |k| k.id.clone(), key_view))
}

pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    if !state.api_keys.revoke(&id, now_micros()).await? {
        return Err(ApiError::not_found("active API key"));
    }
    tracing::info!(key_id = %id, by = %principal.key_id, "API key revoked");
    note(
        &state,
        &principal,
        AuditAction::Revoke,
        AuditResource::Key,
        &id,
        None,
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/whoami`: the calling key's id, name and scope — how the dashboard learns what
/// actions to offer (the server enforces the scope on every call regardless).
pub async fn whoami(principal: Principal) -> Response {
    axum::Json(serde_json::json!({
        "id": principal.key_id,
        "name": principal.key_name,
        "scope": principal.scope.as_str(),
    }))
    .into_response()
}
