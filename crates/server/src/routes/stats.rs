//! `GET /v1/stats`: the last hour at a glance, for the dashboard's overview — requests,
//! deliveries, runs and destination calls per bucket (from the health samples every node adds
//! to, see `switchyard_engine::alerts::health`), and the job queue's depth and oldest age.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_core::apikey::Scope;
use switchyard_core::time::{now_micros, to_rfc3339};
use switchyard_engine::alerts::health::{BUCKET_MICROS, bucket_of};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Params;

/// What the overview covers.
const WINDOW_MICROS: i64 = 3600 * 1_000_000;

#[derive(Default, Clone, Copy)]
struct Row {
    received: i64,
    rejected: i64,
    deliveries_succeeded: i64,
    deliveries_failed: i64,
    runs_succeeded: i64,
    runs_failed: i64,
    calls_succeeded: i64,
    calls_failed: i64,
}

pub async fn overview(
    State(state): State<AppState>,
    principal: Principal,
    params: Params,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let bucket_seconds: i64 = match params.get("bucket_seconds") {
        None => 60,
        Some(s) => s
            .parse()
            .ok()
            .filter(|b: &i64| (10..=3600).contains(b) && b % 10 == 0)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    "bucket_seconds must be a multiple of 10 between 10 and 3600",
                )
            })?,
    };
    let width = bucket_seconds * 1_000_000;
    let now = now_micros();
    // Whole buckets of the requested width, the newest one holding now.
    let last = now - now.rem_euclid(width);
    let first = last - (WINDOW_MICROS / width - 1) * width;
    let mut rows: BTreeMap<i64, Row> = (0..WINDOW_MICROS / width)
        .map(|i| (first + i * width, Row::default()))
        .collect();
    for s in state.store.health_series(bucket_of(first)).await? {
        let at = s.bucket - (s.bucket - first).rem_euclid(width);
        let Some(r) = rows.get_mut(&at) else { continue };
        let ok = s.total - s.failed;
        match s.scope.as_str() {
            "source" => {
                r.received += ok;
                r.rejected += s.failed;
            }
            "endpoint" => {
                r.deliveries_succeeded += ok;
                r.deliveries_failed += s.failed;
            }
            "flow" => {
                r.runs_succeeded += ok;
                r.runs_failed += s.failed;
            }
            "destination" => {
                r.calls_succeeded += ok;
                r.calls_failed += s.failed;
            }
            _ => {}
        }
    }
    let buckets: Vec<Value> = rows
        .iter()
        .map(|(at, r)| {
            json!({
                "at": to_rfc3339(*at),
                "received": r.received,
                "rejected": r.rejected,
                "deliveries_succeeded": r.deliveries_succeeded,
                "deliveries_failed": r.deliveries_failed,
                "runs_succeeded": r.runs_succeeded,
                "runs_failed": r.runs_failed,
                "calls_succeeded": r.calls_succeeded,
                "calls_failed": r.calls_failed,
            })
        })
        .collect();
    let queues: Vec<Value> = state
        .store
        .queue_stats()
        .await?
        .iter()
        .map(|q| {
            json!({
                "kind": q.kind.as_str(),
                "depth": q.jobs,
                "oldest_age_seconds": q.oldest_due_at.map(|due| ((now - due).max(0)) / 1_000_000),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "bucket_seconds": bucket_seconds,
        "sample_seconds": BUCKET_MICROS / 1_000_000,
        "since": to_rfc3339(first),
        "buckets": buckets,
        "queues": queues,
    }))
    .into_response())
}
