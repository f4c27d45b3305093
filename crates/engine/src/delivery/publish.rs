//! Publishing (`POST /v1/events`): the event and one delivery per matching endpoint are written in
//! one transaction through the intake writer's group commit, so an acknowledged publish always
//! has its deliveries, and concurrent publishes share commits.

use std::sync::Arc;

use serde_json::Value;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_jq::Jq;
use switchyard_store::{IntakeWrite, NewDelivery, NewEvent};

use super::Dispatcher;
use crate::endpoints::{Endpoint, EndpointCatalog};
use crate::intake::{CommitError, IntakeWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub event_id: String,
    pub deliveries: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Commit(#[from] CommitError),
}

#[derive(Clone)]
pub struct Publisher {
    writer: IntakeWriter,
    endpoints: Arc<EndpointCatalog>,
    jq: Jq,
    dispatcher: Dispatcher,
}

impl Publisher {
    pub fn new(writer: IntakeWriter, endpoints: Arc<EndpointCatalog>, jq: Jq, dispatcher: Dispatcher) -> Self {
        Publisher {
            writer,
            endpoints,
            jq,
            dispatcher,
        }
    }

    /// Stores the event with its deliveries and wakes the dispatcher.
    pub async fn publish(
        &self,
        event_type: &str,
        payload: &Value,
        request_id: &str,
    ) -> Result<Published, PublishError> {
        let now = now_micros();
        let event_id = new_id(IdKind::Event);
        let mut deliveries = Vec::new();
        for ep in self.endpoints.subscribed(Some(event_type)) {
            if self.passes_filter(&ep, payload).await {
                deliveries.push(NewDelivery {
                    id: new_id(IdKind::Delivery),
                    event_id: event_id.clone(),
                    endpoint_id: ep.id.clone(),
                    next_attempt_at: now,
                    created_at: now,
                    ordering_key: self.ordering_key(&ep, payload).await,
                });
            }
        }
        let count = deliveries.len();
        let event = NewEvent {
            id: event_id.clone(),
            source_id: None,
            source_name: None,
            event_type: Some(event_type.to_string()),
            status: "received".into(),
            received_at: now,
            content_type: Some("application/json".into()),
            headers: "{}".into(),
            // Serialising a JSON value cannot fail.
            payload: serde_json::to_vec(payload).unwrap_or_default(),
            request_id: request_id.to_string(),
            dedup: None,
            validation_errors: None,
            deliveries,
        };
        let endpoints: Vec<String> = event.deliveries.iter().map(|d| d.endpoint_id.clone()).collect();
        self.writer.commit(IntakeWrite::Event(event)).await?;
        if count > 0 {
            self.dispatcher.hint(endpoints.iter().map(String::as_str));
        }
        Ok(Published {
            event_id,
            deliveries: count,
        })
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
