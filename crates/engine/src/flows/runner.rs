//! The flow-run kind of the job runner: claims runs from the job queue (kind `run`; leases,
//! `SKIP LOCKED` on PostgreSQL) and advances each as far as it can go — to its end, or back to the queue until a
//! retry or a delay is due. A run whose node died is claimed again once its lease expires
//! (lease = the longest destination timeout + 45 s by default), and every step record extends
//! the lease, so a long run is never taken over while its worker is alive and progressing.
//!
//! Invariant: only the lease holder writes a run's steps or moves it on; a worker that finds
//! its lease gone stops without writing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use switchyard_core::flow::RunStatus;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_jq::Jq;
use switchyard_store::{ClaimedRun, FinishRun, RunEnd, Signal, StepRow, Store, StoreError};

use super::FlowCatalog;
use super::context;
use super::execute::{Halt, Walk};
use super::finisher::Finisher;
use crate::delivery::Publisher;
use crate::destinations::DestinationCatalog;
use crate::destinations::oauth2::TokenCache;
use crate::endpoints::EndpointCatalog;
use crate::jobs::guard::Guards;
use crate::jobs::{Lane, Round, Worker};
use crate::outbound::OutboundClient;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Runs advanced at once on this node.
    pub max_in_flight: usize,
    pub claim_batch: i64,
    pub lease: Duration,
    /// How long an idle runner sleeps before looking for due runs (other nodes' runs, retries
    /// and delays that fell due).
    pub idle_poll: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            max_in_flight: 512,
            claim_batch: 128,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(200),
        }
    }
}

/// Wakes the flow lane when runs were committed on this node.
#[derive(Clone)]
pub struct RunnerHandle {
    lane: Arc<Lane>,
}

impl RunnerHandle {
    pub fn new(lane: Arc<Lane>) -> Self {
        RunnerHandle { lane }
    }

    pub fn wake(&self) {
        self.lane.wake();
    }
}

/// What advancing runs needs.
pub struct RunnerDeps {
    pub store: Arc<dyn Store>,
    pub flows: Arc<FlowCatalog>,
    pub destinations: Arc<DestinationCatalog>,
    pub endpoints: Arc<EndpointCatalog>,
    pub tokens: Arc<TokenCache>,
    pub client: OutboundClient,
    pub publisher: Publisher,
    pub jq: Jq,
    /// Concurrency, rate and 429 pauses per destination, across every run on this node.
    pub guards: Guards,
    pub config: RunnerConfig,
    /// Run and call outcomes for alerts and the dashboard.
    pub health: Arc<crate::alerts::HealthTally>,
}

/// The flow-run kind of the job runner (see [`crate::jobs`]): claims runs oldest due first and
/// advances each on its own task.
pub struct FlowRunner {
    deps: Arc<RunnerDeps>,
    lane: Arc<Lane>,
    finisher: Finisher,
}

impl FlowRunner {
    /// The worker for the job runner's flow lane, and the what-if walker sharing its parts.
    pub fn worker(deps: RunnerDeps, lane: Arc<Lane>) -> (Arc<dyn Worker>, super::Rehearser) {
        let finisher = Finisher::start(deps.store.clone(), lane.owner().to_string(), lane.writes());
        let deps = Arc::new(deps);
        let rehearser = super::Rehearser::new(deps.clone());
        let worker = Arc::new(FlowRunner { deps, lane, finisher });
        (worker, rehearser)
    }
}

/// How soon a lane looks again when a run is due but none could be claimed (leased elsewhere).
const LEASED_ELSEWHERE: Duration = Duration::from_millis(5);

#[async_trait::async_trait]
impl Worker for FlowRunner {
    fn lane(&self) -> &Arc<Lane> {
        &self.lane
    }

