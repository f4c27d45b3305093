//! The one place where errors become HTTP responses. Every error leaves as the SPEC §4 envelope
//! `{"error":{"code","message","request_id","details"}}`; internal failures are logged with their
//! cause and answered with an opaque 500 so no internals (or secrets) reach the caller.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_engine::alerts::AlertError;
use switchyard_engine::declared::DeclaredError;
use switchyard_engine::delivery::PublishError;
use switchyard_engine::destinations::DestinationError;
use switchyard_engine::endpoints::EndpointError;
use switchyard_engine::flows::FlowError;
use switchyard_engine::intake::{CommitError, Intake, IntakeError};
use switchyard_engine::sources::CatalogError;
use switchyard_store::StoreError;

use crate::request_id::current_request_id;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for `Retry-After` (rate limits); 503s always carry one.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `422 validation_failed`: a body that is not a definition of the resource.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", message)
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; see the server log",
        )
    }
}

/// The envelope body for a status, code and message, stamped with the current request id.
/// `details` is always an object (empty when there is nothing to add), as SPEC §4 shows it.
pub fn envelope(code: &str, message: &str, details: Option<&Value>) -> Value {
    let details = details.cloned().unwrap_or_else(|| json!({}));
    json!({ "error": {"code": code, "message": message, "request_id": current_request_id(), "details": details} })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = envelope(self.code, &self.message, self.details.as_ref());
        let mut resp = (self.status, axum::Json(body)).into_response();
        let retry_after = self
            .retry_after
            .or((self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(5));
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                tracing::warn!(request_id = %current_request_id(), error = %m, "storage unavailable");
                ApiError::unavailable("storage is unavailable; retry later")
            }
            // The database's own words (constraint names, values) stay in the log.
            StoreError::Conflict(m) => {
                tracing::info!(request_id = %current_request_id(), error = %m, "storage conflict");
                ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "the request conflicts with what is stored (a concurrent change, or a duplicate); reload and retry",
                )
            }
            other => {
                tracing::error!(request_id = %current_request_id(), error = %other, "storage error");
                ApiError::internal()
            }
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the source definition is invalid",
            )
            .with_details(json!({ "fields": fields })),
            CatalogError::NotFound => ApiError::not_found("source"),
            CatalogError::NameTaken(n) => ApiError::new(
                StatusCode::CONFLICT,
                "source_name_taken",
                format!("a source named {n:?} already exists"),
            ),
            CatalogError::Store(s) => s.into(),
            CatalogError::Sealed(s) => {
                tracing::error!(error = %s, "cannot open a stored secret: is SWITCHYARD_MASTER_KEY the one it was sealed with?");
                ApiError::internal()
            }
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::Invalid(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the endpoint definition is invalid",
            )
            .with_details(json!({ "fields": fields })),
            EndpointError::NotFound => ApiError::not_found("endpoint"),
            EndpointError::NameTaken(n) => ApiError::new(
                StatusCode::CONFLICT,
                "endpoint_name_taken",
                format!("an endpoint named {n:?} already exists"),
            ),
            EndpointError::Store(s) => s.into(),
            EndpointError::Sealed(s) => {
                tracing::error!(error = %s, "cannot open a stored endpoint secret: is SWITCHYARD_MASTER_KEY the one it was sealed with?");
                ApiError::internal()
            }
        }
    }
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Invalid(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the alert definition is invalid",
            )
            .with_details(json!({ "fields": fields })),
            AlertError::NotFound => ApiError::not_found("alert"),
            AlertError::NameTaken(n) => ApiError::new(
                StatusCode::CONFLICT,
                "alert_name_taken",
                format!("an alert named {n:?} already exists"),
            ),
            AlertError::Store(s) => s.into(),
            AlertError::Sealed(s) => {
                tracing::error!(error = %s, "cannot open a stored alert channel: is SWITCHYARD_MASTER_KEY the one it was sealed with?");
                ApiError::internal()
            }
            AlertError::Corrupt(e) => {
                tracing::error!(error = %e, "a stored alert definition is unreadable");
                ApiError::internal()
            }
        }
    }
}

impl From<DestinationError> for ApiError {
    fn from(e: DestinationError) -> Self {
        match e {
            DestinationError::Invalid(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the destination definition is invalid",
            )
            .with_details(json!({ "fields": fields })),
            DestinationError::NotFound => ApiError::not_found("destination"),
            DestinationError::NameTaken(n) => ApiError::new(
                StatusCode::CONFLICT,
                "destination_name_taken",
                format!("a destination named {n:?} already exists"),
            ),
            DestinationError::Store(s) => s.into(),
            DestinationError::Sealed(s) => {
                tracing::error!(error = %s, "cannot open a stored destination credential: is SWITCHYARD_MASTER_KEY the one it was sealed with?");
                ApiError::internal()
            }
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Invalid(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the flow definition is invalid",
            )
            .with_details(json!({ "fields": fields })),
            FlowError::NotFound => ApiError::not_found("flow"),
            FlowError::VersionNotFound(v) => ApiError::new(
                StatusCode::NOT_FOUND,
                "version_not_found",
                format!("the flow has no version {v}"),
            ),
            FlowError::NameTaken(n) => ApiError::new(
                StatusCode::CONFLICT,
                "flow_name_taken",
                format!("a flow named {n:?} already exists"),
            ),
            FlowError::Changed => ApiError::new(
                StatusCode::CONFLICT,
                "flow_changed",
                "the flow changed while this request was applied; read it again and retry",
            ),
            FlowError::Store(s) => s.into(),
        }
    }
}

impl From<DeclaredError> for ApiError {
    fn from(e: DeclaredError) -> Self {
        match e {
            DeclaredError::Invalid(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the configuration is invalid",
            )
            .with_details(json!({ "fields": fields })),
            DeclaredError::Refused { at, message } => ApiError::new(
                StatusCode::CONFLICT,
                "apply_conflict",
                format!("{at}: {message}; apply again"),
            ),
            DeclaredError::Store(s) => s.into(),
            DeclaredError::Sealed { at } => {
                tracing::error!(at = %at, "cannot open a stored secret: is SWITCHYARD_MASTER_KEY the one it was sealed with?");
                ApiError::internal()
            }
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Commit(CommitError::Unavailable(m)) => {
                tracing::warn!(request_id = %current_request_id(), error = %m, "publish: storage unavailable");
                ApiError::unavailable("storage is unavailable; retry later")
            }
            PublishError::Commit(e) => {
                tracing::error!(request_id = %current_request_id(), error = %e, "publish failed");
                ApiError::internal()
            }
        }
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = ApiError::new(status, e.code(), Intake::public_message(&e));
        if let IntakeError::RateLimited(secs) = e {
            err.retry_after = Some(secs);
        }
        err
    }
}

/// A code for statuses produced outside our handlers (router 404/405, panics, timeouts).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal_error",
        _ => "error",
    }
}
