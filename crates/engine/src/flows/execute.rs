//! How one claimed run walks its steps. Each step's result is recorded (by run and path) by the
//! lease holder, so a run resumed after a crash, on another node or by `retry` skips every step
//! whose record is stored and starts at the first that has none: a step that acted on the world
//! (`http`, `deliver`, `emit`) is stored before the next such step starts, and is never executed
//! again once stored. Records of steps that only compute (filter, map, validate, branch and
//! foreach bookkeeping, delay) wait for the next write — the next acting step's turn, or the
//! run's end or rescheduling, in the same transaction — because repeating them after a crash
//! changes nothing: this is what lets a filter → map → http run cost one commit. Side effects
//! that could still repeat (a crash between a call and its record) are made harmless: `http`
//! steps send the same `Idempotency-Key` every time, `emit` and `deliver` publish with a dedup
//! key.
//!
//! A step that fails retryably leaves the run `pending` in the queue until its next attempt
//! (no worker waits); a `delay` leaves it `waiting` the same way.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use switchyard_core::delivery::schedule::{Next, next_attempt};
use switchyard_core::destination::MASK;
use switchyard_core::flow::spec::Step;
use switchyard_core::flow::{Action, FlowSpec, RunStatus, StepStatus};
use switchyard_core::time::now_micros;
use switchyard_store::{RunRow, StepRow, StoreError};

use super::context;
use super::records::Pending;
use super::rehearse::Rehearsal;
use super::runner::RunnerDeps;
use super::steps::{self, Outcome};

/// Why a walk stopped before the end.
#[derive(Debug)]
pub(crate) enum Halt {
    /// A filter said no: the run ends `filtered`.
    Filtered,
    /// Back to the queue until `due` (a retry: `pending`; a delay: `waiting`).
    Wait {
        due: i64,
        status: RunStatus,
    },
    /// The run ends `failed` (permanent) or `dead` (retries exhausted) at this step.
    Fail {
        path: String,
        class: String,
        message: String,
        dead: bool,
    },
    /// Another worker holds the run now; this one stops without writing.
    LeaseLost,
    /// Debounce: a later event of the same key has its own run; this one ends `filtered`.
    Superseded(String),
    Store(StoreError),
}

impl From<StoreError> for Halt {
    fn from(e: StoreError) -> Self {
        Halt::Store(e)
    }
}

/// Most items a `foreach` takes.
const MAX_ITEMS: usize = 1000;

pub(crate) struct Walk {
    pub deps: Arc<RunnerDeps>,
    pub run: RunRow,
    pub job: i64,
    pub owner: String,
    pub spec: Arc<FlowSpec>,
    pub records: Mutex<HashMap<String, StepRow>>,
    /// Credential values opened for this run's calls: scrubbed from every output and error.
    pub secrets: Mutex<Vec<String>>,
    /// Records not stored yet (see the module doc); the lock also keeps writes in order.
    pub pending: tokio::sync::Mutex<Pending>,
    /// When this worker's lease on the run ends, as far as it extended it.
    pub lease_until: AtomicI64,
    /// Set for a what-if walk (`rehearse.rs`): nothing is stored, sent or published.
    pub rehearsal: Option<Arc<Rehearsal>>,
}

