//! `/v1/flows` (SPEC §7): definitions checked before they are stored, every change a new version
//! (`/versions`), and manual runs (`POST /v1/flows/{name}/runs`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::flow::{FlowSpec, TriggerKind};
use switchyard_core::ids::IdKind;
use switchyard_core::time::to_rfc3339;
use switchyard_engine::delivery::Publication;
use switchyard_engine::fanout::Origin;
use switchyard_engine::flows::Flow;

use switchyard_core::audit::{AuditAction, AuditResource};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params, page_response};
use crate::idempotency;
use crate::request_id::current_request_id;
use crate::routes::audit::note;

/// The event type of a manual run's trigger event.
const MANUAL_EVENT_TYPE: &str = "switchyard.manual";

fn view(f: &Flow) -> Value {
    let mut v = serde_json::to_value(f.spec.as_ref()).unwrap_or(Value::Null);
    v["id"] = json!(f.id);
    v["version"] = json!(f.version);
    v["created_at"] = json!(to_rfc3339(f.created_at));
    v["updated_at"] = json!(to_rfc3339(f.updated_at));
    // A schedule shows when it fires next.
    if let Ok(TriggerKind::Cron { cron, timezone }) = f.spec.trigger.kind()
        && let Ok(s) = switchyard_core::flow::schedule::Schedule::parse(cron, timezone)
    {
        let next: Vec<String> = s
            .upcoming(switchyard_core::time::now_micros(), 5)
            .into_iter()
            .map(to_rfc3339)
            .collect();
        v["next_runs"] = json!(next);
    }
    v
}

/// A definition from a request body, without the read-only fields a view carries.
fn spec_of(mut body: Value) -> Result<FlowSpec, ApiError> {
    if let Some(fields) = body.as_object_mut() {
        for read_only in ["id", "version", "created_at", "updated_at"] {
            fields.remove(read_only);
        }
    }
    serde_json::from_value(body).map_err(|e| ApiError::unprocessable(e.to_string()))
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    idempotency::once(&state, &principal, &headers, "POST /v1/flows", &body, || async {
        let created = state.flows.create(spec_of(body.clone())?).await?;
        tracing::info!(flow_id = %created.id, flow = %created.spec.name, "flow created");
        let after = view(&created);
        note(
            &state,
            &principal,
            AuditAction::Create,
            AuditResource::Flow,
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
        .flows
        .list(params.id_cursor(IdKind::Flow)?.as_deref(), params.limit()?)
        .await?;
    Ok(page_response(&page, |f| f.id.clone(), view))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    Ok(axum::Json(view(&state.flows.get(&id).await?)).into_response())
}

/// `PUT`: the whole definition; a new version unless it is the same.
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let before = view(&state.flows.get(&id).await?);
    let f = state.flows.replace(&id, spec_of(body)?).await?;
    tracing::info!(flow_id = %f.id, version = f.version, "flow replaced");
    changed(&state, &principal, &before, &f).await
}

/// `PATCH`: top-level keys replace; a new version unless nothing changed.
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(mut patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let Some(fields) = patch.as_object_mut() else {
        return Err(ApiError::unprocessable("the body must be a JSON object of flow fields"));
    };
    for read_only in ["id", "version", "created_at", "updated_at"] {
        fields.remove(read_only);
    }
    let before = view(&state.flows.get(&id).await?);
    let f = state.flows.update(&id, &patch).await?;
    tracing::info!(flow_id = %f.id, version = f.version, "flow updated");
    changed(&state, &principal, &before, &f).await
}

/// Audits a new definition against the view before it and answers with the new view.
async fn changed(state: &AppState, principal: &Principal, before: &Value, f: &Flow) -> Result<Response, ApiError> {
    let after = view(f);
    note(
        state,
        principal,
        AuditAction::Update,
        AuditResource::Flow,
        &f.id,
        Some(before),
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
    let gone = state.flows.get(&id).await?;
    state.flows.delete(&id).await?;
    tracing::info!(flow = %id, "flow deleted");
    let before = view(&gone);
    note(
        &state,
        &principal,
        AuditAction::Delete,
        AuditResource::Flow,
        &gone.id,
        Some(&before),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn versions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let versions = state.flows.versions(&id).await?;
    let data: Vec<Value> = versions
        .into_iter()
        .map(|(version, spec, created_at)| {
            json!({"version": version, "created_at": to_rfc3339(created_at), "definition": spec})
        })
        .collect();
    Ok(axum::Json(json!({ "data": data })).into_response())
}

/// `POST /v1/flows/{id}/versions/{version}/activate`: a rollback — the version's definition
/// becomes current as a new version (`200` with the flow and `activated_from`).
pub async fn activate(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let Ok(version) = version.parse::<i64>() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "version_not_found",
            format!("{version:?} is not a version number"),
        ));
    };
    let before = view(&state.flows.get(&id).await?);
    let flow = state.flows.activate(&id, version).await?;
    tracing::info!(flow_id = %flow.id, activated_from = version, version = flow.version, "flow version activated");
    let mut after = view(&flow);
    if before["version"] != after["version"] {
        crate::routes::audit::note(
            &state,
            &principal,
            AuditAction::Update,
            AuditResource::Flow,
            &flow.id,
            Some(&before),
            Some(&after),
        )
        .await;
    }
    after["activated_from"] = json!(version);
    Ok(axum::Json(after).into_response())
}

/// `POST /v1/flows/{name}/runs {"payload": {…}}`: a run of this flow (whatever its trigger), with
/// an event of type `switchyard.manual` that carries the payload. `202 {"id": "run_…"}`.
pub async fn start_run(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let flow = state.flows.get(&id).await?;
    let route = format!("POST /v1/flows/{}/runs", flow.id);
    idempotency::once(&state, &principal, &headers, &route, &body, || async {
        let Some(fields) = body.as_object() else {
            return Err(ApiError::unprocessable(
                "the body must be a JSON object: {\"payload\": {…}}",
            ));
        };
        if let Some(unknown) = fields.keys().find(|k| *k != "payload") {
            return Err(ApiError::unprocessable(format!(
                "unknown field {unknown:?}; send {{\"payload\": {{…}}}}"
            )));
        }
        let payload = fields.get("payload").cloned().unwrap_or_else(|| json!({}));
        let event_type = match flow.spec.trigger.kind() {
            Ok(TriggerKind::EventTypes(types)) => types
                .iter()
                .find(|t| !t.ends_with('*'))
                .map(String::as_str)
                .unwrap_or(MANUAL_EVENT_TYPE),
            _ => MANUAL_EVENT_TYPE,
        };
        let request_id = current_request_id();
        let published = state
            .publisher
            .publish_event(Publication {
                event_type,
                payload: &payload,
                request_id: &request_id,
                origin: Origin::Manual { flow_id: &flow.id },
                dedup_key: None,
            })
            .await?;
        let run = published.runs.first().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "flow_filtered",
                "the flow's trigger filter did not pass for this payload; no run was created",
            )
        })?;
        tracing::info!(flow = %flow.spec.name, run_id = %run, "manual run started");
        let started = json!({"run_id": run, "event_id": published.event_id});
        note(
            &state,
            &principal,
            AuditAction::Start,
            AuditResource::Flow,
            &flow.id,
            None,
            Some(&started),
        )
        .await;
        Ok((
            StatusCode::ACCEPTED,
            json!({ "id": run, "event_id": published.event_id, "flow": flow.spec.name }),
        ))
    })
    .await
}
