//! Request extractors whose rejections speak the error envelope, and list parameters
//! (`limit`, opaque `cursor`) shared by every collection.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;

use crate::error::ApiError;

/// JSON body extractor: wrong content type is 415, malformed or mistyped JSON is 400/422 with the
/// parser's explanation.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection as R;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(R::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(R::JsonDataError(e)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.body_text(),
            )),
            Err(R::JsonSyntaxError(e)) => Err(ApiError::bad_request("invalid_json", e.body_text())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(crate::body_limit::too_large(crate::body_limit::API_BODY_LIMIT))
            }
            Err(e) => Err(ApiError::new(e.status(), "invalid_body", e.body_text())),
        }
    }
}

/// Query parameters as plain strings; each handler parses what it knows and says precisely what
/// was wrong.
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(Params)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("the query string is malformed: {e}")))
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 1000;

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A parameter that must be one of `allowed` when present.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            Some(v) if !allowed.contains(&v) => Err(ApiError::bad_request(
                "invalid_parameter",
                format!("{name} must be one of {}", allowed.join(", ")),
            )
            .with_details(serde_json::json!({ "parameter": name }))),
            v => Ok(v.map(str::to_string)),
        }
    }

    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    )
                    .with_details(json!({"parameter": "limit"}))
                }),
        }
    }

    /// The decoded cursor, if any.
    pub fn cursor(&self) -> Result<Option<String>, ApiError> {
        self.get("cursor").map(decode_cursor).transpose()
    }

    /// A cursor that holds the id of the last item shown (lists ordered by id). Anything but a
    /// well-formed id of `kind` was not returned by this API and is refused.
    pub fn id_cursor(&self, kind: switchyard_core::ids::IdKind) -> Result<Option<String>, ApiError> {
        match self.cursor()? {
            Some(id) if !switchyard_core::ids::is_id_of(kind, &id) => Err(ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this API returned",
            )
            .with_details(json!({"parameter": "cursor"}))),
            c => Ok(c),
        }
    }

    /// A cursor that holds a commit-order position (`seq`).
    pub fn seq_cursor(&self) -> Result<Option<i64>, ApiError> {
        self.cursor()?
            .map(|c| {
                c.parse::<i64>()
                    .map_err(|_| ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned"))
            })
            .transpose()
    }
}

/// A list response (`{"data": [...], "next_cursor": ...}`, SPEC §4): `position` gives the cursor
/// of the last item when more follow, `view` renders each item.
pub fn page_response<T>(
    page: &switchyard_store::Page<T>,
    position: impl Fn(&T) -> String,
    view: impl Fn(&T) -> serde_json::Value,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let next = page
        .has_more
        .then(|| page.items.last().map(|last| encode_cursor(&position(last))))
        .flatten();
    let data: Vec<serde_json::Value> = page.items.iter().map(view).collect();
    axum::Json(json!({"data": data, "next_cursor": next})).into_response()
}

/// Cursors are opaque to clients: base64url of the position they continue after.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{position}"))
}

fn decode_cursor(c: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("v1:").map(str::to_string))
        .ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned")
                .with_details(json!({"parameter": "cursor"}))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor("42")).unwrap(), "42");
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("42")).is_err());
    }
}
