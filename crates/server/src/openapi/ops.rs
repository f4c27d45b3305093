//! The routes outside the management API: intake (`/in/{source}`, routes/intake.rs), probes and
//! metrics (routes/health.rs), and this reference (`openapi/mod.rs`, `openapi/docs.rs`). None
//! takes an API key.

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use utoipa::ToSchema;

use super::common::ErrorEnvelope;

/// What intake answered.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum IntakeStatus {
    /// Stored; flows and endpoints take it from here.
    Received,
    /// Stored but failed the source's schema: visible, nothing runs on it.
    Quarantined,
    /// Seen within the dedup window: `id` is the first event's.
    Duplicate,
    /// The source does not take this event type: a receipt, no event.
    Ignored,
}

/// The answer to a provider's webhook.
#[derive(ToSchema)]
pub struct IntakeAnswer {
    /// The event's id (`evt_…`); absent when ignored.
    pub id: Option<String>,
    pub status: IntakeStatus,
    /// When ignored: the event type that was not taken.
    #[schema(rename = "type")]
    pub event_type: Option<String>,
}

#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// Receive a webhook. The source decides verification, schema, dedup and limits; the answer is
/// sent only after the event is durably stored. Provider handshakes (Slack `url_verification`,
/// Zoom `endpoint.url_validation`) are answered here too.
#[utoipa::path(
    post, path = "/in/{source}", tag = "intake",
    params(("source" = String, Path, description = "The source's name")),
    request_body(description = "The provider's payload, as it sends it (JSON, or a form or anything else where the source accepts it)", content(
        (serde_json::Value = "application/json"),
        (Object = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 202, description = "Stored: `received`, or `quarantined` when the payload fails the source's schema", body = IntakeAnswer),
        (status = 200, description = "A duplicate (the first event's id), an ignored event type, or a handshake's answer", content(
            (IntakeAnswer = "application/json"),
            (String = "text/plain"),
        )),
        (status = 400, description = "Malformed JSON or an unreadable body", body = ErrorEnvelope),
        (status = 401, description = "A bad, missing or stale signature", body = ErrorEnvelope),
        (status = 403, description = "The caller's address is not allowed, or a handshake was refused", body = ErrorEnvelope),
        (status = 404, description = "Unknown or disabled source (`source_not_found`)", body = ErrorEnvelope),
        (status = 408, description = "The body took too long to arrive", body = ErrorEnvelope),
        (status = 413, description = "The body is over the source's limit", body = ErrorEnvelope),
        (status = 415, description = "A content type the source does not accept", body = ErrorEnvelope),
        (status = 429, description = "The source's rate limit; see `Retry-After`", body = ErrorEnvelope),
        (status = 503, description = "Storage is unavailable: nothing was acknowledged", body = ErrorEnvelope),
    )
)]
pub fn receive() {}

/// Provider handshakes that arrive as GET (Meta's `hub.challenge` subscription check).
#[utoipa::path(
    get, path = "/in/{source}", tag = "intake",
    params(("source" = String, Path, description = "The source's name")),
    responses(
        (status = 200, description = "The handshake's answer (the challenge echoed)", content_type = "text/plain", body = String),
        (status = 403, description = "The verify token does not match, or the caller's address is not allowed", body = ErrorEnvelope),
        (status = 404, description = "Unknown or disabled source", body = ErrorEnvelope),
        (status = 405, description = "The source's scheme has no GET handshake", body = ErrorEnvelope),
    )
)]
pub fn handshake() {}

/// Liveness: 200 while the process lives.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health))
)]
pub fn healthz() {}

/// Readiness: 200 when storage answers within 2 s.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Storage is unavailable", body = ErrorEnvelope),
    )
)]
pub fn readyz() {}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String))
)]
pub fn metrics() {}

/// This document: OpenAPI 3.1.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub fn openapi_json() {}

/// The interactive API reference (served from the binary; nothing is loaded from elsewhere).
#[utoipa::path(
    get, path = "/docs", tag = "operations",
    responses((status = 200, description = "An HTML page", content_type = "text/html; charset=utf-8", body = String))
)]
pub fn docs_page() {}
