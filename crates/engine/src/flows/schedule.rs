//! Cron triggers (SPEC §7): every node looks at its flows' schedules when the next tick is due
//! (and at least every 200 ms, to see changed flows) and fires the latest tick that is due and
//! not fired yet. A tick is fired by publishing the
//! `switchyard.cron` event for that flow alone with a dedup key naming the flow and the tick,
//! through the one fan-out, so the event and its run are one write and a tick raced for by
//! several nodes creates one run. The store then records the tick as the flow's latest, which
//! keeps it from firing again after the dedup window and tells a node back from downtime that
//! only the newest missed tick is due. Ticks before the flow's current definition never fire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use switchyard_core::flow::TriggerKind;
use switchyard_core::flow::schedule::Schedule;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::{Clock, to_rfc3339};
use switchyard_store::Store;
use tokio::sync::watch;

use super::FlowCatalog;
use crate::delivery::{Publication, Publisher};
use crate::fanout::Origin;

/// The type of a tick's event.
pub const CRON_EVENT_TYPE: &str = "switchyard.cron";
/// The longest wait between looks (a new or changed flow is seen within it); a look otherwise
/// happens when the next tick is due.
const LOOK_EVERY: Duration = Duration::from_millis(200);

pub struct Scheduler {
    pub flows: Arc<FlowCatalog>,
    pub store: Arc<dyn Store>,
    pub publisher: Publisher,
    pub clock: Arc<dyn Clock>,
    /// Parsed schedules by flow and version, and the latest tick known fired per flow.
    parsed: Mutex<HashMap<(String, i64), Option<Schedule>>>,
    fired: Mutex<HashMap<String, i64>>,
}

impl Scheduler {
    pub fn new(flows: Arc<FlowCatalog>, store: Arc<dyn Store>, publisher: Publisher, clock: Arc<dyn Clock>) -> Self {
        Scheduler {
            flows,
            store,
            publisher,
            clock,
            parsed: Mutex::default(),
            fired: Mutex::default(),
        }
    }

    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut wait = LOOK_EVERY;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return;
                }
                self.look().await;
                wait = self.until_next_tick().map_or(LOOK_EVERY, |d| d.min(LOOK_EVERY));
            }
        })
    }

    /// How long until the earliest next tick of any flow.
    fn until_next_tick(&self) -> Option<Duration> {
        let now = self.clock.now_micros();
        self.flows
            .cron_flows()
            .iter()
            .filter_map(|flow| match flow.spec.trigger.kind() {
                Ok(TriggerKind::Cron { cron, timezone }) => self.schedule(&flow.id, flow.version, cron, timezone),
                _ => None,
            })
            .filter_map(|s| s.next_after(now))
            .min()
            .map(|next| Duration::from_micros((next - now).max(0) as u64))
    }

    fn schedule(&self, flow_id: &str, version: i64, cron: &str, tz: Option<&str>) -> Option<Schedule> {
        // Whole entries only; a panic elsewhere cannot leave one half-written.
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        parsed
            .entry((flow_id.to_string(), version))
            .or_insert_with(|| Schedule::parse(cron, tz).ok())
            .clone()
    }

    fn known_fired(&self, flow_id: &str) -> Option<i64> {
        self.fired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(flow_id)
            .copied()
    }

    fn remember(&self, flow_id: &str, tick: i64) {
        let mut fired = self.fired.lock().unwrap_or_else(|p| p.into_inner());
        let t = fired.entry(flow_id.to_string()).or_insert(tick);
        *t = (*t).max(tick);
    }

    /// One look: fires every flow's latest due tick that was not fired yet.
    pub async fn look(&self) {
        let now = self.clock.now_micros();
        for flow in self.flows.cron_flows() {
            let Ok(TriggerKind::Cron { cron, timezone }) = flow.spec.trigger.kind() else {
                continue;
            };
            let Some(schedule) = self.schedule(&flow.id, flow.version, cron, timezone) else {
                continue;
            };
            let Some(tick) = schedule.latest_at_or_before(now) else {
                continue;
            };
            if tick < flow.updated_at || self.known_fired(&flow.id).is_some_and(|f| f >= tick) {
                continue;
            }
            match self.store.cron_tick(&flow.id).await {
                Ok(Some(stored)) if stored >= tick => {
                    self.remember(&flow.id, stored);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(flow = %flow.spec.name, error = %e, "cannot read a flow's last cron tick");
                    continue;
                }
            }
            let key = format!("cron:{}:{tick}", flow.id);
            let payload = json!({"scheduled_at": to_rfc3339(tick), "flow": flow.spec.name});
            let request_id = new_id(IdKind::Request);
            let published = self
                .publisher
                .publish_event(Publication {
                    event_type: CRON_EVENT_TYPE,
                    payload: &payload,
                    request_id: &request_id,
                    origin: Origin::Manual { flow_id: &flow.id },
                    dedup_key: Some(&key),
                })
                .await;
            match published {
                Ok(p) => {
                    if !p.duplicate {
                        tracing::info!(flow = %flow.spec.name, scheduled_at = %to_rfc3339(tick), event_id = %p.event_id,
                            lag_ms = (now - tick) / 1000, "cron tick fired");
                    }
                    match self.store.record_cron_tick(&flow.id, tick).await {
                        Ok(()) => self.remember(&flow.id, tick),
                        Err(e) => {
                            tracing::warn!(flow = %flow.spec.name, error = %e, "cannot record a fired cron tick; the next look records it")
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(flow = %flow.spec.name, error = %e, "a cron tick could not fire; trying again")
                }
            }
        }
    }
}