impl Walk {
    pub(crate) fn steps<'a>(
        &'a self,
        steps: &'a [Step],
        mut scope: Value,
        prefix: String,
    ) -> BoxFuture<'a, Result<Value, Halt>> {
        async move {
            for step in steps {
                let path = format!("{prefix}{}", step.id);
                let record = self.record(&path);
                if let Some(r) = &record
                    && r.status == StepStatus::Succeeded
                {
                    let output = r
                        .output
                        .as_deref()
                        .and_then(|o| serde_json::from_str(o).ok())
                        .unwrap_or(Value::Null);
                    if matches!(step.action, Action::Branch(_) | Action::Foreach { .. }) {
                        // Nested records are in `records` too; walking again only reads them.
                        scope = self.compound(step, scope, &path, &prefix, record.as_ref()).await?;
                    } else {
                        context::set_output(&mut scope, &step.id, output);
                    }
                    continue;
                }
                scope = match &step.action {
                    Action::Branch(_) | Action::Foreach { .. } => {
                        self.compound(step, scope, &path, &prefix, record.as_ref()).await?
                    }
                    _ => self.simple(step, scope, &path, record).await?,
                };
            }
            Ok(scope)
        }
        .boxed()
    }

    fn count(&self, step: &Step, outcome: &Outcome) {
        crate::metrics::flow_step(
            &self.run.flow_name,
            step.action.kind(),
            match outcome {
                Outcome::Done(_) => "succeeded",
                Outcome::Filtered(_) => "filtered",
                Outcome::Wait { .. } => "waiting",
                Outcome::Fail { .. } => "failed",
                Outcome::Retry { .. } => "retrying",
            },
        );
    }

    fn record(&self, path: &str) -> Option<StepRow> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .cloned()
    }

    /// A step that does one thing: run it, record the result, and go on, wait or stop.
    async fn simple(&self, step: &Step, mut scope: Value, path: &str, record: Option<StepRow>) -> Result<Value, Halt> {
        let now = now_micros();
        let attempts = record.as_ref().map_or(0, |r| r.attempts);
        let started_at = record.as_ref().and_then(|r| r.started_at).unwrap_or(now);
        if step.action.acts_outside() {
            self.store_acted().await?;
        }
        let outcome = steps::run(self, step, &scope, path, record.as_ref()).await;
        if self.rehearsal.is_none() {
            self.count(step, &outcome);
        }
        match outcome {
            Outcome::Done(output) => {
                self.save(
                    step,
                    path,
                    StepStatus::Succeeded,
                    attempts + 1,
                    Some(&output),
                    None,
                    started_at,
                    RunStatus::Running,
                )
                .await?;
                context::set_output(&mut scope, &step.id, output);
                Ok(scope)
            }
            Outcome::Filtered(output) => {
                self.save(
                    step,
                    path,
                    StepStatus::Succeeded,
                    attempts + 1,
                    Some(&output),
                    None,
                    started_at,
                    RunStatus::Running,
                )
                .await?;
                Err(Halt::Filtered)
            }
            Outcome::Wait { until, state } => {
                self.save_open(
                    step,
                    path,
                    StepStatus::Running,
                    attempts,
                    Some(&state),
                    None,
                    started_at,
                    RunStatus::Waiting,
                )
                .await?;
                Err(Halt::Wait {
                    due: until,
                    status: RunStatus::Waiting,
                })
            }
            Outcome::Fail { class, message } => {
                let message = self.scrub(&message);
                self.save(
                    step,
                    path,
                    StepStatus::Failed,
                    attempts + 1,
                    None,
                    Some((&class, &message)),
                    started_at,
                    RunStatus::Running,
                )
                .await?;
                Err(Halt::Fail {
                    path: path.to_string(),
                    class,
                    message,
                    dead: false,
                })
            }
            Outcome::Retry {
                class,
                message,
                retry_after_seconds,
                schedule,
            } => {
                let message = self.scrub(&message);
                let made = attempts + 1;
                let schedule = schedule.as_deref().unwrap_or(step.schedule());
                let next = next_attempt(schedule, made as u32, rand::random::<f64>(), retry_after_seconds);
                let max_age = step.max_age_seconds() as i64 * 1_000_000;
                match next {
                    Next::RetryInMillis(ms) if now + ms as i64 * 1000 - started_at <= max_age => {
                        let due = now + ms as i64 * 1000;
                        tracing::warn!(run_id = %self.run.id, event_id = %self.run.event_id, flow = %self.run.flow_name,
                            step = %path, attempt = made, error_class = %class, error = %message, retry_in_ms = ms,
                            "flow step failed; retry scheduled");
                        self.save_open(
                            step,
                            path,
                            StepStatus::Pending,
                            made,
                            None,
                            Some((&class, &message)),
                            started_at,
                            RunStatus::Pending,
                        )
                        .await?;
                        Err(Halt::Wait {
                            due,
                            status: RunStatus::Pending,
                        })
                    }
                    _ => {
                        self.save(
                            step,
                            path,
                            StepStatus::Failed,
                            made,
                            None,
                            Some((&class, &message)),
                            started_at,
                            RunStatus::Running,
                        )
                        .await?;
                        Err(Halt::Fail {
                            path: path.to_string(),
                            class,
                            message,
                            dead: true,
                        })
                    }
                }
            }
        }
    }

    /// `branch` and `foreach`: their own record says they started (and which arm), their
    /// nested steps keep records of their own.
    async fn compound(
        &self,
        step: &Step,
        scope: Value,
        path: &str,
        prefix: &str,
        record: Option<&StepRow>,
    ) -> Result<Value, Halt> {
        let now = now_micros();
        let started_at = record.and_then(|r| r.started_at).unwrap_or(now);
        let recorded: Option<Value> = record
            .and_then(|r| r.output.as_deref())
            .and_then(|o| serde_json::from_str(o).ok());
        match &step.action {
            Action::Branch(arms) => {
                let arm = match recorded.as_ref().and_then(|o| o["arm"].as_u64()) {
                    Some(i) => Some(i as usize),
                    None => match steps::choose_arm(self, step, arms, &scope).await {
                        Ok(arm) => {
                            let state = json!({ "arm": arm });
                            self.save_open(
                                step,
                                path,
                                StepStatus::Running,
                                1,
                                Some(&state),
                                None,
                                started_at,
                                RunStatus::Running,
                            )
                            .await?;
                            arm
                        }
                        Err((class, message)) => {
                            return self.fail_compound(step, path, started_at, class, message).await;
                        }
                    },
                };
                let mut scope = match arm.and_then(|i| arms.get(i)) {
                    Some(a) => self.steps(&a.steps, scope, prefix.to_string()).await?,
                    None => scope,
                };
                let output = json!({ "arm": arm });
                if record.is_none_or(|r| r.status != StepStatus::Succeeded) {
                    self.save(
                        step,
                        path,
                        StepStatus::Succeeded,
                        1,
                        Some(&output),
                        None,
                        started_at,
                        RunStatus::Running,
                    )
                    .await?;
                }
                context::set_output(&mut scope, &step.id, output);
                Ok(scope)
            }
            Action::Foreach {
                items,
                concurrency,
                steps,
            } => {
                let list = match steps::items(self, step, items, &scope).await {
                    Ok(list) if list.len() <= MAX_ITEMS => list,
                    Ok(list) => {
                        let message = format!("items yielded {} items; at most {MAX_ITEMS}", list.len());
                        return self
                            .fail_compound(step, path, started_at, "foreach_too_many".into(), message)
                            .await;
                    }
                    Err((class, message)) => return self.fail_compound(step, path, started_at, class, message).await,
                };
                if record.is_none() {
                    let state = json!({ "items": list.len() });
                    self.save_open(
                        step,
                        path,
                        StepStatus::Running,
                        1,
                        Some(&state),
                        None,
                        started_at,
                        RunStatus::Running,
                    )
                    .await?;
                }
                let walks = list.into_iter().enumerate().map(|(i, item)| {
                    let item_scope = context::for_item(&scope, item, i);
                    self.steps(steps, item_scope, format!("{path}/{i}/"))
                });
                let results: Vec<Result<Value, Halt>> = futures::stream::iter(walks)
                    .buffered(*concurrency as usize)
                    .collect()
                    .await;
                let mut outputs = Vec::with_capacity(results.len());
                let mut halt: Option<Halt> = None;
                for r in results {
                    match r {
                        Ok(item_scope) => outputs.push(item_scope["steps"].clone()),
                        // A filter inside a foreach skips the rest of that item only.
                        Err(Halt::Filtered) => outputs.push(Value::Null),
                        Err(h) => {
                            halt = Some(worse(halt, h));
                            outputs.push(Value::Null);
                        }
                    }
                }
                if let Some(h) = halt {
                    return Err(h);
                }
                let output: Value = Value::Array(
                    outputs
                        .into_iter()
                        .map(|steps_of_item| {
                            // Each item's output: its own steps' outputs by id.
                            let mut own = serde_json::Map::new();
                            for s in steps.iter() {
                                if let Some(o) = steps_of_item.get(&s.id) {
                                    own.insert(s.id.clone(), o["output"].clone());
                                }
                            }
                            Value::Object(own)
                        })
                        .collect(),
                );
                if record.is_none_or(|r| r.status != StepStatus::Succeeded) {
                    self.save(
                        step,
                        path,
                        StepStatus::Succeeded,
                        1,
                        Some(&output),
                        None,
                        started_at,
                        RunStatus::Running,
                    )
                    .await?;
                }
                let mut scope = scope;
                context::set_output(&mut scope, &step.id, output);
                Ok(scope)
            }
            _ => Ok(scope),
        }
    }

    async fn fail_compound(
        &self,
        step: &Step,
        path: &str,
        started_at: i64,
        class: String,
        message: String,
    ) -> Result<Value, Halt> {
        self.save(
            step,
            path,
            StepStatus::Failed,
            1,
            None,
            Some((&class, &message)),
            started_at,
            RunStatus::Running,
        )
        .await?;
        Err(Halt::Fail {
            path: path.to_string(),
            class,
            message,
            dead: false,
        })
    }

    /// Replaces every credential value opened for this run with the mask.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = text.to_string();
        for s in secrets.iter().filter(|s| s.len() >= 4) {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    pub(crate) fn remember_secrets(&self, values: impl IntoIterator<Item = String>) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        for v in values {
            if !v.is_empty() && !secrets.contains(&v) {
                secrets.push(v);
            }
        }
    }
}

/// Of two reasons to stop, the one that decides the run: a failure, then a lost lease or store
/// error, then the earliest wait.
fn worse(a: Option<Halt>, b: Halt) -> Halt {
    fn rank(h: &Halt) -> u8 {
        match h {
            Halt::Fail { .. } => 4,
            Halt::LeaseLost | Halt::Store(_) => 3,
            Halt::Wait { .. } => 2,
            Halt::Filtered | Halt::Superseded(_) => 1,
        }
    }
    match a {
        None => b,
        Some(a) => match (&a, &b) {
            (Halt::Wait { due: x, status: sx }, Halt::Wait { due: y, status: sy }) => {
                // The sooner wait; a retry (pending) shows over a delay when both are due.
                if x <= y {
                    Halt::Wait { due: *x, status: *sx }
                } else {
                    Halt::Wait { due: *y, status: *sy }
                }
            }
            _ if rank(&b) > rank(&a) => b,
            _ => a,
        },
    }
}