    async fn claim(&self) -> Round {
        let deps = &self.deps;
        let want = (self.lane.free() as i64).min(deps.config.claim_batch);
        let now = now_micros();
        let lease_until = now + deps.config.lease.as_micros() as i64;
        let mut started = 0;
        let (store, owner) = (deps.store.clone(), self.lane.owner().to_string());
        let claim = self
            .lane
            .writes()
            .run(async move { store.claim_runs(&owner, now, lease_until, want).await })
            .await
            .unwrap_or_else(|e| Err(StoreError::Unavailable(e.to_string())));
        match claim {
            Ok(claimed) => {
                started = claimed.len();
                let full = claimed.len() as i64 == want;
                for c in claimed {
                    let (deps, slot, finisher) = (deps.clone(), self.lane.slot(), self.finisher.clone());
                    let owner = self.lane.owner().to_string();
                    let lane = self.lane.clone();
                    tokio::spawn(async move {
                        let keyed = c.run.control_key.is_some();
                        advance(&deps, &owner, &finisher, c, lease_until).await;
                        drop(slot);
                        // The next run of its key may start now.
                        if keyed {
                            lane.wake();
                        }
                    });
                }
                if full || started > 0 {
                    // A full claim may leave more due: claim again at once. A partial one needs
                    // no due-time query: each run it started frees its slot when it ends, and
                    // that wakes the lane to claim (and, finding nothing, to look up when to).
                    return Round {
                        again: full,
                        wake_at: None,
                        claimed: started,
                    };
                }
            }
            Err(e) => tracing::warn!(error = %e, "claiming flow runs failed; retrying"),
        }
        let next_due = deps.store.next_run_due().await;
        let now = now_micros();
        let idle = now + deps.config.idle_poll.as_micros() as i64;
        let wake_at = match next_due {
            // Due now but nothing claimable (leased elsewhere): look again soon, without spinning.
            Ok(Some(due)) if due <= now => now + LEASED_ELSEWHERE.as_micros() as i64,
            Ok(Some(due)) => due.min(idle),
            _ => idle,
        };
        Round {
            again: false,
            wake_at: Some(wake_at),
            claimed: started,
        }
    }

    async fn signal(&self, signal: &Signal) {
        // Runs created on other nodes (their commit's `NOTIFY`): claim at once.
        if matches!(signal, Signal::Runs) {
            self.lane.wake();
        }
    }
}

/// Advances one claimed run and moves it on.
async fn advance(deps: &Arc<RunnerDeps>, owner: &str, finisher: &Finisher, claimed: ClaimedRun, lease_until: i64) {
    let ClaimedRun { job, run, event, steps } = claimed;
    let run_id = run.id.clone();
    let flow = run.flow_name.clone();
    let event_id = run.event_id.clone();
    let (halt, steps) = walk(deps, owner, job, run, event, steps, lease_until).await;
    let halt = halt.err();
    let end = |status, failure| Ending {
        job,
        run_id: run_id.clone(),
        event_id: event_id.clone(),
        flow: flow.clone(),
        status,
        failure,
        steps: steps.clone(),
    };
    let result = match halt {
        None => finish(deps, finisher, end(RunStatus::Succeeded, None)).await,
        Some(Halt::Filtered) => finish(deps, finisher, end(RunStatus::Filtered, None)).await,
        Some(Halt::Superseded(message)) => {
            let failure = Some((String::new(), "debounced".to_string(), message));
            finish(deps, finisher, end(RunStatus::Filtered, failure)).await
        }
        Some(Halt::Wait { due, status }) => {
            deps.store
                .reschedule_run(owner, job, &run_id, due, status, &steps)
                .await
        }
        Some(Halt::Fail {
            path,
            class,
            message,
            dead,
        }) => {
            let status = if dead { RunStatus::Dead } else { RunStatus::Failed };
            finish(deps, finisher, end(status, Some((path, class, message)))).await
        }
        Some(Halt::LeaseLost) => Ok(false),
        Some(Halt::Store(e)) => {
            tracing::warn!(run_id = %run_id, error = %e, "a flow run could not be recorded; it resumes when its lease expires");
            return;
        }
    };
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!(run_id = %run_id, "the run's lease was lost; another worker continues it"),
        Err(e) => {
            tracing::warn!(run_id = %run_id, error = %e, "a flow run could not be moved on; it resumes when its lease expires")
        }
    }
}

