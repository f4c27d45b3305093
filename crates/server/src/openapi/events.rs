//! `/v1/events` (routes/events.rs, deliveries.rs for publish and replay, release.rs, tail.rs)
//! and `/v1/receipts` (routes/receipts.rs).

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::common::{ErrorEnvelope, ListParams, Page, Replayed};
use super::runs::RunSummary;

/// Where an event stands.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum EventStatus {
    Received,
    Processed,
    Failed,
    Quarantined,
}

/// An event in a list (and in the `/v1/events/stream` `event` messages).
#[derive(ToSchema)]
pub struct EventSummary {
    #[schema(example = "evt_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    /// The source's name; `null` for published events.
    pub source: Option<String>,
    pub source_id: Option<String>,
    /// `null` when the provider gives none.
    #[schema(rename = "type")]
    pub event_type: Option<String>,
    pub status: EventStatus,
    #[schema(format = DateTime)]
    pub received_at: String,
    pub content_type: Option<String>,
}

/// How `payload` is shown.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum PayloadEncoding {
    /// The payload parsed as JSON.
    Json,
    /// A form body, as its fields.
    Form,
    /// Hidden whole: the source redacts fields, and this payload has none to redact.
    Redacted,
    Text,
    Base64,
}

/// One step of an event's life: its acceptance, then each later receipt (duplicates, releases).
#[derive(ToSchema)]
pub struct TimelineEntry {
    #[schema(format = DateTime)]
    pub at: String,
    pub state: String,
    pub status_code: i32,
    pub request_id: String,
    pub detail: Option<String>,
}

/// One event with its payload (redacted by the source's rules), redacted headers, timeline and
/// runs.
#[derive(ToSchema)]
pub struct EventView {
    pub id: String,
    pub source: Option<String>,
    pub source_id: Option<String>,
    #[schema(rename = "type")]
    pub event_type: Option<String>,
    pub status: EventStatus,
    #[schema(format = DateTime)]
    pub received_at: String,
    pub content_type: Option<String>,
    pub request_id: String,
    /// Request headers as received; credentials and signatures are `"********"`.
    pub headers: HashMap<String, Value>,
    pub timeline: Vec<TimelineEntry>,
    /// Why a quarantined event failed its source's schema.
    pub validation_errors: Option<Value>,
    pub payload: Value,
    pub payload_encoding: PayloadEncoding,
    /// The flow runs this event started.
    pub runs: Vec<RunSummary>,
    /// Where this event's deliveries are listed.
    #[schema(example = "/v1/deliveries?event=evt_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub deliveries: String,
}

/// Filters of `GET /v1/events`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilters {
    /// A source name or `src_` id.
    pub source: Option<String>,
    #[param(inline)]
    pub status: Option<EventStatus>,
    /// An exact event type.
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// Received at or after (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Received before (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Instead of the other filters: the event holding this dedup key in its source's window
    /// (of `source` when given, else of any source); one page, `next_cursor` null.
    pub dedup_key: Option<String>,
}

/// `POST /v1/events`.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    #[schema(rename = "type", min_length = 1, max_length = 256, example = "order.created")]
    pub event_type: String,
    /// Any JSON value.
    pub payload: Value,
}

#[derive(ToSchema)]
pub struct Published {
    pub id: String,
    #[schema(example = "received")]
    pub status: String,
    /// Deliveries created for matching endpoints.
    pub deliveries: u64,
}

#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRelease {
    /// A source name or `src_` id.
    pub source: String,
    /// At most this many events (default 1000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: i64,
}

#[derive(ToSchema)]
pub struct BulkReleased {
    /// Events that now pass and moved to `received`.
    pub released: Vec<String>,
    /// Events that still fail the source's schema.
    pub still_invalid: Vec<String>,
}

#[derive(ToSchema)]
pub struct ReleasedEvent {
    pub id: String,
    #[schema(example = "received")]
    pub status: String,
}

/// A request that reached `/in/{source}`, accepted or refused.
#[derive(ToSchema)]
pub struct ReceiptView {
    /// The event id for an accepted request.
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub source: String,
    pub source_id: Option<String>,
    pub request_id: String,
    pub status_code: i32,
    pub outcome: String,
    pub reason: Option<String>,
    pub event_id: Option<String>,
}

/// List events, newest first (exact under concurrent inserts). Scope: `read`.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(ListParams, EventFilters),
    responses((status = 200, description = "A page of events", body = Page<EventSummary>))
)]
pub fn list_events() {}

/// Publish an event from your own application; it fans out to matching endpoints and flows.
/// Scope: `write`.
#[utoipa::path(
    post, path = "/v1/events", tag = "events",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the publication safe to retry: 1 to 255 visible ASCII characters")),
    request_body = Publish,
    responses(
        (status = 202, description = "Stored and fanned out", body = Published),
        (status = 409, description = "The Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "`type` or `payload` is missing or wrong", body = ErrorEnvelope),
    )
)]
pub fn publish_event() {}

/// Follow new events and run outcomes as server-sent events (`event: event` with an event
/// summary, `event: run` with a run summary). Scope: `read`.
#[utoipa::path(
    get, path = "/v1/events/stream", tag = "events",
    params(
        ("source" = Option<String>, Query, description = "A source name or `src_` id"),
        ("type" = Option<String>, Query, description = "An exact event type"),
        ("runs" = Option<String>, Query, description = "`false` leaves run outcomes out"),
    ),
    responses((status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String))
)]
pub fn stream_events() {}

/// Show an event. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "The event's id (`evt_…`)")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 404, description = "No such event", body = ErrorEnvelope),
    )
)]
pub fn show_event() {}

/// Send every delivery of the event again, with its original `webhook-id`. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/events/{id}/replay", tag = "events",
    params(("id" = String, Path, description = "The event's id (`evt_…`)")),
    responses(
        (status = 202, description = "Deliveries scheduled again", body = Replayed),
        (status = 404, description = "No such event", body = ErrorEnvelope),
    )
)]
pub fn replay_event() {}

/// Release a source's quarantined events: each is checked against the source's current schema.
/// Scope: `write`.
#[utoipa::path(
    post, path = "/v1/events/release", tag = "events",
    request_body = BulkRelease,
    responses(
        (status = 200, description = "What was released and what still fails", body = BulkReleased),
        (status = 404, description = "No such source", body = ErrorEnvelope),
    )
)]
pub fn release_events() {}

/// Release one quarantined event if it passes its source's current schema. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/events/{id}/release", tag = "events",
    params(("id" = String, Path, description = "The event's id (`evt_…`)")),
    responses(
        (status = 200, description = "Released", body = ReleasedEvent),
        (status = 404, description = "No such event", body = ErrorEnvelope),
        (status = 409, description = "Not quarantined (`not_quarantined`), or its source is gone (`source_gone`)", body = ErrorEnvelope),
        (status = 422, description = "Still invalid (`still_invalid`, `details.validation_errors`)", body = ErrorEnvelope),
    )
)]
pub fn release_event() {}

/// Every request that reached `/in/{source}`, accepted or refused, newest first. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/receipts", tag = "events",
    params(ListParams, ("source" = Option<String>, Query, description = "A source name")),
    responses((status = 200, description = "A page of receipts", body = Page<ReceiptView>))
)]
pub fn list_receipts() {}
