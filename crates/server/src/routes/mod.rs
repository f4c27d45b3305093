//! The route table: `/in` for providers, `/v1` for the management API, health for operators.

mod events;
mod health;
mod intake;
mod keys;
mod receipts;
mod sources;

use axum::Router;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/in/{source}", post(intake::receive))
        .route("/v1/sources", get(sources::list).post(sources::create))
        .route(
            "/v1/sources/{id}",
            get(sources::show).patch(sources::update).delete(sources::delete),
        )
        .route("/v1/sources/{id}/disable", post(sources::disable))
        .route("/v1/sources/{id}/enable", post(sources::enable))
        .route("/v1/events", get(events::list))
        .route("/v1/events/{id}", get(events::show))
        .route("/v1/receipts", get(receipts::list))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(crate::request_id::middleware))
        .with_state(state)
}
