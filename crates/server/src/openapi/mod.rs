//! The API's OpenAPI 3.1 description (`GET /v1/openapi.json`) and its interactive reference
//! (`GET /docs`, `docs.rs`). Handlers build their answers as JSON values, so the shapes are
//! described here, one file per resource, by types that exist only for documentation; the
//! request bodies that are core definitions (`SourceSpec`, `EndpointSpec`, …) use core's own
//! schemas. What every operation shares (bearer auth, `X-Request-Id`, the error answers any
//! route can give) is added in one pass by `shared::finish` rather than repeated on each route.
//!
//! `tests/openapi.rs` checks the document against the official OpenAPI 3.1 schema and that every
//! route of `routes/mod.rs` is in it; `scripts/api-fuzz` checks the server's answers against it.

mod alerts;
mod apply;
mod common;
pub mod config_schema;
mod deliveries;
mod destinations;
mod docs;
mod endpoints;
mod events;
mod flow_test;
mod flows;
mod keys;
mod ops;
mod runs;
mod shared;
mod sources;

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use utoipa::OpenApi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "Self-hosted webhook gateway: inbound webhooks at `/in/{source}`, the management API under `/v1`, and health at `/healthz`, `/readyz`, `/metrics`.\n\nAuthenticate `/v1` with `Authorization: Bearer <api key>`. Keys have one scope: `read` (list and show), `write` (read, plus create, change, delete, replay, release, retry) or `admin` (write, plus API keys and the audit log). Each operation says which scope it needs; a missing or invalid key is `401`, a key without the scope `403`.\n\nEvery response carries `X-Request-Id` (a caller's well-formed one is kept). Every error is `{\"error\":{\"code\",\"message\",\"request_id\",\"details\"}}`. Lists take `limit` (1–1000, default 50) and `cursor`, and answer `{\"data\":[…],\"next_cursor\":…|null}`, newest first. Times are RFC 3339 UTC."
    ),
    paths(
        sources::create_source, sources::list_sources, sources::show_source, sources::update_source,
        sources::delete_source, sources::disable_source, sources::enable_source,
        events::list_events, events::publish_event, events::stream_events, events::show_event,
        events::replay_event, events::release_events, events::release_event, events::list_receipts,
        endpoints::create_endpoint, endpoints::list_endpoints, endpoints::show_endpoint,
        endpoints::update_endpoint, endpoints::delete_endpoint, endpoints::enable_endpoint,
        endpoints::disable_endpoint, endpoints::rotate_endpoint_secret, endpoints::replay_endpoint,
        destinations::create_destination, destinations::list_destinations,
        destinations::show_destination, destinations::update_destination,
        destinations::delete_destination,
        flows::create_flow, flows::list_flows, flows::show_flow, flows::replace_flow,
        flows::update_flow, flows::delete_flow, flows::flow_versions, flows::activate_version, flows::start_run,
        runs::list_runs, runs::show_run, runs::retry_run,
        deliveries::list_deliveries, deliveries::show_delivery, deliveries::delivery_attempts,
        deliveries::replay_delivery,
        keys::create_key, keys::list_keys, keys::revoke_key, keys::list_audit,
        ops::healthz, ops::readyz, ops::metrics, ops::receive, ops::handshake, ops::openapi_json,
        ops::docs_page,
        alerts::create_alert, alerts::list_alerts, alerts::show_alert, alerts::update_alert,
        alerts::delete_alert, alerts::alert_notifications, alerts::stats, alerts::whoami,
        alerts::dashboard_index, alerts::dashboard_css, alerts::dashboard_script,
        apply::apply_config, flow_test::test_flow, flow_test::compare_flow,
    ),
    // `Arm` is reached only through a recursive step (`no_recursion`), so it is named here.
    components(schemas(switchyard_core::flow::Arm)),
    tags(
        (name = "sources", description = "Where inbound webhooks arrive and how they are verified"),
        (name = "events", description = "Received and published events, their receipts and quarantine"),
        (name = "endpoints", description = "Outbound webhook subscribers"),
        (name = "deliveries", description = "Outbound deliveries and their attempts"),
        (name = "destinations", description = "APIs that flows call, with their credentials"),
        (name = "flows", description = "Flow definitions, versions and manual runs"),
        (name = "runs", description = "Flow runs and their steps"),
        (name = "alerts", description = "Alert rules, their state and their notifications"),
        (name = "config", description = "Configuration as code: the config file's definitions reconciled with the server"),
        (name = "admin", description = "API keys and the audit log (scope admin)"),
        (name = "intake", description = "Provider-facing webhook intake (no API key; the source verifies)"),
        (name = "operations", description = "Probes, metrics and this reference (no API key)"),
    )
)]
struct ApiDoc;

/// The routes that serve the description and the reference; neither needs an API key.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/openapi.json", get(openapi_json))
        .merge(docs::routes())
}

async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}

/// The document, rendered once: it is fixed at build time.
pub fn document() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        // Serializing a tree of strings, maps and numbers cannot fail; `Null` would only ever
        // show up as a document the integration test rejects.
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
        shared::finish(&mut doc);
        serde_json::to_vec(&doc).unwrap_or_default()
    })
}
