//! What-if runs (`switchyard flows test`, `POST /v1/flows/{name}/test`): a definition — the
//! active one or a changed one — walked over a stored or given event by the very code a run
//! walks with (same steps, same jq, same request building, same credential scrubbing), with
//! every side effect replaced by a record of what it would have done:
//!
//! - `http`: the request is built in full and shown (credentials masked), never sent; the step
//!   is answered with the response recorded for it in the event's real run of this flow when
//!   there is one, else with a stated stub (`200`, empty body).
//! - `deliver` and `emit`: the event that would be published is shown; nothing is published.
//! - `delay`: shown, not waited for.
//! - nothing is stored: no run, no step record, no metric, no health sample.
//!
//! The run id the requests are derived from (`Idempotency-Key`) is the real run's when the event
//! has one, so the requests shown are the ones that were (or would be) sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use switchyard_core::flow::{FlowSpec, RunStatus, StepStatus};
use switchyard_core::time::now_micros;
use switchyard_store::{EventRecord, RunFilter, RunRow, StepRow, StoreError};

use super::context;
use super::execute::{Halt, Walk};
use super::runner::RunnerDeps;

/// What answered an acting step.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// The response recorded for this step in the event's real run.
    Recorded,
    /// No recorded response: the stated stub.
    Stub,
}

/// One thing the run would have done to the outside world.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Intent {
    /// The step's path (`contact`, `each/2/notify` inside a foreach).
    pub step: String,
    /// `http`, `deliver`, `emit` or `delay`.
    pub kind: &'static str,
    /// http: `{method, url, headers, body}`; deliver: `{endpoint, type, payload}`; emit:
    /// `{type, payload}`; delay: `{until}`.
    pub request: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<AnsweredBy>,
}

/// The stub an `http` step without a recorded response is answered with.
pub fn stub_response() -> Value {
    json!({"status": 200, "headers": {}, "body": {}})
}

/// The side-effect-free half of a walk: answers for acting steps, and what they would have done.
pub(crate) struct Rehearsal {
    recorded: HashMap<String, Value>,
    intents: Mutex<Vec<Intent>>,
    /// Step paths in the order their records were first written.
    order: Mutex<Vec<String>>,
}

impl Rehearsal {
    /// Notes an intent; returns the output the step gets (recorded, else `stub`).
    pub(crate) fn act(&self, step: &str, kind: &'static str, request: Value, stub: Value) -> Value {
        let (answer, by) = match self.recorded.get(step) {
            Some(v) => (v.clone(), AnsweredBy::Recorded),
            None => (stub, AnsweredBy::Stub),
        };
        self.intents.lock().unwrap_or_else(|p| p.into_inner()).push(Intent {
            step: step.to_string(),
            kind,
            request,
            answered_by: Some(by),
        });
        answer
    }

    /// Notes a delay the run would wait for.
    pub(crate) fn delay(&self, step: &str, until: Value) {
        self.intents.lock().unwrap_or_else(|p| p.into_inner()).push(Intent {
            step: step.to_string(),
            kind: "delay",
            request: json!({ "until": until }),
            answered_by: None,
        });
    }

    pub(crate) fn wrote(&self, path: &str) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        if !order.iter().any(|p| p == path) {
            order.push(path.to_string());
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub path: String,
    pub status: StepStatus,
    pub output: Option<Value>,
    pub error: Option<Value>,
}

/// What a what-if run came to.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub event_id: String,
    /// `succeeded`, `filtered` (by the trigger filter or a filter step), `failed`, or `pending`
    /// (a step would be retried: `error` says why).
    pub status: RunStatus,
    /// True when the trigger's filter turned the event away (no run would start).
    pub filtered_by_trigger: bool,
    /// Flow control as the run would get it: `{key, limit, sequence, waits_seconds}` (what-if
    /// walks themselves never wait for a key).
    pub control: Option<Value>,
    /// The real run whose recorded responses answered `http` steps, if any.
    pub recorded_run: Option<String>,
    pub steps: Vec<StepReport>,
    /// Every request the run would send, in order; none was sent.
    pub requests: Vec<Intent>,
    pub error: Option<Value>,
}

/// Runs what-if walks. Cheap to clone.
#[derive(Clone)]
pub struct Rehearser {
    deps: Arc<RunnerDeps>,
}

impl Rehearser {
    pub(crate) fn new(deps: Arc<RunnerDeps>) -> Rehearser {
        Rehearser { deps }
    }

    /// Walks `spec` over `event`; `flow_name` finds the event's real run (for its recorded
    /// responses and run id).
    pub async fn rehearse(
        &self,
        flow_name: &str,
        spec: Arc<FlowSpec>,
        event: &EventRecord,
    ) -> Result<Report, StoreError> {
        let real = self.real_run(flow_name, &event.id).await?;
        self.rehearse_with(flow_name, spec, event, real).await
    }

