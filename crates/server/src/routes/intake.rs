//! `POST /in/{source}`: the HTTP edge of intake. It finds the source, reads the body within the
//! source's size limit, and hands the request to the engine, which answers only after the event
//! is durably stored.
//!
//! A declared `Content-Length` over the limit is answered `413` at once. A body that passes the
//! limit while streaming (chunked, or longer than declared) is answered `413` as soon as it does,
//! never a timeout. Either way the rest is drained in the background within bounds
//! (`body_limit::drain`), so a client still uploading reads the 413 rather than a broken pipe.

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;
use switchyard_engine::intake::{Answer, HandshakeReply, Inbound, IntakeError};

use crate::AppState;
use crate::error::ApiError;
use crate::peer::PeerAddr;
use crate::request_id::current_request_id;

pub async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let intake = &state.intake;
    let request_id = current_request_id();
    let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let source = intake.admit(&name, peer.ip(), forwarded_for, &request_id)?;
    let limit = source.spec.max_body_bytes;
    if crate::body_limit::declared_length(&headers).is_some_and(|len| len > limit) {
        crate::body_limit::drain_in_background(body, 0);
        let err = IntakeError::PayloadTooLarge { limit };
        return Err(intake.reject(&name, Some(&source), &request_id, err).into());
    }
    let read = tokio::time::timeout(BODY_DEADLINE, read_limited(body, limit)).await;
    let body = match read.unwrap_or(Err(ReadError::TimedOut)) {
        Ok(b) => b,
        Err(ReadError::TimedOut) => {
            let err = IntakeError::BodyTimeout(BODY_DEADLINE.as_secs());
            return Err(intake.reject(&name, Some(&source), &request_id, err).into());
        }
        Err(ReadError::TooLarge) => {
            return Err(intake
                .reject(
                    &name,
                    Some(&source),
                    &request_id,
                    IntakeError::PayloadTooLarge { limit },
                )
                .into());
        }
        Err(ReadError::Broken(e)) => {
            let err = IntakeError::BodyUnreadable(e.to_string());
            return Err(intake.reject(&name, Some(&source), &request_id, err).into());
        }
    };
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let inbound = Inbound {
        request_id,
        method: method.to_string(),
        path_and_query,
        headers,
        body,
    };
    match intake.accept(&source, inbound).await? {
        Answer::Event { id, status } => {
            // SPEC §2: a duplicate is 200 with the first event's id; a new event is 202.
            let code = if status == "duplicate" {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            Ok((code, axum::Json(json!({"id": id, "status": status}))).into_response())
        }
        Answer::Handshake(reply) => Ok(handshake_response(reply)),
        // 2xx so the provider does not retry something we will never want.
        Answer::Ignored(event_type) => Ok((
            StatusCode::OK,
            axum::Json(json!({"status": "ignored", "type": event_type})),
        )
            .into_response()),
    }
}

/// `GET /in/{source}`: provider handshakes that arrive as GET (Meta's subscription check).
pub async fn handshake(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let intake = &state.intake;
    let request_id = current_request_id();
    // The same gate as POST: a GET handshake is refused to callers a delivery would be refused to.
    let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let source = intake.admit(&name, peer.ip(), forwarded_for, &request_id)?;
    let reply = intake.get_handshake(&source, uri.query().unwrap_or(""), &request_id)?;
    Ok(handshake_response(reply))
}

fn handshake_response(reply: HandshakeReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let headers = [
        (axum::http::header::CONTENT_TYPE, reply.content_type),
        // The body echoes what the caller sent: never let a browser sniff it into HTML.
        (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (status, headers, reply.body).into_response()
}

enum ReadError {
    TooLarge,
    TimedOut,
    Broken(axum::Error),
}

/// How long a client may take to send a whole body: a slow drip must not hold a task forever.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Collects the body; the moment it passes `limit` bytes the rest is left to a bounded background
/// drain and the answer is `TooLarge`.
async fn read_limited(mut body: Body, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Broken)?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len() as u64);
            if seen > limit {
                crate::body_limit::drain_in_background(body, seen);
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}
