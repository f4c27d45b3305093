//! The route table: `/in` for providers, `/v1` for the management API, health for operators.

mod alerts;
mod apply;
mod audit;
mod dashboard;
mod deliveries;
mod destinations;
mod endpoints;
mod events;
mod flow_test;
mod flows;
mod health;
mod intake;
mod keys;
mod receipts;
mod release;
mod runs;
mod sources;
mod stats;
mod tail;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;

/// Upper bound on handling one request.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// HSTS for HTTPS deployments: one year, as browsers and scanners expect.
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub fn router(state: AppState, https: bool) -> Router {
    // The management API shares one body limit, checked from the declared length before a byte
    // is read; `/in` applies each source's own limit in its handler.
    let api = Router::new()
        .route("/v1/sources", get(sources::list).post(sources::create))
        .route(
            "/v1/sources/{id}",
            get(sources::show).patch(sources::update).delete(sources::delete),
        )
        .route("/v1/sources/{id}/disable", post(sources::disable))
        .route("/v1/sources/{id}/enable", post(sources::enable))
        .route("/v1/events", get(events::list).post(deliveries::publish))
        .route("/v1/events/stream", get(tail::stream))
        .route("/v1/events/{id}", get(events::show))
        .route("/v1/events/{id}/replay", post(deliveries::replay_event))
        .route("/v1/endpoints", get(endpoints::list).post(endpoints::create))
        .route(
            "/v1/endpoints/{id}",
            get(endpoints::show).patch(endpoints::update).delete(endpoints::delete),
        )
        .route("/v1/endpoints/{id}/enable", post(endpoints::enable))
        .route("/v1/endpoints/{id}/disable", post(endpoints::disable))
        .route("/v1/endpoints/{id}/secret/rotate", post(endpoints::rotate_secret))
        .route("/v1/endpoints/{id}/replay", post(endpoints::replay))
        .route("/v1/destinations", get(destinations::list).post(destinations::create))
        .route(
            "/v1/destinations/{id}",
            get(destinations::show)
                .patch(destinations::update)
                .delete(destinations::delete),
        )
        .route("/v1/flows", get(flows::list).post(flows::create))
        .route(
            "/v1/flows/{id}",
            get(flows::show)
                .put(flows::replace)
                .patch(flows::update)
                .delete(flows::delete),
        )
        .route("/v1/flows/{id}/versions", get(flows::versions))
        .route("/v1/flows/{id}/versions/{version}/activate", post(flows::activate))
        .route("/v1/flows/{id}/runs", post(flows::start_run))
        .route("/v1/flows/{id}/test", post(flow_test::test))
        .route("/v1/flows/{id}/compare", post(flow_test::compare))
        .route("/v1/runs", get(runs::list))
        .route("/v1/runs/{id}", get(runs::show))
        .route("/v1/runs/{id}/retry", post(runs::retry))
        .route("/v1/deliveries", get(deliveries::list))
        .route("/v1/deliveries/{id}", get(deliveries::show))
        .route("/v1/deliveries/{id}/attempts", get(deliveries::attempts))
        .route("/v1/deliveries/{id}/replay", post(deliveries::replay))
        .route("/v1/events/release", post(release::bulk))
        .route("/v1/events/{id}/release", post(release::one))
        .route("/v1/receipts", get(receipts::list))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/audit", get(audit::list))
        .route("/v1/alerts", get(alerts::list).post(alerts::create))
        .route(
            "/v1/alerts/{id}",
            get(alerts::show).patch(alerts::update).delete(alerts::delete),
        )
        .route("/v1/alerts/{id}/notifications", get(alerts::notifications))
        .route("/v1/apply", post(apply::apply))
        .route("/v1/stats", get(stats::overview))
        .route("/v1/whoami", get(keys::whoami))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .layer(axum::middleware::from_fn(crate::body_limit::middleware));
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/", get(dashboard::index))
        .route("/app.css", get(dashboard::stylesheet))
        .route("/js/{file}", get(dashboard::script))
        .route("/in/{source}", post(intake::receive).get(intake::handshake))
        .merge(crate::openapi::routes())
        .merge(api)
        .layer(CatchPanicLayer::new())
        // A request (body included) that runs past this is answered 503 — never a 2xx — and its
        // work is dropped; an intake write already queued still commits (at-least-once).
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(crate::request_id::middleware));
    let router = if https {
        router.layer(axum::middleware::map_response(
            |mut resp: axum::response::Response| async move {
                resp.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static(HSTS),
                );
                resp
            },
        ))
    } else {
        router
    };
    router.with_state(state)
}
