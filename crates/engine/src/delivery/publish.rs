//! Publishing (`POST /v1/events`): the event and one delivery per matching endpoint are written in
//! one transaction through the intake writer's group commit, so an acknowledged publish always
//! has its deliveries, and concurrent publishes share commits.

use serde_json::Value;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{IntakeWrite, NewEvent};

use crate::fanout::{EventFacts, Fanout, Origin};
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
    fanout: Fanout,
}

impl Publisher {
    pub fn new(writer: IntakeWriter, fanout: Fanout) -> Self {
        Publisher { writer, fanout }
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
        let deliveries = self
            .fanout
            .deliveries(EventFacts {
                id: &event_id,
                origin: Origin::Published,
                event_type: Some(event_type),
                payload,
                now,
            })
            .await;
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
        let woken = Fanout::endpoints_of(&event.deliveries);
        self.writer.commit(IntakeWrite::Event(event)).await?;
        self.fanout.committed(&woken);
        Ok(Published {
            event_id,
            deliveries: count,
        })
    }
}
