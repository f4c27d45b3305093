//! `flows test --compare N`: the active definition and a changed one, each walked what-if over
//! the last N stored events of the flow's trigger, and where their outbound requests differ.
//! Both walks of one event share its run id, so only what the change changes shows.

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_core::declared::diff;
use switchyard_core::flow::{FlowSpec, TriggerKind};
use switchyard_core::source::type_allowed;
use switchyard_store::{EventFilter, EventRecord, RunFilter, Store, StoreError};

use super::rehearse::{Intent, Rehearser, Report};

/// Events walked at once.
const PARALLEL: usize = 4;
/// Pages of events read at most while looking for the trigger's events.
const MAX_PAGES: usize = 20;

/// How one event's two walks differ.
#[derive(Debug, Clone, Serialize)]
pub struct EventComparison {
    pub event_id: String,
    pub active_status: switchyard_core::flow::RunStatus,
    pub changed_status: switchyard_core::flow::RunStatus,
    /// Each difference: `{step, field, active, changed}` (`field` inside the request; a request
    /// only one side sends has `field: ""`).
    pub differences: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub compared: usize,
    pub differing: usize,
    /// Only the events whose walks differ.
    pub events: Vec<EventComparison>,
}

/// The last `n` stored events that trigger `spec`, newest first: a source's events (of its
/// types), published events of its types, or — for cron and manual flows — its runs' events.
pub async fn trigger_events(
    store: &Arc<dyn Store>,
    flow_name: &str,
    spec: &FlowSpec,
    n: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    let wanted = |e: &switchyard_store::EventSummary| -> bool {
        match spec.trigger.kind() {
            Ok(TriggerKind::Source { source, types }) => {
                e.source_name.as_deref() == Some(source)
                    && (types.is_empty() || e.event_type.as_deref().is_some_and(|t| type_allowed(types, t)))
            }
            Ok(TriggerKind::EventTypes(types)) => {
                e.source_id.is_none() && e.event_type.as_deref().is_some_and(|t| type_allowed(types, t))
            }
            _ => false,
        }
    };
    let mut ids = Vec::new();
    match spec.trigger.kind() {
        Ok(TriggerKind::Source { .. } | TriggerKind::EventTypes(_)) => {
            let source = match spec.trigger.kind() {
                Ok(TriggerKind::Source { source, .. }) => Some(source.to_string()),
                _ => None,
            };
            let mut before = None;
            for _ in 0..MAX_PAGES {
                let page = store
                    .list_events(&EventFilter {
                        source: source.clone(),
                        before_seq: before,
                        limit: 500,
                        ..Default::default()
                    })
                    .await?;
                before = page.items.last().map(|e| e.seq);
                ids.extend(
                    page.items
                        .iter()
                        .filter(|e| e.status != "quarantined" && wanted(e))
                        .map(|e| e.id.clone()),
                );
                if ids.len() >= n || !page.has_more {
                    break;
                }
            }
        }
        _ => {
            let runs = store
                .list_runs(&RunFilter {
                    flow_name: Some(flow_name.to_string()),
                    limit: n as i64,
                    ..Default::default()
                })
                .await?;
            ids.extend(runs.items.into_iter().map(|r| r.event_id));
        }
    }
    ids.truncate(n);
    let mut events = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(e) = store.get_event(&id).await? {
            events.push(e);
        }
    }
    Ok(events)
}

/// Walks both definitions over every event and keeps where they differ.
pub async fn compare(
    rehearser: &Rehearser,
    flow_name: &str,
    active: Arc<FlowSpec>,
    changed: Arc<FlowSpec>,
    events: &[EventRecord],
) -> Result<Comparison, StoreError> {
    let walks = events.iter().cloned().map(|event| {
        let (active, changed, rehearser, flow_name) = (
            active.clone(),
            changed.clone(),
            rehearser.clone(),
            flow_name.to_string(),
        );
        async move {
            let real = rehearser.real_run(&flow_name, &event.id).await?;
            let a = rehearser
                .rehearse_with(&flow_name, active, &event, real.clone())
                .await?;
            let c = rehearser.rehearse_with(&flow_name, changed, &event, real).await?;
            Ok::<_, StoreError>(differences(a, c))
        }
        .boxed()
    });
    let results: Vec<Result<EventComparison, StoreError>> =
        futures::stream::iter(walks).buffered(PARALLEL).collect().await;
    let mut out = Comparison {
        compared: events.len(),
        differing: 0,
        events: Vec::new(),
    };
    for r in results {
        let c = r?;
        if !c.differences.is_empty() {
            out.differing += 1;
            out.events.push(c);
        }
    }
    Ok(out)
}

fn differences(a: Report, c: Report) -> EventComparison {
    let mut found = Vec::new();
    if a.status != c.status {
        found.push(json!({"step": "", "field": "status", "active": a.status, "changed": c.status}));
    }
    let key = |i: &Intent| (i.step.clone(), i.kind);
    for ai in &a.requests {
        match c.requests.iter().find(|ci| key(ci) == key(ai)) {
            None => found.push(json!({"step": ai.step, "field": "", "active": request(ai), "changed": null})),
            Some(ci) => {
                for f in diff(&ai.request, &ci.request) {
                    found.push(json!({"step": ai.step, "field": f.field, "active": f.before, "changed": f.after}));
                }
            }
        }
    }
    for ci in c
        .requests
        .iter()
        .filter(|ci| !a.requests.iter().any(|ai| key(ai) == key(ci)))
    {
        found.push(json!({"step": ci.step, "field": "", "active": null, "changed": request(ci)}));
    }
    EventComparison {
        event_id: a.event_id,
        active_status: a.status,
        changed_status: c.status,
        differences: found,
    }
}

fn request(i: &Intent) -> Value {
    json!({"kind": i.kind, "request": i.request})
}
