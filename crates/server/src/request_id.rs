//! Request ids: each request gets one (a caller's well-formed `X-Request-Id` is kept, else a new
//! `req_…`), it is echoed on every response, visible to handlers through a task-local so errors
//! can carry it, and any error response not already in the envelope format is rewritten into it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchyard_core::ids::{IdKind, new_id};

use crate::error::{code_for_status, envelope};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, or `"none"` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "none".to_string())
}

/// Accept a caller's id only if it is short and plain, so it is safe in logs and headers.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| new_id(IdKind::Request));
    let resp = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    let mut resp = REQUEST_ID.scope(id.clone(), async { ensure_envelope(resp) }).await;
    // `acceptable` ids and generated ids are visible ASCII, so this cannot fail.
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Errors produced by the framework (unknown route, wrong method, panic) come without our
/// envelope; give them one so every rejection has a code, a message and a request id.
fn ensure_envelope(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() && !status.is_server_error() || is_json {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let body = envelope(code_for_status(status), &reason, None).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(body)).into_response()
}