/// Loads what the run needs and walks its steps; also returns the step records not stored yet,
/// which the write that moves the run on carries.
async fn walk(
    deps: &Arc<RunnerDeps>,
    owner: &str,
    job: i64,
    run: switchyard_store::RunRow,
    event: Option<switchyard_store::EventRecord>,
    records: Vec<StepRow>,
    lease_until: i64,
) -> (Result<(), Halt>, Vec<StepRow>) {
    let fail = |class: &str, message: String| Halt::Fail {
        path: String::new(),
        class: class.to_string(),
        message,
        dead: false,
    };
    let spec = match deps.flows.version(&run.flow_id, run.flow_version).await {
        Ok(s) => s,
        Err(super::FlowError::Store(e)) => return (Err(Halt::Store(e)), Vec::new()),
        Err(e) => {
            let message = format!("flow version {}: {e}", run.flow_version);
            return (Err(fail("flow_missing", message)), Vec::new());
        }
    };
    let Some(event) = event else {
        let message = "the trigger event no longer exists (retention)".into();
        return (Err(fail("event_missing", message)), Vec::new());
    };
    if records.is_empty()
        && let Err(halt) = super::control::may_start(deps, &run, job, &spec).await
    {
        return (Err(halt), Vec::new());
    }
    let walk = Walk {
        deps: deps.clone(),
        run,
        job,
        owner: owner.to_string(),
        spec: spec.clone(),
        records: Mutex::new(records.into_iter().map(|r| (r.path.clone(), r)).collect()),
        secrets: Mutex::new(Vec::new()),
        pending: Default::default(),
        lease_until: lease_until.into(),
        rehearsal: None,
    };
    let result = walk
        .steps(&spec.steps, context::initial(&event), String::new())
        .await
        .map(|_| ());
    let steps = walk.pending.lock().await.take();
    (result, steps)
}

/// Ends a run; a dead or failed one first publishes its `on_failure` event (once per failure:
/// the publication's dedup key names the run, the step and when it failed).
/// How a walk ended, for [`finish`].
struct Ending {
    job: i64,
    run_id: String,
    event_id: String,
    flow: String,
    status: RunStatus,
    /// The failing step's path, error class and message.
    failure: Option<(String, String, String)>,
    /// Step records not stored yet.
    steps: Vec<StepRow>,
}

async fn finish(
    deps: &Arc<RunnerDeps>,
    finisher: &Finisher,
    ending: Ending,
) -> Result<bool, switchyard_store::StoreError> {
    let Ending {
        job,
        run_id,
        event_id,
        flow,
        status,
        failure,
        steps,
    } = ending;
    let run_id = run_id.as_str();
    let now = now_micros();
    let failed = matches!(status, RunStatus::Failed | RunStatus::Dead);
    if let Some((path, class, message)) = &failure
        && failed
        && let Some(run) = deps.store.get_run(run_id).await?
        && let Ok(spec) = deps.flows.version(&run.flow_id, run.flow_version).await
        && let Some(on_failure) = &spec.on_failure
    {
        let payload = json!({
            "run_id": run_id,
            "flow": run.flow_name,
            "event_id": run.event_id,
            "status": status,
            "failed_step": path,
            "error": {"class": class, "message": message},
        });
        let key = format!("on_failure:{run_id}:{path}:{}", run.updated_at);
        let request_id = new_id(IdKind::Request);
        if let Err(e) = deps
            .publisher
            .publish_event(crate::delivery::Publication {
                event_type: &on_failure.emit,
                payload: &payload,
                request_id: &request_id,
                origin: crate::fanout::Origin::Published,
                dedup_key: Some(&key),
            })
            .await
        {
            tracing::warn!(run_id, error = %e, "the run's on_failure event could not be published");
        }
    }
    let (failed_step, error_class, error_message) = match failure {
        Some((path, class, message)) => (Some(path).filter(|p| !p.is_empty()), Some(class), Some(message)),
        None => (None, None, None),
    };
    // A run that failed or died needs a human (a fix, then a retry): ERROR; the rest DEBUG.
    match (&error_class, &error_message) {
        (Some(class), Some(message)) if failed => {
            tracing::error!(run_id, event_id = %event_id, flow = %flow, status = %status,
            failed_step = failed_step.as_deref().unwrap_or(""), error_class = %class, error = %message, "flow run ended")
        }
        _ => tracing::debug!(run_id, event_id = %event_id, flow = %flow, status = %status, "flow run ended"),
    }
    let ended = finisher
        .finish(FinishRun {
            job,
            run_id: run_id.to_string(),
            end: RunEnd {
                status,
                failed_step,
                error_class,
                error_message,
                finished_at: now,
            },
            steps,
        })
        .await;
    if matches!(ended, Ok(true)) {
        crate::metrics::flow_run(&flow, status.as_str());
        let outcome = match status.as_str() {
            "failed" | "dead" => Some(crate::alerts::Outcome::Failed),
            "succeeded" | "filtered" => Some(crate::alerts::Outcome::Ok),
            _ => None,
        };
        if let Some(o) = outcome {
            deps.health.record(switchyard_core::alert::ScopeKind::Flow, &flow, o);
        }
    }
    ended
}
