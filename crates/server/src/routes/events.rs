//! `/v1/events`: list with filters and cursor pagination (newest first, exact under concurrent
//! inserts because the cursor is the commit-ordered `seq`), and show one event with its raw
//! payload, redacted headers and receipt timeline.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::headers::{REDACTED, is_secret_header};
use switchyard_core::ids::{IdKind, is_id_of};
use switchyard_core::redact::redact_paths;
use switchyard_core::time::{parse_rfc3339, to_rfc3339};
use switchyard_store::{EventFilter, EventRecord, EventSummary};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Params, page_response};

const STATUSES: &[&str] = &["received", "processed", "failed", "quarantined"];

pub(crate) fn summary(e: &EventSummary) -> Value {
    json!({
        "id": e.id,
        "source": e.source_name,
        "source_id": e.source_id,
        "type": e.event_type,
        "status": e.status,
        "received_at": to_rfc3339(e.received_at),
        "content_type": e.content_type,
    })
}

fn time_param(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            parse_rfc3339(v).ok_or_else(|| {
                ApiError::bad_request("invalid_parameter", format!("{name} must be an RFC 3339 timestamp"))
                    .with_details(json!({"parameter": name}))
            })
        })
        .transpose()
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    if let Some(key) = params.get("dedup_key") {
        return by_dedup_key(&state, key, params.get("source")).await;
    }
    let status = params.one_of("status", STATUSES)?;
    let before_seq = params.seq_cursor()?;
    let filter = EventFilter {
        source: params.get("source").map(str::to_string),
        status,
        event_type: params.get("type").map(str::to_string),
        since: time_param(&params, "since")?,
        until: time_param(&params, "until")?,
        before_seq,
        after_seq: None,
        limit: params.limit()?,
    };
    let page = state.store.list_events(&filter).await?;
    Ok(page_response(&page, |e| e.seq.to_string(), summary))
}

/// `?dedup_key=`: the event that holds the key in its source's dedup window (of the given
/// source, or of any source). Keys are stored as digests per source, so each source is asked.
async fn by_dedup_key(state: &AppState, key: &str, source: Option<&str>) -> Result<Response, ApiError> {
    let sources = match source {
        Some(s) => state.store.get_source(s).await?.into_iter().collect(),
        None => state.store.all_sources().await?,
    };
    let now = switchyard_core::time::now_micros();
    let mut found = Vec::new();
    for s in sources {
        for form in switchyard_engine::intake::dedup_key::stored_forms(key) {
            if let Some(id) = state.store.event_by_dedup_key(&s.id, &form, now).await?
                && let Some(e) = state.store.get_event(&id).await?
            {
                found.push(e.summary());
                break;
            }
        }
    }
    let page = switchyard_store::Page {
        items: found,
        has_more: false,
    };
    Ok(page_response(&page, |e| e.seq.to_string(), summary))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    if !is_id_of(IdKind::Event, &id) {
        return Err(ApiError::not_found("event"));
    }
    let event = state
        .store
        .get_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let receipts = state.store.event_receipts(&id).await?;
    // The event row is the receipt of the request that created it; later receipts follow.
    let accepted = json!({
        "at": to_rfc3339(event.received_at),
        "state": "received",
        "status_code": 202,
        "request_id": event.request_id,
        "detail": null,
    });
    let later = receipts.iter().map(|r| {
        json!({
            "at": to_rfc3339(r.at),
            "state": r.outcome,
            "status_code": r.status_code,
            "request_id": r.request_id,
            "detail": r.reason,
        })
    });
    let timeline: Vec<Value> = std::iter::once(accepted).chain(later).collect();
    let (redact, secret_headers) = source_rules(&state, &event).await?;
    let mut v = json!({
        "id": event.id,
        "source": event.source_name,
        "source_id": event.source_id,
        "type": event.event_type,
        "status": event.status,
        "received_at": to_rfc3339(event.received_at),
        "content_type": event.content_type,
        "request_id": event.request_id,
        "headers": shown_headers(&event.headers, &secret_headers),
        "timeline": timeline,
        "validation_errors": event.validation_errors.as_deref().and_then(|v| serde_json::from_str::<Value>(v).ok()),
    });
    let (mut payload, encoding) = shown_payload(&event, !redact.is_empty());
    // The source's redaction paths hide fields in views; the stored payload keeps them.
    redact_paths(&mut payload, &redact);
    v["payload"] = payload;
    v["payload_encoding"] = json!(encoding);
    // Event → runs → steps (`/v1/runs/{id}`) → deliveries and attempts.
    let runs = state
        .store
        .list_runs(&switchyard_store::RunFilter {
            event_id: Some(event.id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await?;
    v["runs"] = Value::Array(runs.items.iter().map(super::runs::summary).collect());
    v["deliveries"] = json!(format!("/v1/deliveries?event={}", event.id));
    Ok(axum::Json(v).into_response())
}

/// The redaction paths and secret header names of the event's source, found by id so a rename
/// changes nothing, and in the source's tombstone once it is deleted: an event keeps its
/// redaction for as long as it lives.
pub(crate) async fn source_rules(state: &AppState, e: &EventRecord) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let Some(id) = e.source_id.as_deref() else {
        return Ok((Vec::new(), Vec::new()));
    };
    if let Some(source) = state.catalog.lookup_id(id) {
        return Ok((source.spec.redact.clone(), source.spec.verify.secret_headers()));
    }
    if let Some(row) = state.store.get_source(id).await? {
        return Ok(rules_of(&row.config));
    }
    Ok(state
        .store
        .source_tombstone(id)
        .await?
        .map(|t| rules_of(&t.config))
        .unwrap_or_default())
}

fn rules_of(config: &str) -> (Vec<String>, Vec<String>) {
    serde_json::from_str::<switchyard_core::source::SourceSpec>(config)
        .map(|s| (s.redact.clone(), s.verify.secret_headers()))
        // A definition that no longer parses still must not expose anything: hide everything.
        .unwrap_or_else(|_| (vec!["*".into()], Vec::new()))
}

/// The payload as JSON when it parses, a form as its fields, else text, else base64 — the stored
/// bytes are never altered. With redaction in force, a payload that has no fields to redact is
/// hidden whole rather than shown with its secrets.
fn shown_payload(e: &EventRecord, redacting: bool) -> (Value, &'static str) {
    if let Ok(v) = serde_json::from_slice::<Value>(&e.payload) {
        return (v, "json");
    }
    if switchyard_engine::intake::is_form(e.content_type.as_deref())
        && let Some(v) = switchyard_engine::intake::payload_view(e.content_type.as_deref(), &e.payload)
    {
        return (v, "form");
    }
    if redacting {
        return (Value::String(REDACTED.into()), "redacted");
    }
    match std::str::from_utf8(&e.payload) {
        Ok(s) => (Value::String(s.to_string()), "text"),
        Err(_) => (Value::String(STANDARD.encode(&e.payload)), "base64"),
    }
}

/// Stored headers are redacted on the way in; redacting again on the way out also covers rows
/// written before a header name joined the secret list.
fn shown_headers(stored: &str, extra_secret: &[String]) -> Value {
    let mut map: Map<String, Value> = serde_json::from_str(stored).unwrap_or_default();
    for (k, v) in map.iter_mut() {
        if is_secret_header(k, extra_secret) {
            *v = json!(REDACTED);
        }
    }
    Value::Object(map)
}
