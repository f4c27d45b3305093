//! Liveness, readiness and metrics. Readiness probes the store with a short deadline, so a hung database
//! reads as not ready instead of hanging the probe.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(
            json!({"status": "ready", "database": state.store.kind().as_str()}),
        )),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            Err(ApiError::unavailable("storage is unavailable"))
        }
        Err(_) => Err(ApiError::unavailable("storage did not answer within 2 s")),
    }
}

/// `GET /metrics` (SPEC §5): Prometheus text format, unauthenticated like the probes (it holds
/// names and counts, never payloads or secrets).
pub async fn metrics(State(state): State<AppState>) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let text = switchyard_engine::metrics::render(state.store.as_ref(), &state.endpoints, &state.dispatcher).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
