//! `/v1/endpoints`: outbound webhook subscribers. The signing secret is shown when it is set
//! (creation, rotation) and never again; every header value is a secret (SPEC §6) and is masked
//! in every view, whatever the header is called.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::endpoint::EndpointSpec;
use switchyard_core::headers::REDACTED;
use switchyard_core::time::{now_micros, parse_rfc3339, to_rfc3339};
use switchyard_engine::endpoints::Endpoint;
use switchyard_store::ReplayScope;

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params, page_response};
use crate::idempotency;
use crate::routes::audit::note;

/// The API view; `secret` is included only where it was just set.
fn view(state: &AppState, e: &Endpoint, secret: Option<&str>) -> Value {
    let mut spec = e.spec.clone();
    for v in spec.headers.values_mut() {
        *v = json!(REDACTED);
    }
    let mut v = serde_json::to_value(&spec).unwrap_or(Value::Null);
    v["id"] = json!(e.id);
    v["disabled_reason"] = json!(e.disabled_reason);
    v["failing_since"] = json!(e.failing_since.map(to_rfc3339));
    v["circuit"] = serde_json::to_value(state.dispatcher.breaker(&e.id)).unwrap_or(Value::Null);
    if let Some(until) = v["circuit"]["until"].as_i64() {
        v["circuit"]["until"] = json!(to_rfc3339(until));
    }
    let paused_until = state.dispatcher.paused_until(&e.id);
    v["paused_until"] = json!((paused_until > now_micros()).then(|| to_rfc3339(paused_until)));
    v["in_flight"] = json!(state.dispatcher.in_flight(&e.id));
    v["created_at"] = json!(to_rfc3339(e.created_at));
    v["updated_at"] = json!(to_rfc3339(e.updated_at));
    if let Some(s) = secret {
        v["secret"] = json!(s);
    }
    v
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/endpoints", &body, || async {
        let mut body = body.clone();
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ApiError::unprocessable("the body must be a JSON object"))?;
        let secret = match obj.remove("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(ApiError::unprocessable("secret must be a whsec_ string")),
        };
        let spec: EndpointSpec = serde_json::from_value(body).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let created = state.endpoints.create(spec, secret).await?;
        tracing::info!(endpoint_id = %created.id, url = %switchyard_core::redact::redact_url(&created.spec.url), "endpoint created");
        let after = view(&state, &created, None);
        note(&state, &principal, AuditAction::Create, AuditResource::Endpoint, &created.id, None, Some(&after)).await;
        let secret = created.secrets.first().map(|s| s.secret.clone());
        Ok((StatusCode::CREATED, view(&state, &created, secret.as_deref())))
    })
    .await
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let page = state
        .endpoints
        .list(
            params.id_cursor(switchyard_core::ids::IdKind::Endpoint)?.as_deref(),
            params.limit()?,
        )
        .await?;
    Ok(page_response(&page, |e| e.id.clone(), |e| view(&state, e, None)))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let e = state.endpoints.get(&id).await?;
    Ok(axum::Json(view(&state, &e, None)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    if !patch.is_object() || patch.get("secret").is_some() {
        return Err(ApiError::unprocessable(
            "the body must be a JSON object of endpoint fields; change the secret with POST /v1/endpoints/{id}/secret/rotate",
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
    let before = view(state, &state.endpoints.get(id).await?, None);
    let e = state.endpoints.update(id, patch).await?;
    tracing::info!(endpoint_id = %e.id, action = %action, "endpoint changed");
    let after = view(state, &e, None);
    note(
        state,
        principal,
        action,
        AuditResource::Endpoint,
        &e.id,
        Some(&before),
        Some(&after),
    )
    .await;
    Ok(axum::Json(after).into_response())
}

pub async fn enable(state: State<AppState>, principal: Principal, id: Path<String>) -> Result<Response, ApiError> {
    set_enabled(state, principal, id, true).await
}

pub async fn disable(state: State<AppState>, principal: Principal, id: Path<String>) -> Result<Response, ApiError> {
    set_enabled(state, principal, id, false).await
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
    let gone = state.endpoints.get(&id).await?;
    state.endpoints.delete(&id).await?;
    tracing::info!(endpoint_id = %id, "endpoint deleted");
    let before = view(&state, &gone, None);
    note(
        &state,
        &principal,
        AuditAction::Delete,
        AuditResource::Endpoint,
        &gone.id,
        Some(&before),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/endpoints/{id}/secret/rotate {"secret"?, "grace_seconds"?}`.
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    // The body is optional: an empty one rotates to a generated secret with the default grace.
    let body: Value = if raw.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&raw).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?
    };
    if !body.is_object() {
        return Err(ApiError::unprocessable(
            "the body must be empty or a JSON object: {\"secret\"?, \"grace_seconds\"?}",
        ));
    }
    let secret = match body.get("secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::unprocessable("secret must be a whsec_ string")),
    };
    let grace = match body.get("grace_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|g| *g <= switchyard_core::endpoint::MAX_ROTATION_GRACE_SECONDS)
                .ok_or_else(|| {
                    ApiError::unprocessable(format!(
                        "grace_seconds must be a whole number from 0 to {} (30 days)",
                        switchyard_core::endpoint::MAX_ROTATION_GRACE_SECONDS
                    ))
                })?,
        ),
    };
    let e = state.endpoints.rotate_secret(&id, secret, grace).await?;
    tracing::info!(endpoint_id = %e.id, "endpoint secret rotated");
    // The secret itself is masked in the entry: it records that a rotation happened.
    let rotated = json!({"secret": "rotated", "grace_seconds": grace});
    note(
        &state,
        &principal,
        AuditAction::Rotate,
        AuditResource::Endpoint,
        &e.id,
        None,
        Some(&rotated),
    )
    .await;
    let current = e.secrets.first().map(|s| s.secret.clone());
    Ok(axum::Json(view(&state, &e, current.as_deref())).into_response())
}

/// `POST /v1/endpoints/{id}/replay {"since": RFC 3339}`: every failed or dead delivery of the
/// endpoint created since then is sent again, with its original `webhook-id`.
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let since = body
        .get("since")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .ok_or_else(|| ApiError::unprocessable("since must be an RFC 3339 timestamp"))?;
    let e = state.endpoints.get(&id).await?;
    let scope = ReplayScope::EndpointFailedSince {
        endpoint_id: e.id.clone(),
        since,
    };
    let answer = super::deliveries::replay_scope(&state, scope).await?.1;
    let asked = json!({"since": to_rfc3339(since)});
    note(
        &state,
        &principal,
        AuditAction::Replay,
        AuditResource::Endpoint,
        &e.id,
        None,
        Some(&asked),
    )
    .await;
    Ok(answer)
}
