//! `/v1/alerts` (SPEC §5): rules, their state and the notifications they sent. Channel URLs are
//! write-only (Slack's carry a token): views mask them, and a write that sends the mask back
//! keeps the stored URL.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::alert::AlertSpec;
use switchyard_core::apikey::Scope;
use switchyard_core::audit::{AuditAction, AuditResource};
use switchyard_core::time::to_rfc3339;
use switchyard_engine::alerts::Alert;
use switchyard_store::{NotificationAttemptRow, NotificationRow};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params};
use crate::idempotency;
use crate::routes::audit::note;

/// Notifications shown with a rule, newest first.
const RECENT_NOTIFICATIONS: i64 = 20;

/// The API view: the masked definition, its state and when it last notified.
fn view(a: &Alert) -> Value {
    let mut v = serde_json::to_value(&a.spec).unwrap_or(Value::Null);
    v["id"] = json!(a.id);
    v["state"] = json!(a.state.as_str());
    v["since"] = json!(a.since.map(to_rfc3339));
    v["detail"] = a.detail.clone().unwrap_or(Value::Null);
    v["last_notified_at"] = json!(a.last_notified_at.map(to_rfc3339));
    v["created_at"] = json!(to_rfc3339(a.created_at));
    v["updated_at"] = json!(to_rfc3339(a.updated_at));
    v
}

fn notification_view(n: &NotificationRow, attempts: &[NotificationAttemptRow]) -> Value {
    json!({
        "id": n.id,
        "alert_id": n.alert_id,
        "state": n.state,
        "status": n.status,
        "attempts": n.attempts,
        "next_attempt_at": n.next_attempt_at.map(to_rfc3339),
        "last_error": n.last_error,
        "created_at": to_rfc3339(n.created_at),
        "body": serde_json::from_str::<Value>(&n.body).unwrap_or(Value::Null),
        "attempt_log": attempts.iter().map(|a| json!({
            "at": to_rfc3339(a.at),
            "duration_ms": a.duration_ms,
            "status_code": a.status_code,
            "error_class": a.error_class,
            "response_excerpt": a.response_excerpt,
        })).collect::<Vec<_>>(),
    })
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/alerts", &body, || async {
        let spec: AlertSpec = serde_json::from_value(body.clone()).map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let created = state.alerts.create(spec).await?;
        tracing::info!(alert_id = %created.id, name = %created.spec.name, rule = created.spec.rule.kind(), "alert created");
        let after = view(&created);
        note(&state, &principal, AuditAction::Create, AuditResource::Alert, &created.id, None, Some(&after)).await;
        Ok((StatusCode::CREATED, after))
    })
    .await
}

/// Every rule (rules are few: one page, `next_cursor` always null).
pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let limit = params.limit()? as usize;
    let all = state.alerts.list().await?;
    let data: Vec<Value> = all.iter().take(limit).map(view).collect();
    Ok(axum::Json(json!({"data": data, "next_cursor": null})).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    Ok(axum::Json(view(&state.alerts.get(&id).await?)).into_response())
}

/// The rule's notifications, newest first, each with its attempt log.
pub async fn notifications(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let alert = state.alerts.get(&id).await?;
    let mut data = Vec::new();
    for n in state.store.list_notifications(&alert.id, RECENT_NOTIFICATIONS).await? {
        let attempts = state.store.list_notification_attempts(&n.id).await?;
        data.push(notification_view(&n, &attempts));
    }
    Ok(axum::Json(json!({"data": data, "next_cursor": null})).into_response())
}

/// `PATCH`: top-level keys replace; a masked channel URL sent back keeps the stored one.
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(mut patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let Some(fields) = patch.as_object_mut() else {
        return Err(ApiError::unprocessable(
            "the body must be a JSON object of alert fields",
        ));
    };
    // A view sent back whole carries its read-only fields; they are not part of the definition.
    for read_only in [
        "id",
        "state",
        "since",
        "detail",
        "last_notified_at",
        "created_at",
        "updated_at",
    ] {
        fields.remove(read_only);
    }
    let before = view(&state.alerts.get(&id).await?);
    let a = state.alerts.update(&id, &patch).await?;
    tracing::info!(alert_id = %a.id, "alert updated");
    let after = view(&a);
    note(
        &state,
        &principal,
        AuditAction::Update,
        AuditResource::Alert,
        &a.id,
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
    let gone = state.alerts.delete(&id).await?;
    tracing::info!(alert_id = %gone.id, "alert deleted");
    let before = view(&gone);
    note(
        &state,
        &principal,
        AuditAction::Delete,
        AuditResource::Alert,
        &gone.id,
        Some(&before),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
