//! The intake pipeline for `POST /in/{source}`: find the source, authenticate the request, check
//! the body, then store event and receipt together through the group-commit writer. Invariant:
//! [`Intake::accept`] returns `Ok` only after the event is durably committed; every rejection
//! leaves a receipt without the body.

mod body;
pub mod dedup_key;
mod event_type;
mod handshake;
mod rate_limit;
mod receipts;
pub mod refusals;
mod stored_headers;
mod writer;

use std::sync::Arc;

use stored_headers::headers_json;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::source::{Scheme, SourceSpec};
use switchyard_core::time::{Clock, now_micros};
use switchyard_core::verify::{SignedRequest, VerifyFailure, verify};
use switchyard_jq::Jq;
use switchyard_store::{DedupKey, IntakeOutcome, IntakeWrite, NewEvent};

pub use body::{is_form, payload_view};
pub use handshake::HandshakeReply;
pub use writer::{CommitError, GroupCommit, IntakeWriter, WriterCloser};

use crate::fanout::{EventFacts, Fanned, Fanout, Origin};
use crate::sources::{Source, SourceCatalog};

/// One inbound request as intake needs it: header names lower-case, body complete.
#[derive(Debug)]
pub struct Inbound {
    pub request_id: String,
    pub method: String,
    /// Path and query as received (`/in/stripe?x=1`).
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Inbound {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why intake refused a request. Each maps to one HTTP status (see [`IntakeError::status`]),
/// recorded in the receipt and sent to the caller.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("no source with this name")]
    UnknownSource,
    #[error("this source is disabled")]
    Disabled,
    #[error("the body is larger than this source's limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("this source accepts {accepted}, got Content-Type {got:?}")]
    UnsupportedMediaType { got: String, accepted: &'static str },
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
    #[error("the request body did not arrive within {0} seconds")]
    BodyTimeout(u64),
    #[error("this source's intake rate limit is exceeded; retry in {0} s")]
    RateLimited(u64),
    #[error("deliveries from {0} are not allowed for this source")]
    IpNotAllowed(std::net::IpAddr),
    #[error("handshake refused: {0}")]
    HandshakeRefused(&'static str),
    #[error("this source answers no GET handshake; providers deliver with POST")]
    NoHandshake,
    #[error("authentication failed: {0}")]
    Unauthenticated(#[from] VerifyFailure),
    #[error("the event could not be stored: {0}")]
    Storage(#[from] CommitError),
}

impl IntakeError {
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::UnknownSource | IntakeError::Disabled => 404,
            IntakeError::PayloadTooLarge { .. } => 413,
            IntakeError::UnsupportedMediaType { .. } => 415,
            IntakeError::InvalidJson(_) | IntakeError::BodyUnreadable(_) => 400,
            IntakeError::BodyTimeout(_) => 408,
            IntakeError::HandshakeRefused(_) | IntakeError::IpNotAllowed(_) => 403,
            IntakeError::RateLimited(_) => 429,
            IntakeError::NoHandshake => 405,
            IntakeError::Unauthenticated(_) => 401,
            IntakeError::Storage(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            // A disabled source answers like a missing one: callers learn nothing about which
            // names exist. The receipt's reason keeps the difference for the operator.
            IntakeError::UnknownSource | IntakeError::Disabled => "source_not_found",
            IntakeError::PayloadTooLarge { .. } => "payload_too_large",
            IntakeError::UnsupportedMediaType { .. } => "unsupported_media_type",
            IntakeError::InvalidJson(_) => "invalid_json",
            IntakeError::BodyUnreadable(_) => "body_read_failed",
            IntakeError::BodyTimeout(_) => "request_timeout",
            IntakeError::HandshakeRefused(_) => "handshake_refused",
            IntakeError::IpNotAllowed(_) => "ip_not_allowed",
            IntakeError::RateLimited(_) => "rate_limited",
            IntakeError::NoHandshake => "method_not_allowed",
            IntakeError::Unauthenticated(_) => "unauthenticated",
            IntakeError::Storage(_) => "storage_unavailable",
        }
    }
}

/// What the caller is told on success.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An event was stored (`received`), or the delivery repeats one (`duplicate`, with its id).
    Event { id: String, status: &'static str },
    /// A provider handshake, answered in the provider's format; no event was created.
    Handshake(HandshakeReply),
    /// Authentic, but of a type the source does not accept: a receipt and no event.
    Ignored(Option<String>),
}

pub struct Intake {
    writer: IntakeWriter,
    catalog: Arc<SourceCatalog>,
    limiter: rate_limit::RateLimiter,
    jq: Jq,
    /// The deliveries an accepted event owes (forwarding, SPEC §3).
    fanout: Fanout,
    /// Bounds the receipts and log lines strangers can cause (see `refusals.rs`).
    refusals: refusals::RefusalWindow,
    /// Request outcomes per source for alerts and the dashboard.
    health: Arc<crate::alerts::HealthTally>,
}

impl Intake {
    pub fn new(
        writer: IntakeWriter,
        catalog: Arc<SourceCatalog>,
        jq: Jq,
        fanout: Fanout,
        clock: Arc<dyn Clock>,
        health: Arc<crate::alerts::HealthTally>,
    ) -> Self {
        Intake {
            writer,
            catalog,
            jq,
            fanout,
            limiter: rate_limit::RateLimiter::default(),
            refusals: refusals::RefusalWindow::new(clock),
            health,
        }
    }

    /// Counts a request's outcome: the metric, and the health sample alerts read (a failed
    /// signature is a rejection; any other refusal a failure).
    fn observed(&self, source: &str, outcome: &'static str) {
        crate::metrics::intake(source, outcome);
        let health = match outcome {
            "unauthenticated" => crate::alerts::Outcome::Rejected,
            "received" | "duplicate" | "quarantined" | "ignored" | "handshake" => crate::alerts::Outcome::Ok,
            _ => crate::alerts::Outcome::Failed,
        };
        self.health
            .record(switchyard_core::alert::ScopeKind::Source, source, health);
    }

    /// The gate every request to `/in/{name}` passes, POST or GET, before its body is read: the
    /// source exists and is enabled, the client address is allowed, the rate limit has room.
    /// A refusal is recorded as a receipt and returned.
    pub fn admit(
        &self,
        name: &str,
        peer: std::net::IpAddr,
        forwarded_for: Option<&str>,
        request_id: &str,
    ) -> Result<Arc<Source>, IntakeError> {
        let Some(source) = self.catalog.lookup(name) else {
            return Err(self.reject(name, None, request_id, IntakeError::UnknownSource));
        };
        self.check(&source, peer, forwarded_for)
            .map_err(|e| self.reject(name, Some(&source), request_id, e))?;
        Ok(source)
    }

    fn check(&self, source: &Source, peer: std::net::IpAddr, forwarded_for: Option<&str>) -> Result<(), IntakeError> {
        if !source.spec.enabled {
            return Err(IntakeError::Disabled);
        }
        // The address is checked before the rate limit, so refused callers spend no tokens.
        if !source.allow_ips.is_empty() {
            let client = switchyard_core::network::client_ip(peer, forwarded_for, &source.trusted_proxies);
            if !switchyard_core::network::allowed(&source.allow_ips, client) {
                return Err(IntakeError::IpNotAllowed(client));
            }
        }
        if let Some(limit) = &source.spec.rate_limit {
            self.limiter
                .admit(&source.id, limit, std::time::Instant::now())
                .map_err(IntakeError::RateLimited)?;
        }
        Ok(())
    }

    /// Authenticates, checks and durably stores one request.
    pub async fn accept(&self, source: &Source, req: Inbound) -> Result<Answer, IntakeError> {
        let spec = &source.spec;
        let query = req.path_and_query.split_once('?').map(|(_, q)| q);
        // Graph's validation carries no body and no credentials: it only asks for an echo.
        if req.body.is_empty()
            && let Some(reply) = handshake::post(spec, query, None, &req.body)
        {
            return Ok(Answer::Handshake(self.handshake_done(source, &req.request_id, reply)));
        }
        // In its own scope: the request view borrows a non-Send closure that must not live across
        // the commit's await.
        let verified = {
            // Only schemes that sign a URL need it built (not every request on the hot path).
            let url = needs_url(spec).then(|| public_url(spec, &req));
            let lookup = |h: &str| req.header(h);
            let signed = SignedRequest {
                method: &req.method,
                url: url.as_deref(),
                body: &req.body,
                now: now_micros().div_euclid(1_000_000),
                header: &lookup,
            };
            verify(&spec.verify, &spec.verify.secrets, &signed)
        };
        if let Err(e) = verified {
            return Err(self.reject(&spec.name, Some(source), &req.request_id, e.into()));
        }
        let content_type = req.header("content-type").map(str::to_string);
        let json = match body::json_view(spec.accepts(), req.header("content-type"), &req.body) {
            Ok(v) => v,
            Err(e) => return Err(self.reject(&spec.name, Some(source), &req.request_id, e)),
        };
        if let Some(reply) = handshake::post(spec, query, json.as_ref(), &req.body) {
            return Ok(Answer::Handshake(self.handshake_done(source, &req.request_id, reply)));
        }
        let event_type = event_type::event_type(spec.verify.scheme, |h| req.header(h), json.as_ref());
        if let Some(allowed) = &spec.event_types
            && !event_type
                .as_deref()
                .is_some_and(|t| switchyard_core::source::type_allowed(allowed, t))
        {
            return Ok(Answer::Ignored(self.ignored(
                source,
                &req.request_id,
                event_type.as_deref(),
            )));
        }
        // An authentic payload that fails the schema is kept, quarantined: visible, nothing runs on
        // it, releasable once the schema (or the sender) is fixed.
        let violations = match (&source.schema, &json) {
            (None, _) => Vec::new(),
            (Some(schema), Some(v)) => schema.violations(v, &spec.redact),
            (Some(_), None) => vec!["/: the body is not JSON, so it cannot match the source's schema".to_string()],
        };
        let status: &'static str = if violations.is_empty() {
            "received"
        } else {
            "quarantined"
        };
        let validation_errors = (!violations.is_empty()).then(|| serde_json::Value::from(violations).to_string());
        let dedup = if spec.dedup.enabled {
            let key = match &spec.dedup.key {
                Some(code) => dedup_key::custom_dedup_key(&self.jq, code, &req.headers, json.as_ref(), &req.body).await,
                None => dedup_key::dedup_key(spec, |h| req.header(h), json.as_ref(), &req.body),
            };
            Some(DedupKey {
                key,
                expires_at: now_micros().saturating_add((spec.dedup.window_seconds as i64).saturating_mul(1_000_000)),
            })
        } else {
            None
        };
        let now = now_micros();
        let event_id = new_id(IdKind::Event);
        // A quarantined event runs nothing. An accepted one's forwards commit with it, and go
        // with it should it prove a duplicate.
        let fanned = if status == "received" {
            let facts = EventFacts {
                id: &event_id,
                origin: Origin::Source {
                    id: &source.id,
                    name: &spec.name,
                },
                event_type: event_type.as_deref(),
                payload: json.as_ref().unwrap_or(&serde_json::Value::Null),
                now,
            };
            self.fanout.fan_out(facts).await
        } else {
            Fanned::default()
        };
        let woken = Fanout::woken(&fanned);
        let extra_secret_headers = spec.verify.secret_headers();
        let event = NewEvent {
            id: event_id.clone(),
            source_id: Some(source.id.clone()),
            source_name: Some(spec.name.clone()),
            event_type,
            status: status.into(),
            received_at: now,
            content_type,
            headers: headers_json(&req.headers, &extra_secret_headers),
            payload: req.body,
            request_id: req.request_id,
            dedup,
            validation_errors,
            deliveries: fanned.deliveries,
            runs: fanned.runs,
        };
        // The event row is also this request's receipt (see the store's schema).
        let request_id = event.request_id.clone();
        match self.writer.commit(IntakeWrite::Event(event)).await {
            Ok(IntakeOutcome::Duplicate { first_event_id }) => {
                tracing::info!(request_id, first_event_id = %first_event_id, source = %spec.name, "duplicate delivery");
                self.observed(&spec.name, "duplicate");
                Ok(Answer::Event {
                    id: first_event_id,
                    status: "duplicate",
                })
            }
            Ok(_) => {
                self.fanout.committed(&woken);
                tracing::debug!(request_id, event_id = %event_id, source = %spec.name, status, "event stored");
                self.observed(&spec.name, status);
                Ok(Answer::Event { id: event_id, status })
            }
            Err(e) => Err(self.reject(&spec.name, Some(source), &request_id, e.into())),
        }
    }

    /// `GET /in/{source}`: the GET handshakes (Meta's subscription check).
    pub fn get_handshake(&self, source: &Source, query: &str, request_id: &str) -> Result<HandshakeReply, IntakeError> {
        match handshake::get(&source.spec, query) {
            Some(Ok(reply)) => Ok(self.handshake_done(source, request_id, reply)),
            Some(Err(why)) => Err(self.reject(
                &source.spec.name,
                Some(source),
                request_id,
                IntakeError::HandshakeRefused(why),
            )),
            None => Err(self.reject(&source.spec.name, Some(source), request_id, IntakeError::NoHandshake)),
        }
    }
}

fn needs_url(spec: &SourceSpec) -> bool {
    match spec.verify.scheme {
        Scheme::Twilio | Scheme::Square | Scheme::Hubspot => true,
        Scheme::Hmac => spec
            .verify
            .options
            .get("template")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.contains("{url}")),
        _ => false,
    }
}

/// The URL the provider signed: the source's configured public URL (proxies rewrite what we see)
/// plus the request's query string, or else what the request itself says.
fn public_url(spec: &SourceSpec, req: &Inbound) -> String {
    let query = req.path_and_query.split_once('?').map(|(_, q)| q);
    match spec.verify.options.get("url").and_then(|u| u.as_str()) {
        Some(base) => match query {
            Some(q) if !base.contains('?') => format!("{base}?{q}"),
            _ => base.to_string(),
        },
        None => {
            let proto = req.header("x-forwarded-proto").unwrap_or("https");
            let host = req
                .header("x-forwarded-host")
                .or_else(|| req.header("host"))
                .unwrap_or("localhost");
            format!("{proto}://{host}{}", req.path_and_query)
        }
    }
}
