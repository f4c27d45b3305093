//! `GET /v1/receipts`: every request that reached `/in/{source}`, accepted or refused, newest
//! first — where an operator looks when a provider says "we sent it" and no event exists.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::time::to_rfc3339;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Params, encode_cursor};

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let before_seq = params.seq_cursor()?;
    let page = state
        .store
        .list_receipts(params.get("source"), before_seq, params.limit()?)
        .await?;
    let next = page
        .has_more
        .then(|| page.items.last().map(|r| encode_cursor(&r.seq.to_string())))
        .flatten();
    let data: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            let r = &e.receipt;
            json!({
                "id": r.id,
                "at": to_rfc3339(r.at),
                "source": r.source_name,
                "source_id": r.source_id,
                "request_id": r.request_id,
                "status_code": r.status_code,
                "outcome": r.outcome,
                "reason": r.reason,
                "event_id": r.event_id,
            })
        })
        .collect();
    Ok(axum::Json(json!({"data": data, "next_cursor": next})).into_response())
}
