//! `/v1/runs` (SPEC §7): run history with each step's status, attempts, output (redacted by the
//! trigger source's rules), error and times; `POST /v1/runs/{id}/retry` resumes a failed or dead
//! run from its failed step.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::flow::RunStatus;
use switchyard_core::headers::REDACTED;
use switchyard_core::redact::redact_paths;
use switchyard_core::time::{now_micros, to_rfc3339};
use switchyard_store::{RunFilter, RunRow, StepRow};

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Params, page_response};
use crate::routes::audit::note;

pub(crate) fn summary(r: &RunRow) -> Value {
    json!({
        "id": r.id,
        "flow": r.flow_name,
        "flow_id": r.flow_id,
        "flow_version": r.flow_version,
        "event_id": r.event_id,
        "status": r.status,
        "failed_step": r.failed_step,
        "error": r.error_class.as_ref().map(|c| json!({"class": c, "message": r.error_message})),
        "started_at": to_rfc3339(r.started_at),
        "finished_at": r.finished_at.map(to_rfc3339),
        "sequence": r.sequence,
        "note": r.note.as_deref().and_then(|n| serde_json::from_str::<Value>(n).ok()),
    })
}

/// What a run's views hide: the trigger source's `redact` paths, applied to every output, and
/// every value found at those paths in the payload, wherever a step copied it.
pub(crate) struct Redaction {
    paths: Vec<String>,
    values: Vec<String>,
}

impl Redaction {
    async fn of(state: &AppState, run: &RunRow) -> Result<Redaction, ApiError> {
        Redaction::of_event(state, state.store.get_event(&run.event_id).await?.as_ref()).await
    }

    /// The rules of the event's source (none for an event that has no source or is not stored).
    pub(crate) async fn of_event(
        state: &AppState,
        event: Option<&switchyard_store::EventRecord>,
    ) -> Result<Redaction, ApiError> {
        let Some(event) = event else {
            return Ok(Redaction {
                paths: Vec::new(),
                values: Vec::new(),
            });
        };
        let (paths, _) = super::events::source_rules(state, event).await?;
        let mut values = Vec::new();
        if !paths.is_empty()
            && let Some(payload) =
                switchyard_engine::intake::payload_view(event.content_type.as_deref(), &event.payload)
        {
            let mut redacted = payload.clone();
            redact_paths(&mut redacted, &paths);
            collect_changed(&payload, &redacted, &mut values);
            // Longest first: a short value inside a longer one (a first name inside an email)
            // must not break the longer one's match and leave the rest of it visible.
            values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            values.dedup();
        }
        Ok(Redaction { paths, values })
    }

    pub(crate) fn apply(&self, v: &mut Value) {
        redact_paths(v, &self.paths);
        if !self.values.is_empty() {
            scrub(v, &self.values);
        }
    }
}

/// The values `redact_paths` replaced (as text).
fn collect_changed(before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    collect_changed(v, w, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (v, w) in a.iter().zip(b) {
                collect_changed(v, w, out);
            }
        }
        (v, Value::String(s)) if s == REDACTED && v != after => leaves(v, out),
        _ => {}
    }
}

/// Every value the source's rules hide, wherever it was copied (paths untouched).
impl Redaction {
    pub(crate) fn scrub_values(&self, v: &mut Value) {
        if !self.values.is_empty() {
            scrub(v, &self.values);
        }
    }
}

/// Every scalar under a redacted value (a redacted object or array hides each of its values
/// wherever a step copied one), as text; short ones are left out (they would cut common words).
fn leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => map.values().for_each(|x| leaves(x, out)),
        Value::Array(items) => items.iter().for_each(|x| leaves(x, out)),
        Value::Null | Value::Bool(_) => {}
        Value::String(s) if s.len() >= 4 => out.push(s.clone()),
        Value::Number(n) if n.to_string().len() >= 4 => out.push(n.to_string()),
        _ => {}
    }
}

fn scrub(v: &mut Value, values: &[String]) {
    match v {
        Value::String(s) => {
            for secret in values {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), REDACTED);
                }
            }
        }
        Value::Number(n) if values.iter().any(|x| *x == n.to_string()) => *v = json!(REDACTED),
        Value::Array(items) => items.iter_mut().for_each(|i| scrub(i, values)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub(i, values)),
        _ => {}
    }
}

fn step_view(s: &StepRow, redaction: &Redaction) -> Value {
    let mut output = s.output.as_deref().and_then(|o| serde_json::from_str::<Value>(o).ok());
    if let Some(o) = output.as_mut() {
        redaction.apply(o);
    }
    let mut error = s.error_message.as_ref().map(|m| Value::String(m.clone()));
    if let Some(e) = error.as_mut() {
        scrub(e, &redaction.values);
    }
    json!({
        "id": s.step_id,
        "path": s.path,
        "status": s.status,
        "attempts": s.attempts,
        "output": output,
        "error": s.error_class.as_ref().map(|c| json!({"class": c, "message": error})),
        "started_at": s.started_at.map(to_rfc3339),
        "finished_at": s.finished_at.map(to_rfc3339),
    })
}

async fn full(state: &AppState, run: &RunRow) -> Result<Value, ApiError> {
    let steps = state.store.run_steps(&run.id).await?;
    let redaction = Redaction::of(state, run).await?;
    let mut v = summary(run);
    // The flow-control key is computed from the payload: redacted values stay hidden in it.
    let mut key = json!(run.control_key);
    redaction.scrub_values(&mut key);
    v["control_key"] = key;
    v["steps"] = Value::Array(steps.iter().map(|s| step_view(s, &redaction)).collect());
    v["deliveries"] = json!(format!("/v1/deliveries?event={}", run.event_id));
    Ok(v)
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let status = params
        .one_of("status", RunStatus::NAMES)?
        .and_then(|s| s.parse::<RunStatus>().ok());
    let filter = RunFilter {
        flow_name: params.get("flow").map(str::to_string),
        status,
        event_id: params.get("event").map(str::to_string),
        before_seq: params.seq_cursor()?,
        ended_since: None,
        limit: params.limit()?,
    };
    let page = state.store.list_runs(&filter).await?;
    Ok(page_response(&page, |r| r.seq.to_string(), summary))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let run = state
        .store
        .get_run(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    Ok(axum::Json(full(&state, &run).await?).into_response())
}

/// Resumes a failed or dead run from its failed step: `202` with the run.
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let run = state
        .store
        .get_run(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    let Some(resumed) = state.store.retry_run(&run.id, now_micros()).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_not_retryable",
            format!("the run is {}; only failed or dead runs can be retried", run.status),
        ));
    };
    state.runner.wake();
    tracing::info!(run_id = %resumed.id, "run retried from its failed step");
    let change = json!({"status": resumed.status.as_str()});
    let was = json!({"status": run.status.as_str()});
    note(
        &state,
        &principal,
        AuditAction::Retry,
        AuditResource::Run,
        &resumed.id,
        Some(&was),
        Some(&change),
    )
    .await;
    Ok((StatusCode::ACCEPTED, axum::Json(full(&state, &resumed).await?)).into_response())
}
