//! `GET /v1/audit` (admin, SPEC §4) and [`note`], which every route that changes something calls
//! once the change is stored: the key that made it, the action and a diff of the masked views.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::audit::{AuditAction, AuditResource};
use switchyard_core::time::to_rfc3339;
use switchyard_store::{AuditFilter, AuditRow};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Params, page_response};

/// Records a change made through the API (see `switchyard_engine::audit::record`).
pub(crate) async fn note(
    state: &AppState,
    principal: &Principal,
    action: AuditAction,
    resource: AuditResource,
    resource_id: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) {
    switchyard_engine::audit::record(
        state.store.as_ref(),
        Some(&principal.key_id),
        action,
        resource,
        resource_id,
        before,
        after,
    )
    .await;
}

fn view(r: &AuditRow) -> Value {
    json!({
        "id": r.id, "at": to_rfc3339(r.at), "key_id": r.key_id, "action": r.action,
        "resource": r.resource, "resource_id": r.resource_id,
        "changes": serde_json::from_str::<Value>(&r.changes).unwrap_or(Value::Null),
    })
}

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let filter = AuditFilter {
        before_seq: params.seq_cursor()?,
        resource_id: params.get("resource_id").map(str::to_string),
        limit: params.limit()?,
    };
    let page = state.store.list_audit(&filter).await?;
    Ok(page_response(&page, |r| r.seq.to_string(), view))
}
