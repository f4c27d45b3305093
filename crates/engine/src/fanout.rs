//! The one fan-out: which deliveries an event creates. Every producer of events — intake
//! (`/in/{source}`), publish (`POST /v1/events`), and the engine's own operational events — asks
//! here, and the deliveries go into the event's own write, so they commit in its transaction: an
//! acknowledged event is never left without the deliveries it owes.
//!
//! Matching: a published event goes to every enabled endpoint subscribed to its type; an
//! inbound event goes to the enabled endpoints whose `sources` name its source (by name or id),
//! subscribed to its type (SPEC §3, forwarding). Either way the endpoint's jq `filter` must yield
//! `true`, and its `ordering_key` names the delivery's FIFO key.

use std::sync::Arc;

use serde_json::Value;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_jq::Jq;
use switchyard_store::NewDelivery;

use crate::delivery::Dispatcher;
use crate::endpoints::{Endpoint, EndpointCatalog};

/// Where an event came from, which decides the endpoints it can reach.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// Published through the API (or by the engine).
    Published,
    /// Arrived at `/in/{source}` and was accepted (never a quarantined or duplicate one).
    Source { id: &'a str, name: &'a str },
}

/// What the fan-out reads of an event.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub id: &'a str,
    pub origin: Origin<'a>,
    pub event_type: Option<&'a str>,
    /// The payload as JSON (an inbound form as its fields); `Null` when the body is not JSON.
    pub payload: &'a Value,
    pub now: i64,
}

#[derive(Clone)]
pub struct Fanout {
    endpoints: Arc<EndpointCatalog>,
    jq: Jq,
    dispatcher: Dispatcher,
}

impl Fanout {
    pub fn new(endpoints: Arc<EndpointCatalog>, jq: Jq, dispatcher: Dispatcher) -> Self {
        Fanout {
            endpoints,
            jq,
            dispatcher,
        }
    }

    /// The deliveries `event` creates, one per matching endpoint, due at once.
    pub async fn deliveries(&self, event: EventFacts<'_>) -> Vec<NewDelivery> {
        let candidates = match event.origin {
            Origin::Published => self.endpoints.subscribed(event.event_type),
            Origin::Source { id, name } => self.endpoints.forwarding(id, name, event.event_type),
        };
        let mut deliveries = Vec::new();
        for ep in candidates {
            if self.passes_filter(&ep, event.payload).await {
                deliveries.push(NewDelivery {
                    id: new_id(IdKind::Delivery),
                    event_id: event.id.to_string(),
                    endpoint_id: ep.id.clone(),
                    next_attempt_at: event.now,
                    created_at: event.now,
                    ordering_key: self.ordering_key(&ep, event.payload).await,
                });
            }
        }
        deliveries
    }

    /// The endpoints to wake once these deliveries have committed; taken before the event moves
    /// into the writer (no allocation when there are none).
    pub fn endpoints_of(deliveries: &[NewDelivery]) -> Vec<String> {
        deliveries.iter().map(|d| d.endpoint_id.clone()).collect()
    }

    /// Wakes the dispatcher for the endpoints of committed deliveries.
    pub fn committed(&self, endpoints: &[String]) {
        if !endpoints.is_empty() {
            self.dispatcher.hint(endpoints.iter().map(String::as_str));
        }
    }

    /// The FIFO key: the expression's first result (a string as is, anything else as JSON).
    /// No result, `null` or an error means no key: the delivery is not held back.
    async fn ordering_key(&self, ep: &Endpoint, payload: &Value) -> Option<String> {
        let code = ep.spec.ordering_key.as_ref()?;
        match self.jq.first(&Arc::from(code.as_str()), payload.clone()).await {
            Ok(Some(Value::String(s))) => Some(s),
            Ok(Some(Value::Null) | None) => None,
            Ok(Some(other)) => Some(other.to_string()),
            Err(e) => {
                tracing::warn!(endpoint_id = %ep.id, error = %e, "ordering key failed; delivering without one");
                None
            }
        }
    }

    /// An endpoint's jq filter must yield `true`; an error or any other value leaves it out
    /// (logged, since it usually means the filter expects another payload shape).
    async fn passes_filter(&self, ep: &Endpoint, payload: &Value) -> bool {
        let Some(code) = &ep.spec.filter else {
            return true;
        };
        match self.jq.first(&Arc::from(code.as_str()), payload.clone()).await {
            Ok(Some(Value::Bool(true))) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(endpoint_id = %ep.id, error = %e, "endpoint filter failed; not delivering to it");
                false
            }
        }
    }
}
