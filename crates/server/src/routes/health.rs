//! Liveness and readiness. Readiness probes the store with a short deadline, so a hung database
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
