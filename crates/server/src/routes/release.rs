//! Releasing quarantined events: each is re-validated against its source's *current* schema and,
//! if it passes, moves to `received` — exactly once, because the move is conditional on the event
//! still being quarantined. One event (`POST /v1/events/{id}/release`) or a source's backlog
//! (`POST /v1/events/release`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_store::EventFilter;

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::audit::note;

enum Released {
    Received,
    StillInvalid(Vec<String>),
}

async fn release_one(state: &AppState, id: &str) -> Result<Released, ApiError> {
    let event = state
        .store
        .get_event(id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    if event.status != "quarantined" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_quarantined",
            format!("the event is {}", event.status),
        ));
    }
    let source_id = event.source_id.clone().unwrap_or_default();
    let source = state.catalog.get(&source_id).await.map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "source_gone",
            "the event's source no longer exists; nothing to validate against",
        )
    })?;
    let view = switchyard_engine::intake::payload_view(event.content_type.as_deref(), &event.payload);
    let violations = match (&source.schema, view) {
        (None, _) => Vec::new(),
        (Some(schema), Some(v)) => schema.violations(&v, &source.spec.redact),
        (Some(_), None) => vec!["/: the body is not JSON, so it cannot match the source's schema".to_string()],
    };
    if violations.is_empty() {
        if !state
            .store
            .set_event_status(id, "quarantined", "received", None)
            .await?
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_quarantined",
                "the event was released concurrently",
            ));
        }
        tracing::info!(event_id = %id, source = %source.spec.name, "quarantined event released");
        Ok(Released::Received)
    } else {
        let errors = Value::from(violations.clone()).to_string();
        state
            .store
            .set_event_status(id, "quarantined", "quarantined", Some(&errors))
            .await?;
        Ok(Released::StillInvalid(violations))
    }
}

pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    match release_one(&state, &id).await? {
        Released::Received => {
            let change = (json!({"status": "quarantined"}), json!({"status": "received"}));
            note(
                &state,
                &principal,
                AuditAction::Release,
                AuditResource::Event,
                &id,
                Some(&change.0),
                Some(&change.1),
            )
            .await;
            Ok(axum::Json(json!({"id": id, "status": "received"})).into_response())
        }
        Released::StillInvalid(violations) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "still_invalid",
            "the event still fails its source's current schema",
        )
        .with_details(json!({ "validation_errors": violations }))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRelease {
    /// A source name or `src_` id.
    source: String,
    /// At most this many events (oldest are not preferred: newest first, like listings).
    #[serde(default = "default_bulk")]
    limit: i64,
}

fn default_bulk() -> i64 {
    1000
}

pub async fn bulk(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    // Parsed after the scope check, so an under-scoped key hears 403 whatever it sent.
    let req: BulkRelease = serde_json::from_value(body)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", e.to_string()))?;
    if !(1..=10_000).contains(&req.limit) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "limit must be from 1 to 10000",
        ));
    }
    // An unknown source is a 404, not an empty success that hides a typo.
    state.catalog.get(&req.source).await?;
    let mut released = Vec::new();
    let mut still_invalid = Vec::new();
    let mut before_seq = None;
    while ((released.len() + still_invalid.len()) as i64) < req.limit {
        let filter = EventFilter {
            source: Some(req.source.clone()),
            status: Some("quarantined".into()),
            before_seq,
            limit: (req.limit - (released.len() + still_invalid.len()) as i64).min(200),
            ..EventFilter::default()
        };
        let page = state.store.list_events(&filter).await?;
        before_seq = page.items.last().map(|e| e.seq);
        for e in &page.items {
            match release_one(&state, &e.id).await {
                Ok(Released::Received) => released.push(e.id.clone()),
                Ok(Released::StillInvalid(_)) => still_invalid.push(e.id.clone()),
                // Released by someone else meanwhile: not ours to count.
                Err(err) if err.code == "not_quarantined" => {}
                Err(err) => return Err(err),
            }
        }
        if !page.has_more {
            break;
        }
    }
    let change = (json!({"status": "quarantined"}), json!({"status": "received"}));
    for id in &released {
        note(
            &state,
            &principal,
            AuditAction::Release,
            AuditResource::Event,
            id,
            Some(&change.0),
            Some(&change.1),
        )
        .await;
    }
    Ok(axum::Json(json!({"released": released, "still_invalid": still_invalid})).into_response())
}
