//! `/v1/deliveries`: the delivery log (filters `event`, `endpoint`, `status`), each delivery's
//! attempts, and replay of one delivery. Publishing and event replay live here too, since they
//! are what create and restart deliveries.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::delivery::DeliveryStatus;
use switchyard_core::time::{now_micros, to_rfc3339};
use switchyard_store::{AttemptRow, DeliveryFilter, DeliveryRow, ReplayScope};

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params, page_response};
use crate::idempotency;
use crate::request_id::current_request_id;
use crate::routes::audit::note;

fn view(d: &DeliveryRow) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "endpoint_id": d.endpoint_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.filter(|_| d.status == DeliveryStatus::Pending).map(to_rfc3339),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": to_rfc3339(d.created_at),
        "updated_at": to_rfc3339(d.updated_at),
    })
}

fn attempt_view(a: &AttemptRow) -> Value {
    json!({
        "id": a.id,
        "at": to_rfc3339(a.at),
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "error_class": a.error_class,
        "response_excerpt": a.response_excerpt,
        "request_headers": serde_json::from_str::<Value>(&a.request_headers).unwrap_or(Value::Null),
    })
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let status = params
        .one_of("status", DeliveryStatus::NAMES)?
        .and_then(|s| s.parse::<DeliveryStatus>().ok());
    let filter = DeliveryFilter {
        event_id: params.get("event").map(str::to_string),
        endpoint_id: params.get("endpoint").map(str::to_string),
        status,
        before_seq: params.seq_cursor()?,
        limit: params.limit()?,
    };
    let page = state.store.list_deliveries(&filter).await?;
    Ok(page_response(&page, |d| d.seq.to_string(), view))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let d = state
        .store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(axum::Json(view(&d)).into_response())
}

pub async fn attempts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    state
        .store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    let rows = state.store.list_attempts(&id).await?;
    let data: Vec<Value> = rows.iter().map(attempt_view).collect();
    Ok(axum::Json(json!({ "data": data, "next_cursor": null })).into_response())
}

/// Runs a replay, wakes the dispatcher, and gives the count with the `202 {"replayed": n}` answer.
pub(super) async fn replay_scope(state: &AppState, scope: ReplayScope) -> Result<(u64, Response), ApiError> {
    let n = state.store.replay(&scope, now_micros()).await?;
    state.dispatcher.rediscover();
    tracing::info!(?scope, replayed = n, "deliveries replayed");
    Ok((
        n,
        (StatusCode::ACCEPTED, axum::Json(json!({ "replayed": n }))).into_response(),
    ))
}

/// `POST /v1/deliveries/{id}/replay`: sent again with the same `webhook-id`. A delivery in
/// flight is left alone (`409`).
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    state
        .store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    match replay_scope(&state, ReplayScope::Delivery(id.clone())).await? {
        (0, _) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "delivery_in_flight",
            "the delivery is being attempted right now; replay it once the attempt is recorded",
        )),
        (_, answer) => {
            note(
                &state,
                &principal,
                AuditAction::Replay,
                AuditResource::Delivery,
                &id,
                None,
                None,
            )
            .await;
            Ok(answer)
        }
    }
}

/// `POST /v1/events/{id}/replay`: every delivery of the event, sent again.
pub async fn replay_event(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    state
        .store
        .get_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let (replayed, answer) = replay_scope(&state, ReplayScope::Event(id.clone())).await?;
    let count = serde_json::json!({"replayed": replayed});
    note(
        &state,
        &principal,
        AuditAction::Replay,
        AuditResource::Event,
        &id,
        None,
        Some(&count),
    )
    .await;
    Ok(answer)
}

/// `POST /v1/events {"type", "payload"}`: publish an event to every matching endpoint.
pub async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/events", &body, || async {
        let bad = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m);
        let event_type = body
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| bad("type must be a non-empty string of at most 256 characters"))?;
        let payload = body.get("payload").ok_or_else(|| bad("payload is required"))?;
        if let Some(extra) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| !["type", "payload"].contains(&k.as_str())))
        {
            return Err(bad(&format!("unknown field {extra:?}; expected type and payload")));
        }
        let published = state
            .publisher
            .publish(event_type, payload, &current_request_id())
            .await?;
        // DEBUG, as intake's accepted events: the event is stored and listed; at INFO a burst
        // wrote a log line per event, a few percent of a publish-driven flow's runs/s.
        tracing::debug!(event_id = %published.event_id, deliveries = published.deliveries, "event published");
        Ok((
            StatusCode::ACCEPTED,
            json!({"id": published.event_id, "status": "received", "deliveries": published.deliveries}),
        ))
    })
    .await
}
