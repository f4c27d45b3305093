//! Mailchimp Marketing API's member upsert: `PUT /3.0/lists/{list_id}/members/{subscriber_hash}`
//! with HTTP Basic auth (any user name, the API key as password) and JSON `{"email_address",
//! "status_if_new", "merge_fields"}`. The subscriber hash is the MD5 of the lower-cased email
//! address; a hash that does not match the body's address is refused as Mailchimp refuses it
//! (`400`, problem JSON with `title: "Invalid Resource"`). Answers `200` with the member
//! (`id` = the hash), created or updated — so a repeated PUT changes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use base64::Engine as _;
use md5::Digest;
use serde_json::{Value, json};

use super::{Inner, Seen, header_map};

/// The API key the fake accepts (as Mailchimp's: `<key>-<data center>`).
pub const MAILCHIMP_KEY: &str = "fakekey0123456789abcdef-us21";

/// Mailchimp's subscriber hash: the MD5 of the lower-cased address, in hex.
pub fn subscriber_hash(email: &str) -> String {
    hex::encode(md5::Md5::digest(email.to_lowercase().as_bytes()))
}

pub(super) fn routes() -> Router<Arc<Inner>> {
    Router::new().route("/3.0/lists/{list_id}/members/{hash}", put(upsert_member))
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json")],
        axum::Json(json!({
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title, "status": status.as_u16(), "detail": detail, "instance": ""
        })),
    )
        .into_response()
}

async fn upsert_member(
    State(s): State<Arc<Inner>>,
    Path((list_id, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .is_some_and(|pair| pair.split_once(':').is_some_and(|(_, key)| key == MAILCHIMP_KEY));
    if !key_ok {
        return problem(
            StatusCode::UNAUTHORIZED,
            "API Key Invalid",
            "Your API key may be invalid.",
        );
    }
    let member: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(email) = member["email_address"].as_str() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "email_address is required.",
        );
    };
    if subscriber_hash(email) != hash {
        return problem(
            StatusCode::BAD_REQUEST,
            "Invalid Resource",
            "The subscriber hash does not match the email address.",
        );
    }
    let status = member["status_if_new"].as_str().unwrap_or("subscribed");
    let answer = {
        let mut members = s.members.lock().unwrap();
        let entry = members.entry((list_id.clone(), hash.clone())).or_insert_with(
            || json!({"id": hash, "email_address": email, "status": status, "list_id": list_id, "merge_fields": {}}),
        );
        if let Some(fields) = member["merge_fields"].as_object() {
            for (k, v) in fields {
                entry["merge_fields"][k] = v.clone();
            }
        }
        entry.clone()
    };
    s.accept(
        "mailchimp",
        Seen {
            path: format!("/3.0/lists/{list_id}/members/{hash}"),
            headers: header_map(&headers),
            body: member,
        },
    );
    (StatusCode::OK, axum::Json(answer)).into_response()
}
