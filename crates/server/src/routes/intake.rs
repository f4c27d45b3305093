//! `POST /in/{source}`: the HTTP edge of intake. It finds the source, reads the body within the
//! source's size limit (rejecting early on a declared `Content-Length`), and hands the request to
//! the engine, which answers only after the event is durably stored.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;
use switchyard_engine::intake::{Inbound, IntakeError};

use crate::AppState;
use crate::error::ApiError;
use crate::request_id::current_request_id;

pub async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let intake = &state.intake;
    let request_id = current_request_id();
    let source = intake.source(&name).map_err(|e| intake.reject(&name, None, &request_id, e))?;
    let limit = source.spec.max_body_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(intake.reject(&name, Some(&source), &request_id, IntakeError::PayloadTooLarge { limit }).into());
    }
    let body = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => {
            return Err(intake.reject(&name, Some(&source), &request_id, IntakeError::PayloadTooLarge { limit }).into());
        }
        Err(ReadError::Broken(e)) => {
            return Err(ApiError::bad_request("body_read_failed", format!("the request body could not be read: {e}")));
        }
    };
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let accepted = intake.accept(&source, Inbound { request_id, headers, body }).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"id": accepted.id, "status": accepted.status}))).into_response())
}

enum ReadError {
    TooLarge,
    Broken(axum::Error),
}

/// Collects the body, stopping as soon as it passes `limit` bytes.
async fn read_limited(mut body: Body, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}