    /// [`Self::rehearse`] with the event's real run already read (two walks compared must see
    /// the same recorded answers, even while that run is still going).
    pub async fn rehearse_with(
        &self,
        flow_name: &str,
        spec: Arc<FlowSpec>,
        event: &EventRecord,
        real: Option<(RunRow, Vec<StepRow>)>,
    ) -> Result<Report, StoreError> {
        let scope = context::initial(event);
        let mut report = Report {
            event_id: event.id.clone(),
            status: RunStatus::Succeeded,
            filtered_by_trigger: false,
            control: None,
            recorded_run: real.as_ref().map(|(r, _)| r.id.clone()),
            steps: Vec::new(),
            requests: Vec::new(),
            error: None,
        };
        if let Some(code) = &spec.trigger.filter {
            let passes = matches!(
                self.deps.jq.first(&Arc::from(code.as_str()), scope.clone()).await,
                Ok(Some(Value::Bool(true)))
            );
            if !passes {
                report.status = RunStatus::Filtered;
                report.filtered_by_trigger = true;
                return Ok(report);
            }
        }
        let now = now_micros();
        let input = json!({"event": scope["event"], "payload": scope["payload"]});
        report.control = super::control::run_control(&self.deps.jq, &spec, &input, now)
            .await
            .map(|c| {
                json!({"key": c.key, "limit": c.limit, "sequence": c.sequence,
                       "waits_seconds": (c.due_at - now) / 1_000_000})
            });
        let (run, recorded) = match real {
            Some((run, steps)) => (run, recorded_outputs(&steps)),
            None => (synthetic_run(flow_name, &event.id), HashMap::new()),
        };
        let rehearsal = Arc::new(Rehearsal {
            recorded,
            intents: Mutex::new(Vec::new()),
            order: Mutex::new(Vec::new()),
        });
        let walk = Walk {
            deps: self.deps.clone(),
            run,
            job: 0,
            owner: String::new(),
            spec: spec.clone(),
            records: Mutex::new(HashMap::new()),
            secrets: Mutex::new(Vec::new()),
            pending: Default::default(),
            lease_until: i64::MAX.into(),
            rehearsal: Some(rehearsal.clone()),
        };
        let result = walk.steps(&spec.steps, scope, String::new()).await;
        match result {
            Ok(_) => {}
            Err(Halt::Filtered) => report.status = RunStatus::Filtered,
            Err(Halt::Fail {
                path, class, message, ..
            }) => {
                report.status = RunStatus::Failed;
                report.error = Some(json!({"step": path, "class": class, "message": message}));
            }
            Err(Halt::Wait { .. }) => {
                report.status = RunStatus::Pending;
                report.error =
                    Some(json!({"class": "would_retry", "message": "a step would be retried later (see its error)"}));
            }
            Err(Halt::LeaseLost | Halt::Superseded(_)) => {}
            Err(Halt::Store(e)) => return Err(e),
        }
        let records = walk.records.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let order = rehearsal.order.lock().unwrap_or_else(|p| p.into_inner()).clone();
        report.steps = order
            .iter()
            .filter_map(|path| records.get(path))
            .map(|r| StepReport {
                path: r.path.clone(),
                status: r.status,
                output: r.output.as_deref().and_then(|o| serde_json::from_str(o).ok()),
                error: r
                    .error_class
                    .as_ref()
                    .map(|c| json!({"class": c, "message": r.error_message})),
            })
            .collect();
        report.requests = rehearsal.intents.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(report)
    }

    /// The event's most recent run of this flow, with its step records.
    pub async fn real_run(
        &self,
        flow_name: &str,
        event_id: &str,
    ) -> Result<Option<(RunRow, Vec<StepRow>)>, StoreError> {
        let page = self
            .deps
            .store
            .list_runs(&RunFilter {
                flow_name: Some(flow_name.to_string()),
                event_id: Some(event_id.to_string()),
                limit: 1,
                ..Default::default()
            })
            .await?;
        match page.items.into_iter().next() {
            Some(run) => {
                let steps = self.deps.store.run_steps(&run.id).await?;
                Ok(Some((run, steps)))
            }
            None => Ok(None),
        }
    }
}

/// Outputs of the real run's succeeded steps, by path: the answers its calls got.
fn recorded_outputs(steps: &[StepRow]) -> HashMap<String, Value> {
    steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .filter_map(|s| Some((s.path.clone(), serde_json::from_str(s.output.as_deref()?).ok()?)))
        .collect()
}

/// A run that never existed, with an id fixed by flow and event, so two what-if walks of the
/// same event derive the same `Idempotency-Key`s (what `--compare` relies on).
fn synthetic_run(flow_name: &str, event_id: &str) -> RunRow {
    let now = now_micros();
    RunRow {
        seq: 0,
        id: format!("run_whatif_{event_id}"),
        flow_id: String::new(),
        flow_name: flow_name.to_string(),
        flow_version: 0,
        event_id: event_id.to_string(),
        status: RunStatus::Running,
        failed_step: None,
        error_class: None,
        error_message: None,
        started_at: now,
        finished_at: None,
        updated_at: now,
        control_key: None,
        sequence: None,
        note: None,
    }
}
