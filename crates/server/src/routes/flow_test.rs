//! What-if runs (SPEC §7, `switchyard flows test`): `POST /v1/flows/{id}/test` walks the active
//! definition — or a changed one in the body — over a stored event or a given payload, and
//! answers every request it would send (none is sent, nothing is stored); `POST
//! /v1/flows/{id}/compare` walks the active and a changed definition over the last N events of
//! the trigger and answers where their requests differ. Views follow the trigger source's
//! redaction rules, as run views do.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::flow::{FlowSpec, TriggerKind};
use switchyard_core::time::now_micros;
use switchyard_engine::flows::compare;
use switchyard_store::EventRecord;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::runs::Redaction;

/// Most events `compare` walks.
const MAX_COMPARE: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// A stored event to walk over.
    event_id: Option<String>,
    /// Or a payload (with an optional event type) to walk over.
    payload: Option<Value>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// A changed definition to walk instead of the active one.
    definition: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    definition: Value,
    /// How many of the trigger's latest events (default 100).
    last: Option<usize>,
}

/// The definition to walk: the body's (checked like any change, named as the flow) or the
/// active one.
async fn definition(
    state: &AppState,
    flow: &switchyard_engine::flows::Flow,
    given: Option<Value>,
) -> Result<Arc<FlowSpec>, ApiError> {
    let Some(mut body) = given else {
        return Ok(flow.spec.clone());
    };
    if let Some(fields) = body.as_object_mut() {
        fields.insert("name".into(), json!(flow.spec.name));
    }
    let spec: FlowSpec =
        serde_json::from_value(body).map_err(|e| ApiError::unprocessable(format!("definition: {e}")))?;
    state.flows.check(&spec).await?;
    Ok(Arc::new(spec))
}

/// An event made from a given payload: what its trigger would have delivered.
fn given_event(spec: &FlowSpec, payload: &Value, event_type: Option<String>) -> EventRecord {
    let source = match spec.trigger.kind() {
        Ok(TriggerKind::Source { source, .. }) => Some(source.to_string()),
        _ => None,
    };
    EventRecord {
        seq: 0,
        id: "evt_whatif".into(),
        source_id: None,
        source_name: source,
        event_type,
        status: "received".into(),
        received_at: now_micros(),
        content_type: Some("application/json".into()),
        headers: "{}".into(),
        payload: serde_json::to_vec(payload).unwrap_or_default(),
        request_id: String::new(),
        validation_errors: None,
    }
}

/// A report as the API shows it: outputs and request bodies under the source's redaction.
fn redacted(report: &switchyard_engine::flows::Report, redaction: &Redaction) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(steps) = v["steps"].as_array_mut() {
        for s in steps {
            redaction.apply(&mut s["output"]);
        }
    }
    if let Some(requests) = v["requests"].as_array_mut() {
        for r in requests {
            for part in ["body", "payload"] {
                redaction.apply(&mut r["request"][part]);
            }
        }
    }
    redaction.scrub_values(&mut v);
    v
}

pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TestRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let flow = state.flows.get(&id).await?;
    let changed = body.definition.is_some();
    let spec = definition(&state, &flow, body.definition).await?;
    let (event, stored) = match (body.event_id, body.payload) {
        (Some(id), None) => {
            let event = state
                .store
                .get_event(&id)
                .await?
                .ok_or_else(|| ApiError::not_found("event"))?;
            (event, true)
        }
        (None, Some(payload)) => (given_event(&spec, &payload, body.event_type), false),
        _ => {
            return Err(ApiError::unprocessable("give either event_id or payload"));
        }
    };
    let report = state.rehearser.rehearse(&flow.spec.name, spec, &event).await?;
    let redaction = Redaction::of_event(&state, stored.then_some(&event)).await?;
    let mut v = redacted(&report, &redaction);
    v["flow"] = json!(flow.spec.name);
    v["version"] = if changed { Value::Null } else { json!(flow.version) };
    v["definition"] = json!(if changed { "changed" } else { "active" });
    v["sent"] = json!(false);
    Ok(Json(v).into_response())
}

pub async fn compare(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompareRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let flow = state.flows.get(&id).await?;
    let changed = definition(&state, &flow, Some(body.definition)).await?;
    let last = body.last.unwrap_or(100);
    if !(1..=MAX_COMPARE).contains(&last) {
        return Err(ApiError::unprocessable(format!("last must be 1 to {MAX_COMPARE}")));
    }
    let events = compare::trigger_events(&state.store, &flow.spec.name, &flow.spec, last).await?;
    let result = compare::compare(&state.rehearser, &flow.spec.name, flow.spec.clone(), changed, &events).await?;
    let mut v = serde_json::to_value(&result).unwrap_or(Value::Null);
    // Differences quote request bodies: each event's own source rules hide what they hide.
    if let Some(items) = v["events"].as_array_mut() {
        for item in items {
            let id = item["event_id"].as_str().unwrap_or_default().to_string();
            let event = events.iter().find(|e| e.id == id);
            let redaction = Redaction::of_event(&state, event).await?;
            if let Some(diffs) = item["differences"].as_array_mut() {
                for d in diffs {
                    for side in ["active", "changed"] {
                        redaction.apply(&mut d[side]);
                    }
                }
            }
            redaction.scrub_values(item);
        }
    }
    v["flow"] = json!(flow.spec.name);
    v["version"] = json!(flow.version);
    v["sent"] = json!(false);
    Ok(Json(v).into_response())
}
