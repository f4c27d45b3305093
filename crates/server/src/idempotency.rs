//! `Idempotency-Key` on creating requests: the first request with a key reserves it, runs, and
//! stores its successful response (sealed, since it may show a secret once); a repeat with the
//! same key and the same request gets that response again. Failed requests free the key so the
//! client can fix and retry.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchyard_store::IdempotencyState;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Runs `create` at most once per `(principal, Idempotency-Key)`.
pub async fn once<F, Fut>(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    route: &str,
    body: &Value,
    create: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(raw) = headers.get("idempotency-key") else {
        let (status, json) = create().await?;
        return Ok((status, axum::Json(json)).into_response());
    };
    let key = raw
        .to_str()
        .ok()
        // Exactly what the message promises: visible ASCII, no spaces.
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible characters",
            )
        })?;
    let fingerprint = hex::encode(Sha256::digest(format!("{route}\n{body}")));
    let store = &state.store;
    match store
        .idempotency_begin(
            &principal.key_id,
            key,
            &fingerprint,
            switchyard_core::time::now_micros(),
        )
        .await?
    {
        IdempotencyState::Started => match create().await {
            Ok((status, json)) => {
                let sealed = state.master_key.seal(json.to_string().as_bytes());
                if let Err(e) = store
                    .idempotency_complete(&principal.key_id, key, i32::from(status.as_u16()), &sealed)
                    .await
                {
                    // The resource exists; failing now would invite a duplicate. Log and answer.
                    tracing::warn!(error = %e, "could not record the idempotent response");
                }
                Ok((status, axum::Json(json)).into_response())
            }
            Err(e) => {
                if let Err(abort) = store.idempotency_abort(&principal.key_id, key).await {
                    tracing::warn!(error = %abort, "could not release an idempotency key");
                }
                Err(e)
            }
        },
        IdempotencyState::InProgress { .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )),
        IdempotencyState::Completed {
            fingerprint: first,
            status_code,
            response,
        } => {
            if first != fingerprint {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request",
                ));
            }
            let plain = state.master_key.open(&response).map_err(|e| {
                tracing::error!(error = %e, "cannot open a stored idempotent response");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "an internal error occurred",
                )
            })?;
            let json: Value = serde_json::from_slice(&plain).unwrap_or(Value::Null);
            let status = StatusCode::from_u16(status_code as u16).unwrap_or(StatusCode::OK);
            let mut resp = (status, axum::Json(json)).into_response();
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
    }
}
