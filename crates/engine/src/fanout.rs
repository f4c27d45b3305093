//! The one fan-out: which deliveries and flow runs an event creates. Every producer of events —
//! intake (`/in/{source}`), publish (`POST /v1/events`), manual runs, flow `emit` and `deliver`
//! steps, and the engine's own operational events — asks here, and what it answers goes into the
//! event's own write, so it commits in its transaction: an acknowledged event is never left
//! without the deliveries and runs it owes, and a duplicate event (which is not stored) creates
//! none.
//!
//! Matching: a published event goes to every enabled endpoint subscribed to its type; an
//! inbound event goes to the enabled endpoints whose `sources` name its source (by name or id),
//! subscribed to its type (SPEC §3, forwarding). Either way the endpoint's jq `filter` must yield
//! `true`, and its `ordering_key` names the delivery's FIFO key. Flows match on their trigger
//! (`source` and `types` for inbound events, `event_types` for published ones) and its jq
//! `filter`, which sees `{"event": {…}, "payload": …}`.

use std::sync::Arc;

use serde_json::Value;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_jq::Jq;
use switchyard_store::{NewDelivery, NewRun};

use crate::delivery::Dispatcher;
use crate::endpoints::{Endpoint, EndpointCatalog};
use crate::flows::{Flow, FlowCatalog, RunnerHandle};

/// Where an event came from, which decides the endpoints it can reach.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// Published through the API (or by the engine).
    Published,
    /// Arrived at `/in/{source}` and was accepted (never a quarantined or duplicate one).
    Source { id: &'a str, name: &'a str },
    /// `POST /v1/flows/{name}/runs`: a run of this flow and nothing else.
    Manual { flow_id: &'a str },
    /// A flow's `deliver` step: a delivery to this endpoint and nothing else.
    Direct { endpoint_id: &'a str },
}

/// What an event creates with it.
#[derive(Debug, Default)]
pub struct Fanned {
    pub deliveries: Vec<NewDelivery>,
    pub runs: Vec<NewRun>,
}

/// Whom to wake once an event's write committed; taken before the event moves into the writer.
#[derive(Debug, Default)]
pub struct Woken {
    endpoints: Vec<String>,
    runs: bool,
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
    flows: Arc<FlowCatalog>,
    jq: Jq,
    dispatcher: Dispatcher,
    runner: RunnerHandle,
}

impl Fanout {
    pub fn new(
        endpoints: Arc<EndpointCatalog>,
        flows: Arc<FlowCatalog>,
        jq: Jq,
        dispatcher: Dispatcher,
        runner: RunnerHandle,
    ) -> Self {
        Fanout {
            endpoints,
            flows,
            jq,
            dispatcher,
            runner,
        }
    }

    /// The deliveries and runs `event` creates: one delivery per matching endpoint and one run
    /// per matching flow, due at once.
    pub async fn fan_out(&self, event: EventFacts<'_>) -> Fanned {
        Fanned {
            deliveries: self.deliveries(&event).await,
            runs: self.runs(&event).await,
        }
    }

    async fn deliveries(&self, event: &EventFacts<'_>) -> Vec<NewDelivery> {
        let candidates = match event.origin {
            Origin::Published => self.endpoints.subscribed(event.event_type),
            Origin::Source { id, name } => self.endpoints.forwarding(id, name, event.event_type),
            Origin::Direct { endpoint_id } => self.endpoints.lookup(endpoint_id).into_iter().collect(),
            Origin::Manual { .. } => Vec::new(),
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

    async fn runs(&self, event: &EventFacts<'_>) -> Vec<NewRun> {
        let candidates = match event.origin {
            Origin::Published => self.flows.for_published(event.event_type),
            Origin::Source { name, .. } => self.flows.for_source(name, event.event_type),
            Origin::Manual { flow_id } => self.flows.current(flow_id).into_iter().collect(),
            Origin::Direct { .. } => Vec::new(),
        };
        let mut runs = Vec::new();
        for flow in candidates {
            if self.trigger_passes(&flow, event).await {
                let control = match flow.spec.concurrency.is_some()
                    || flow.spec.ordering.is_some()
                    || flow.spec.debounce.is_some()
                {
                    true => {
                        crate::flows::control::run_control(&self.jq, &flow.spec, &trigger_input(event), event.now).await
                    }
                    false => None,
                };
                runs.push(NewRun {
                    id: new_id(IdKind::Run),
                    flow_id: flow.id.clone(),
                    flow_name: flow.spec.name.clone(),
                    flow_version: flow.version,
                    event_id: event.id.to_string(),
                    created_at: event.now,
                    control,
                });
            }
        }
        runs
    }

    /// Whom to wake once this write committed (no allocation when there is no one).
    pub fn woken(fanned: &Fanned) -> Woken {
        Woken {
            endpoints: fanned.deliveries.iter().map(|d| d.endpoint_id.clone()).collect(),
            runs: !fanned.runs.is_empty(),
        }
    }

    /// Wakes the dispatcher for the endpoints of committed deliveries, and the flow runner.
    pub fn committed(&self, woken: &Woken) {
        if !woken.endpoints.is_empty() {
            self.dispatcher.hint(woken.endpoints.iter().map(String::as_str));
        }
        if woken.runs {
            self.runner.wake();
        }
    }

    /// A flow's trigger filter must yield `true` on `{"event", "payload"}`; an error or any
    /// other value creates no run (logged: it usually means another payload shape).
    async fn trigger_passes(&self, flow: &Flow, event: &EventFacts<'_>) -> bool {
        let Some(code) = &flow.spec.trigger.filter else {
            return true;
        };
        match self.jq.first(&Arc::from(code.as_str()), trigger_input(event)).await {
            Ok(Some(Value::Bool(true))) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(flow = %flow.spec.name, error = %e, "flow trigger filter failed; no run created");
                false
            }
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

/// What a trigger filter and a flow-control key see: `{"event": {…}, "payload": …}`.
fn trigger_input(event: &EventFacts<'_>) -> Value {
    serde_json::json!({
        "event": {
            "id": event.id,
            "type": event.event_type,
            "source": match event.origin { Origin::Source { name, .. } => Some(name), _ => None },
            "received_at": switchyard_core::time::to_rfc3339(event.now),
        },
        "payload": event.payload,
    })
}
