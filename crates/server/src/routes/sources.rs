//! `/v1/sources`: create, list, show, update, enable/disable and delete sources. Secrets are
//! returned once, in the creation response; every other view masks them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::source::SourceSpec;
use switchyard_core::time::to_rfc3339;
use switchyard_engine::sources::Source;

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params, page_response};
use crate::idempotency;
use crate::routes::audit::note;

/// The API view of a source; `reveal` shows the secrets (creation only).
fn view(s: &Source, reveal: bool) -> Value {
    let spec = if reveal {
        s.spec.clone()
    } else {
        s.spec.masked(s.spec.verify.secrets.len())
    };
    let mut v = serde_json::to_value(&spec).unwrap_or(Value::Null);
    v["id"] = json!(s.id);
    v["ingest_path"] = json!(format!("/in/{}", s.spec.name));
    v["created_at"] = json!(to_rfc3339(s.created_at));
    v["updated_at"] = json!(to_rfc3339(s.updated_at));
    v
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/sources", &body, || async {
        let spec: SourceSpec = serde_json::from_value(body.clone())
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", e.to_string()))?;
        let created = state.catalog.create(spec).await?;
        tracing::info!(source = %created.spec.name, id = %created.id, "source created");
        let after = view(&created, false);
        note(
            &state,
            &principal,
            AuditAction::Create,
            AuditResource::Source,
            &created.id,
            None,
            Some(&after),
        )
        .await;
        Ok((StatusCode::CREATED, view(&created, true)))
    })
    .await
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let limit = params.limit()?;
    let cursor = params.id_cursor(switchyard_core::ids::IdKind::Source)?;
    let page = state.catalog.list(cursor.as_deref(), limit).await?;
    Ok(page_response(&page, |s| s.id.clone(), |s| view(s, false)))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let s = state.catalog.get(&id).await?;
    Ok(axum::Json(view(&s, false)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    if !patch.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the body must be a JSON object",
        ));
    }
    patched(&state, &principal, &id, &patch, AuditAction::Update).await
}

/// Applies `patch` and audits it as `action` with the views before and after.
async fn patched(
    state: &AppState,
    principal: &Principal,
    id: &str,
    patch: &Value,
    action: AuditAction,
) -> Result<Response, ApiError> {
    let before = view(&state.catalog.get(id).await?, false);
    let s = state.catalog.update(id, patch).await?;
    tracing::info!(source = %s.spec.name, id = %s.id, action = %action, "source changed");
    let after = view(&s, false);
    note(
        state,
        principal,
        action,
        AuditResource::Source,
        &s.id,
        Some(&before),
        Some(&after),
    )
    .await;
    Ok(axum::Json(after).into_response())
}

pub async fn disable(state: State<AppState>, principal: Principal, id: Path<String>) -> Result<Response, ApiError> {
    set_enabled(state, principal, id, false).await
}

pub async fn enable(state: State<AppState>, principal: Principal, id: Path<String>) -> Result<Response, ApiError> {
    set_enabled(state, principal, id, true).await
}

async fn set_enabled(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    enabled: bool,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let action = if enabled {
        AuditAction::Enable
    } else {
        AuditAction::Disable
    };
    patched(&state, &principal, &id, &json!({ "enabled": enabled }), action).await
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let gone = state.catalog.get(&id).await?;
    state.catalog.delete(&id).await?;
    tracing::info!(source = %id, "source deleted");
    let before = view(&gone, false);
    note(
        &state,
        &principal,
        AuditAction::Delete,
        AuditResource::Source,
        &gone.id,
        Some(&before),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
