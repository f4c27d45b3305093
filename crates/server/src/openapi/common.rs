//! Shapes every part of the API shares: the error envelope, the list envelope, list parameters and
//! the small answers (`{"replayed": n}`). Documentation only: handlers build these as JSON values
//! (`error::envelope`, `extract::page_response`); the integration test and `scripts/api-fuzz`
//! check that what they build matches.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// The one error shape (SPEC §4). Every 4xx and 5xx answer carries it, including those produced
/// outside handlers (unknown route, wrong method, timeout).
#[derive(ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code to branch on, e.g. `not_found`, `validation_failed`,
    /// `insufficient_scope`, `invalid_cursor`.
    #[schema(pattern = "^[a-z0-9_]+$", example = "not_found")]
    pub code: String,
    /// Human-readable explanation; wording may change.
    pub message: String,
    /// The request's id, as in the `X-Request-Id` response header.
    pub request_id: String,
    /// More about the error: `fields` (`[{"field","message"}]`) for validation failures,
    /// `parameter` for a bad query parameter, `validation_errors` for a still-invalid event.
    /// Empty when there is nothing to add.
    pub details: HashMap<String, Value>,
}

/// One page of a collection, newest first (SPEC §4).
#[derive(ToSchema)]
pub struct Page<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `limit` and `cursor`, taken by every list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page; opaque.
    pub cursor: Option<String>,
}

/// The answer of replays: how many deliveries were scheduled again.
#[derive(ToSchema)]
pub struct Replayed {
    #[schema(minimum = 0)]
    pub replayed: u64,
}
