//! Bodies over the limit are refused from their declared length, before a byte is read: a client
//! that announces 10 GB and then stalls is answered `413` at once instead of holding a task until a
//! timeout. `/in/{source}` has per-source limits and checks them itself (`routes/intake.rs`); the
//! `/v1` routes share [`API_BODY_LIMIT`] (this middleware is layered on them alone), which is also
//! axum's buffering limit for JSON bodies.
//!
//! The refused body is still drained in the background, bounded by [`DRAIN_GRACE`] and
//! [`DRAIN_CAP`], so a client still uploading reads the 413 instead of a broken pipe; a client that
//! stalls costs at most that grace, never a request slot.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Largest management-API request body (axum's default `DefaultBodyLimit`).
pub const API_BODY_LIMIT: u64 = 2 * 1024 * 1024;

/// The `Content-Length` a request declares, when it is a valid number.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// `413` for a declared length over the limit (layered on the management API's routes only).
pub async fn middleware(req: Request, next: Next) -> Response {
    if let Some(len) = declared_length(req.headers())
        && len > API_BODY_LIMIT
    {
        drain_in_background(req.into_body(), 0);
        return too_large(API_BODY_LIMIT).into_response();
    }
    next.run(req).await
}

/// The `413` every body-size refusal outside intake uses.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {limit} bytes"),
    )
}

/// How long a refused body is drained.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Bytes of a refused body read and discarded at most; past this the connection is closed.
pub const DRAIN_CAP: u64 = 32 * 1024 * 1024;

/// Reads and discards the rest of a refused body, `seen` bytes of which were already read, within
/// [`DRAIN_GRACE`] and [`DRAIN_CAP`].
pub async fn drain(mut body: Body, mut seen: u64) {
    use http_body_util::BodyExt;
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        while seen <= DRAIN_CAP {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let n = frame.data_ref().map_or(0, |d| d.len());
                    seen = seen.saturating_add(n as u64);
                }
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
}

/// [`drain`] without holding up the answer.
pub fn drain_in_background(body: Body, seen: u64) {
    tokio::spawn(drain(body, seen));
}
