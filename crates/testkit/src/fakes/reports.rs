//! A report webhook: `POST /reports/{channel}` takes any JSON object and answers `204`; what it
//! took is kept for the example's checks.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use super::{Inner, Seen, header_map};

pub(super) fn routes() -> Router<Arc<Inner>> {
    Router::new().route("/reports/{channel}", post(report))
}

async fn report(State(s): State<Arc<Inner>>, Path(channel): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(report @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "a JSON object, please").into_response();
    };
    s.accept(
        "reports",
        Seen {
            path: format!("/reports/{channel}"),
            headers: header_map(&headers),
            body: report,
        },
    );
    StatusCode::NO_CONTENT.into_response()
}
