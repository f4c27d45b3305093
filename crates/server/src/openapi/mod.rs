//! The API's OpenAPI 3.1 description (`GET /v1/openapi.json`) and its interactive reference
//! (`GET /docs`, `docs.rs`). Handlers build their answers as JSON values, so the shapes are
//! described here, one file per resource, by types that exist only for documentation; the
//! request bodies that are core definitions (`SourceSpec`, `EndpointSpec`, …) use core's own
//! schemas. What every operation shares (bearer auth, `X-Request-Id`, the error answers any
//! route can give) is added in one pass by [`finish`] rather than repeated on each route.
//!
//! `tests/openapi.rs` checks the document against the official OpenAPI 3.1 schema and that every
//! route of `routes/mod.rs` is in it; `scripts/api-fuzz` checks the server's answers against it.

mod common;
mod deliveries;
mod destinations;
mod docs;
mod endpoints;
mod events;
mod flows;
mod keys;
mod ops;
mod runs;
mod sources;

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
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
        flows::update_flow, flows::delete_flow, flows::flow_versions, flows::start_run,
        runs::list_runs, runs::show_run, runs::retry_run,
        deliveries::list_deliveries, deliveries::show_delivery, deliveries::delivery_attempts,
        deliveries::replay_delivery,
        keys::create_key, keys::list_keys, keys::revoke_key, keys::list_audit,
        ops::healthz, ops::readyz, ops::metrics, ops::receive, ops::handshake, ops::openapi_json,
        ops::docs_page,
    ),
    tags(
        (name = "sources", description = "Where inbound webhooks arrive and how they are verified"),
        (name = "events", description = "Received and published events, their receipts and quarantine"),
        (name = "endpoints", description = "Outbound webhook subscribers"),
        (name = "deliveries", description = "Outbound deliveries and their attempts"),
        (name = "destinations", description = "APIs that flows call, with their credentials"),
        (name = "flows", description = "Flow definitions, versions and manual runs"),
        (name = "runs", description = "Flow runs and their steps"),
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
        finish(&mut doc);
        serde_json::to_vec(&doc).unwrap_or_default()
    })
}

/// Paths outside `/v1` and the reference itself need no API key.
fn public(path: &str) -> bool {
    !path.starts_with("/v1/") || path == "/v1/openapi.json"
}

/// Adds what every operation shares: the security scheme, `X-Request-Id` on requests and
/// responses, and the errors any route can answer (bad query, auth, scope, body size and type,
/// storage outage, internal error), each as the error envelope.
fn finish(doc: &mut Value) {
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`. Scopes are ordered admin ⊇ write ⊇ read; `switchyard keys create --scope …` or `POST /v1/keys` mints one, and `SWITCHYARD_BOOTSTRAP_KEY` makes an admin key at start-up."
    });
    doc["components"]["headers"]["X-Request-Id"] = json!({
        "description": "The request's id: the caller's `X-Request-Id` when well formed, else a new `req_…`.",
        "schema": {"type": "string"}
    });
    let envelope = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}});
    let error = |description: &str| json!({"description": description, "content": envelope.clone()});
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            let has_body = op.get("requestBody").is_some();
            let api = !public(path);
            if api {
                op["security"] = json!([{"bearer": []}]);
            }
            let params = op["parameters"].as_array_mut().map(std::mem::take).unwrap_or_default();
            op["parameters"] = Value::Array(params);
            if let Some(params) = op["parameters"].as_array_mut() {
                params.push(json!({
                    "name": "X-Request-Id", "in": "header", "required": false,
                    "description": "Your id for this request (1–128 of `A-Za-z0-9-_.:`), echoed in the response and logs.",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"}
                }));
            }
            let responses = op["responses"].as_object_mut().map(std::mem::take).unwrap_or_default();
            let mut responses: Map<String, Value> = responses;
            let mut add = |code: &str, r: Value| {
                responses.entry(code.to_string()).or_insert(r);
            };
            if api {
                add(
                    "400",
                    error(
                        "A malformed query string or parameter (`invalid_query`, `invalid_parameter`, `invalid_cursor`) or malformed JSON (`invalid_json`)",
                    ),
                );
                add(
                    "401",
                    error("No API key, or one that is not valid (`missing_api_key`, `invalid_api_key`)"),
                );
                add(
                    "403",
                    error("The key lacks the scope this operation needs (`insufficient_scope`)"),
                );
                if has_body {
                    add("413", error("The body is larger than 2 MiB (`payload_too_large`)"));
                    add(
                        "415",
                        error("The body is not sent as `application/json` (`unsupported_media_type`)"),
                    );
                    add(
                        "422",
                        error("The body does not have the expected shape (`validation_failed`)"),
                    );
                }
            }
            if method != "get" || api {
                add(
                    "503",
                    error("Storage is unavailable (`storage_unavailable`); retry after `Retry-After` seconds"),
                );
            }
            add(
                "500",
                error("An internal error (`internal_error`); the server log has the cause"),
            );
            add("default", error("Any other error, in the same envelope"));
            for r in responses.values_mut() {
                r["headers"]["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
            }
            *op = {
                let mut op = std::mem::take(op);
                op["responses"] = Value::Object(responses);
                op
            };
        }
    }
}
