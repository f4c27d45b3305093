//! Publishing (`POST /v1/events`, manual runs, flow `emit` and `deliver` steps): the event with the
//! deliveries and runs the fan-out gives it are written in one transaction through the intake writer's group commit, so an acknowledged publish always
//! has its deliveries, and concurrent publishes share commits.

use serde_json::Value;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{DedupKey, IntakeOutcome, IntakeWrite, NewEvent};

use crate::fanout::{EventFacts, Fanout, Origin};
use crate::intake::{CommitError, IntakeWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The new event, or the earlier one that holds the same dedup key.
    pub event_id: String,
    pub deliveries: usize,
    /// The runs the event started.
    pub runs: Vec<String>,
    /// An event with the same dedup key exists: nothing new was created.
    pub duplicate: bool,
}

/// An event to publish and whom it may reach.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    pub event_type: &'a str,
    pub payload: &'a Value,
    pub request_id: &'a str,
    /// `Published` (subscribers and `event_types` flows), `Manual` or `Direct`.
    pub origin: Origin<'a>,
    /// Publishing twice with one key stores one event (a flow step repeated after a crash).
    pub dedup_key: Option<&'a str>,
}

/// How long a publication's dedup key is remembered.
const PUBLISH_DEDUP_WINDOW_MICROS: i64 = 30 * 24 * 3600 * 1_000_000;

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

    /// `POST /v1/events`: to every subscriber and `event_types` flow.
    pub async fn publish(
        &self,
        event_type: &str,
        payload: &Value,
        request_id: &str,
    ) -> Result<Published, PublishError> {
        self.publish_event(Publication {
            event_type,
            payload,
            request_id,
            origin: Origin::Published,
            dedup_key: None,
        })
        .await
    }

    /// Stores the event with its deliveries and runs, and wakes whoever works on them.
    pub async fn publish_event(&self, p: Publication<'_>) -> Result<Published, PublishError> {
        let now = now_micros();
        let event_id = new_id(IdKind::Event);
        let fanned = self
            .fanout
            .fan_out(EventFacts {
                id: &event_id,
                origin: p.origin,
                event_type: Some(p.event_type),
                payload: p.payload,
                now,
            })
            .await;
        let deliveries = fanned.deliveries.len();
        let runs = fanned.runs.iter().map(|r| r.id.clone()).collect();
        let woken = Fanout::woken(&fanned);
        let event = NewEvent {
            id: event_id.clone(),
            source_id: None,
            source_name: None,
            event_type: Some(p.event_type.to_string()),
            status: "received".into(),
            received_at: now,
            content_type: Some("application/json".into()),
            headers: "{}".into(),
            // Serialising a JSON value cannot fail.
            payload: serde_json::to_vec(p.payload).unwrap_or_default(),
            request_id: p.request_id.to_string(),
            dedup: p.dedup_key.map(|key| DedupKey {
                key: key.to_string(),
                expires_at: now + PUBLISH_DEDUP_WINDOW_MICROS,
            }),
            validation_errors: None,
            deliveries: fanned.deliveries,
            runs: fanned.runs,
        };
        if let IntakeOutcome::Duplicate { first_event_id } = self.writer.commit(IntakeWrite::Event(event)).await? {
            return Ok(Published {
                event_id: first_event_id,
                deliveries: 0,
                runs: Vec::new(),
                duplicate: true,
            });
        }
        self.fanout.committed(&woken);
        Ok(Published {
            event_id,
            deliveries,
            runs,
            duplicate: false,
        })
    }
}
