//! `GET /v1/receipts`: every request that reached `/in/{source}`, accepted or refused, newest
//! first — where an operator looks when a provider says "we sent it" and no event exists. An
//! accepted request's receipt is its event, so its `id` is the event id.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;
use switchyard_core::apikey::Scope;
use switchyard_core::time::to_rfc3339;
use switchyard_store::ReceiptCursor;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Params, page_response};

pub async fn list(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let cursor = params
        .cursor()?
        .map(|c| {
            c.split_once(':')
                .and_then(|(at, id)| {
                    Some(ReceiptCursor {
                        at: at.parse().ok()?,
                        id: id.to_string(),
                    })
                })
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned"))
        })
        .transpose()?;
    let page = state
        .store
        .list_receipts(params.get("source"), cursor.as_ref(), params.limit()?)
        .await?;
    Ok(page_response(
        &page,
        |r| format!("{}:{}", r.at, r.id),
        |r| {
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
        },
    ))
}
