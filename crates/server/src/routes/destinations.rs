//! `/v1/destinations`: the APIs flows call (SPEC §7). Credential and header values are
//! write-only: every view shows them as `"********"`, and a write that sends a masked value back
//! keeps the stored one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::destination::DestinationSpec;
use switchyard_core::ids::IdKind;
use switchyard_core::time::to_rfc3339;
use switchyard_engine::destinations::Destination;

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params, page_response};
use crate::idempotency;
use crate::routes::audit::note;

/// The API view: the masked definition with its id and times.
fn view(d: &Destination) -> Value {
    let mut v = serde_json::to_value(&d.spec).unwrap_or(Value::Null);
    v["id"] = json!(d.id);
    v["created_at"] = json!(to_rfc3339(d.created_at));
    v["updated_at"] = json!(to_rfc3339(d.updated_at));
    v
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/destinations", &body, || async {
        let spec: DestinationSpec =
            serde_json::from_value(body.clone()).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let created = state.destinations.create(spec).await?;
        tracing::info!(destination_id = %created.id, name = %created.spec.name, "destination created");
        let after = view(&created);
        note(
            &state,
            &principal,
            AuditAction::Create,
            AuditResource::Destination,
            &created.id,
            None,
            Some(&after),
        )
        .await;
        Ok((StatusCode::CREATED, after))
    })
    .await
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let page = state
        .destinations
        .list(params.id_cursor(IdKind::Destination)?.as_deref(), params.limit()?)
        .await?;
    Ok(page_response(&page, |d| d.id.clone(), view))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    Ok(axum::Json(view(&state.destinations.get(&id).await?)).into_response())
}

/// `PATCH`: top-level keys replace; masked values sent back keep the stored credentials.
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(mut patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let Some(fields) = patch.as_object_mut() else {
        return Err(ApiError::unprocessable(
            "the body must be a JSON object of destination fields",
        ));
    };
    // A view sent back whole carries its read-only fields; they are not part of the definition.
    for read_only in ["id", "created_at", "updated_at"] {
        fields.remove(read_only);
    }
    let before = view(&state.destinations.get(&id).await?);
    let d = state.destinations.update(&id, &patch).await?;
    tracing::info!(destination_id = %d.id, "destination updated");
    let after = view(&d);
    note(
        &state,
        &principal,
        AuditAction::Update,
        AuditResource::Destination,
        &d.id,
        Some(&before),
        Some(&after),
    )
    .await;
    Ok(axum::Json(after).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let gone = state.destinations.get(&id).await?;
    state.destinations.delete(&id).await?;
    tracing::info!(destination = %id, "destination deleted");
    let before = view(&gone);
    note(
        &state,
        &principal,
        AuditAction::Delete,
        AuditResource::Destination,
        &gone.id,
        Some(&before),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
