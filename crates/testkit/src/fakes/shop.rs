//! What a shop calls after a paid checkout, as the providers document them:
//! - `POST /fulfilment/v1/orders`: a fulfilment API — `Authorization: Bearer`, JSON
//!   `{"order_id", "email", "ship_to": {…}, "items": [{"sku", "quantity"}]}` → `201
//!   {"id": "ful_…", "status": "queued", …}`; a repeated `Idempotency-Key` gets the first answer
//!   and queues nothing; a missing field → `422 {"error": {"code": "invalid_order", "field"}}`.
//! - `POST /v3/mail/send`: SendGrid's Mail Send — `Authorization: Bearer <API key>`, JSON with
//!   `personalizations[].to[].email`, `from.email`, `subject` and `content[]` (`type`, `value`)
//!   → `202` with an empty body; otherwise `400 {"errors": [{"message", "field", "help"}]}`, or
//!   `401` for a wrong key.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Inner, Seen, header_map};

/// The API key the fake SendGrid accepts.
pub const SENDGRID_KEY: &str = "SG.fake_key_0123456789";
/// The bearer token the fake fulfilment API accepts.
pub const FULFILMENT_TOKEN: &str = "ful_live_fake_token_42";

pub(super) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/fulfilment/v1/orders", post(create_order))
        .route("/v3/mail/send", post(mail_send))
}

fn bearer_is(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(key)
}

async fn create_order(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_is(&headers, FULFILMENT_TOKEN) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": "unauthorized"}})),
        )
            .into_response();
    }
    let order: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    for field in ["order_id", "email", "ship_to", "items"] {
        if order.get(field).is_none_or(Value::is_null) {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"error": {"code": "invalid_order", "field": field}})),
            )
                .into_response();
        }
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut accepted = s.accepted.lock().unwrap();
    let orders = accepted.entry("fulfilment").or_default();
    let known = key
        .as_ref()
        .and_then(|k| orders.iter().position(|o| o.headers.get("idempotency-key") == Some(k)));
    let n = known.unwrap_or(orders.len()) + 1;
    if known.is_none() {
        orders.push(Seen {
            path: "/fulfilment/v1/orders".into(),
            headers: header_map(&headers),
            body: order.clone(),
        });
    }
    let answer = json!({"id": format!("ful_{n:04}"), "status": "queued", "order_id": order["order_id"]});
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn mail_send(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_is(&headers, SENDGRID_KEY) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked", "field": null, "help": null}]})),
        )
            .into_response();
    }
    let mail: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let missing = if mail["personalizations"][0]["to"][0]["email"].as_str().is_none() {
        Some("personalizations")
    } else if mail["from"]["email"].as_str().is_none() {
        Some("from.email")
    } else if mail["subject"].as_str().is_none() {
        Some("subject")
    } else if mail["content"][0]["value"].as_str().is_none() {
        Some("content")
    } else {
        None
    };
    if let Some(field) = missing {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"errors": [{"message": format!("The {field} field is required."), "field": field, "help": null}]})),
        )
            .into_response();
    }
    s.accept(
        "sendgrid",
        Seen {
            path: "/v3/mail/send".into(),
            headers: header_map(&headers),
            body: mail,
        },
    );
    StatusCode::ACCEPTED.into_response()
}
