//! Storage of flows and their runs (SPEC §7):
//! - `flows` holds each flow's current definition; `flow_versions` every definition it ever had
//!   (a run keeps the version it started with, so versions are never deleted with the flow);
//! - `runs` one row per run, created in the same transaction as its trigger event (see
//!   `NewEvent::runs`), with a job of kind `run` in the queue while it is not finished;
//! - `run_steps` one row per step execution of a run, keyed by the step's path (`contact`,
//!   `each/2/send` inside a foreach), so a resumed run skips what already succeeded.
//!
//! Invariants: a run has a job exactly while its status is not final; a step's record is written
//! only by the holder of the run's lease, and writing it extends the lease (a worker that lost
//! its lease learns it from the `false` and stops, writing nothing).

use switchyard_core::flow::{RunStatus, StepStatus};

use crate::{Page, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FlowRow {
    pub id: String,
    pub name: String,
    /// 1 for a new flow; each change adds one.
    pub version: i64,
    /// `FlowSpec` as JSON.
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FlowVersionRow {
    pub flow_id: String,
    pub version: i64,
    pub definition: String,
    pub created_at: i64,
}

/// A run to create with its trigger event, in the event's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub id: String,
    pub flow_id: String,
    pub flow_name: String,
    pub flow_version: i64,
    pub event_id: String,
    pub created_at: i64,
    /// Flow control (`concurrency`, `ordering`, `debounce`): the key and how its runs queue.
    pub control: Option<RunControl>,
}

/// How a controlled run queues behind the other runs of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunControl {
    pub key: String,
    /// Runs of the key in progress at once (1 for ordering and debounce).
    pub limit: i64,
    /// Its place among the key's runs (ordering's `sequence`); arrival order without one.
    pub sequence: Option<i64>,
    /// When it may start (debounce: after the quiet period).
    pub due_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub seq: i64,
    pub id: String,
    pub flow_id: String,
    pub flow_name: String,
    pub flow_version: i64,
    pub event_id: String,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    /// The path of the step that failed (failed and dead runs).
    pub failed_step: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
    /// Flow control's key and sequence, when the flow has one.
    pub control_key: Option<String>,
    pub sequence: Option<i64>,
    /// What flow control did to the run (JSON): a sequence gap gone over, a supersession.
    pub note: Option<String>,
}

/// One step's execution within a run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepRow {
    pub run_id: String,
    /// `contact`, or `each/2/send` for a step inside a foreach (item 2).
    pub path: String,
    pub step_id: String,
    #[sqlx(try_from = "String")]
    pub status: StepStatus,
    pub attempts: i64,
    /// The output as JSON (redaction applies when shown, not here).
    pub output: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A run claimed by a worker: the queue row holding the lease, the run, and what walking it
/// needs — its trigger event (`None` once retention took it) and its step records — read with
/// the claim, a query per batch rather than per run.
#[derive(Debug, Clone)]
pub struct ClaimedRun {
    pub job: i64,
    pub run: RunRow,
    pub event: Option<crate::EventRecord>,
    pub steps: Vec<StepRow>,
}

/// One run to end: its job, how it ends and the step records not stored yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishRun {
    pub job: i64,
    pub run_id: String,
    pub end: RunEnd,
    pub steps: Vec<StepRow>,
}

/// How a run ends (the job is deleted with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// A final status.
    pub status: RunStatus,
    pub failed_step: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub finished_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub flow_name: Option<String>,
    pub status: Option<RunStatus>,
    pub event_id: Option<String>,
    /// Newest first: continue strictly before this `seq`.
    pub before_seq: Option<i64>,
    /// Only runs that ended at or after this time (µs), in the order they ended (how `events
    /// tail` follows run outcomes).
    pub ended_since: Option<i64>,
    pub limit: i64,
}

#[async_trait::async_trait]
pub trait FlowStore: Send + Sync {
    /// Inserts the flow and its version row; `Conflict` when the name is taken.
    async fn insert_flow(&self, row: &FlowRow) -> StoreResult<()>;
    /// Replaces name and definition with `row.version`, which must be the stored version + 1
    /// (false otherwise, or when the flow is gone), and adds the version row.
    async fn update_flow(&self, row: &FlowRow) -> StoreResult<bool>;
    /// Deletes the flow; its versions stay for the runs that refer to them.
    async fn delete_flow(&self, id: &str) -> StoreResult<bool>;
    /// By `flw_` id or by name.
    async fn get_flow(&self, id_or_name: &str) -> StoreResult<Option<FlowRow>>;
    /// Newest first, by id.
    async fn list_flows(&self, before_id: Option<&str>, limit: i64) -> StoreResult<Page<FlowRow>>;
    async fn all_flows(&self) -> StoreResult<Vec<FlowRow>>;
    /// Newest version first.
    async fn flow_versions(&self, flow_id: &str) -> StoreResult<Vec<FlowVersionRow>>;
    async fn flow_version(&self, flow_id: &str, version: i64) -> StoreResult<Option<FlowVersionRow>>;

    /// Leases up to `limit` due runs (oldest due first) to `owner` until `lease_until`; an
    /// expired lease is taken over. Claimed runs become `running`.
    async fn claim_runs(&self, owner: &str, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<ClaimedRun>>;
    /// Upserts step records (by run and path; at most one per path), sets the run's status and
    /// extends the lease to `lease_until`, in one transaction — only while `owner` holds
    /// `job`'s lease; false (and nothing written) otherwise.
    async fn save_steps(
        &self,
        owner: &str,
        job: i64,
        lease_until: i64,
        steps: &[StepRow],
        run_status: RunStatus,
    ) -> StoreResult<bool>;
    /// [`FlowStore::save_steps`] for one record.
    async fn save_step(
        &self,
        owner: &str,
        job: i64,
        lease_until: i64,
        step: &StepRow,
        run_status: RunStatus,
    ) -> StoreResult<bool> {
        self.save_steps(owner, job, lease_until, std::slice::from_ref(step), run_status)
            .await
    }
    /// Moves the end of `owner`'s lease on `job` to `lease_until` (before a call that may outlast
    /// it); false when `owner` no longer holds it.
    async fn extend_run_lease(&self, owner: &str, job: i64, run_id: &str, lease_until: i64) -> StoreResult<bool>;
    /// Gives the run back to the queue, due at `due_at`, with this status (`pending` for a
    /// retry, `waiting` for a delay), writing `steps` in the same transaction; false when
    /// `owner` no longer holds the lease.
    async fn reschedule_run(
        &self,
        owner: &str,
        job: i64,
        run_id: &str,
        due_at: i64,
        status: RunStatus,
        steps: &[StepRow],
    ) -> StoreResult<bool>;
    /// Ends runs and deletes their jobs, each with its last step records, in one transaction
    /// (one commit for many runs: a runner's finishes are group-committed); per run, false when
    /// `owner` no longer holds its lease (and nothing of it is written).
    async fn finish_runs(&self, owner: &str, runs: &[FinishRun]) -> StoreResult<Vec<bool>>;
    /// [`FlowStore::finish_runs`] for one run.
    async fn finish_run(
        &self,
        owner: &str,
        job: i64,
        run_id: &str,
        end: &RunEnd,
        steps: &[StepRow],
    ) -> StoreResult<bool> {
        let run = FinishRun {
            job,
            run_id: run_id.to_string(),
            end: end.clone(),
            steps: steps.to_vec(),
        };
        let done = self.finish_runs(owner, std::slice::from_ref(&run)).await?;
        Ok(done.first().copied().unwrap_or(false))
    }
    /// A failed or dead run becomes `pending` and due at `now` with a new job: its error is
    /// cleared and its steps that did not succeed are reset (`pending`, 0 attempts, no error, not
    /// started — so a step's max age counts from the retry, not from its first attempt),
    /// so it resumes from the failed step. `None` when the run does not exist or is not failed
    /// or dead.
    async fn retry_run(&self, run_id: &str, now: i64) -> StoreResult<Option<RunRow>>;

    async fn get_run(&self, id: &str) -> StoreResult<Option<RunRow>>;
    async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Page<RunRow>>;
    /// A run's step records in the order they started (records never started last, by path).
    async fn run_steps(&self, run_id: &str) -> StoreResult<Vec<StepRow>>;
    /// When the earliest run job is due (leased ones at their lease's end); how an idle runner
    /// knows how long it may sleep.
    async fn next_run_due(&self) -> StoreResult<Option<i64>>;

    /// The highest sequence started for this flow and key.
    async fn last_sequence(&self, flow_id: &str, key: &str) -> StoreResult<Option<i64>>;
    /// Records that `sequence` started (the key's highest never goes down), and makes the run
    /// of the next sequence due now (it may have been waiting for this one).
    async fn start_sequence(&self, flow_id: &str, key: &str, sequence: i64, now: i64) -> StoreResult<()>;
    /// Whether a run of this flow and key arrived after the one whose job is `job` (debounce).
    async fn newer_run_of_key(&self, flow_id: &str, key: &str, job: i64) -> StoreResult<bool>;
    /// Sets what flow control did to the run.
    async fn set_run_note(&self, run_id: &str, note: &str) -> StoreResult<()>;
}

/// A claimed run with its job, as a backend's claim returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRunRow {
    pub job: i64,
    #[sqlx(flatten)]
    pub run: RunRow,
}

/// The pick of a claim: due run jobs, unleased or with an expired lease, whose key has room,
/// oldest due first (binds: kind, now, now, limit).
macro_rules! push_run_pick {
    ($qb:expr, $now:expr, $limit:expr) => {
        $qb.push("SELECT seq FROM jobs WHERE kind = ")
            .push_bind($crate::JobKind::Run.as_str());
        $qb.push(" AND due_at <= ").push_bind($now);
        $qb.push(" AND (lease_until IS NULL OR lease_until <= ")
            .push_bind($now)
            .push(")");
        $qb.push($crate::flows::KEY_HAS_ROOM);
        $qb.push(" ORDER BY due_at LIMIT ").push_bind($limit);
    };
}
pub(crate) use push_run_pick;

pub(crate) const FLOW_COLUMNS: &str = "id, name, version, definition, created_at, updated_at";
pub(crate) const VERSION_COLUMNS: &str = "flow_id, version, definition, created_at";
pub(crate) const RUN_COLUMNS: &str = "seq, id, flow_id, flow_name, flow_version, event_id, status, failed_step, \
     error_class, error_message, started_at, finished_at, updated_at, control_key, sequence, note";
/// The claim condition of flow control: a keyed job may start only while fewer than its key's
/// limit of the key's jobs come before it (by sequence, then arrival). Jobs of other keys, and
/// unkeyed ones, are never held back. (A SQL fragment over `jobs`, starting with ` AND`.)
pub(crate) const KEY_HAS_ROOM: &str = " AND (ordering_key IS NULL OR (SELECT COUNT(*) FROM jobs p \
     WHERE p.kind = jobs.kind AND p.lane = jobs.lane AND p.ordering_key = jobs.ordering_key \
     AND (COALESCE(p.position, 0) < COALESCE(jobs.position, 0) \
     OR (COALESCE(p.position, 0) = COALESCE(jobs.position, 0) AND p.seq < jobs.seq))) \
     < COALESCE(jobs.key_limit, 1))";
/// A step record's upsert by `(run_id, path)`: the new record replaces the old.
pub(crate) const STEP_UPSERT: &str = " ON CONFLICT (run_id, path) DO UPDATE SET step_id = excluded.step_id, \
     status = excluded.status, attempts = excluded.attempts, output = excluded.output, \
     error_class = excluded.error_class, error_message = excluded.error_message, \
     started_at = excluded.started_at, finished_at = excluded.finished_at";
pub(crate) const STEP_COLUMNS: &str =
    "run_id, path, step_id, status, attempts, output, error_class, error_message, started_at, finished_at";

mod queries;
mod sql;

pub(crate) use queries::impl_flow_store;
pub(crate) use sql::{
    commit_steps_and_status, ended_runs, push_run_job_rows, push_run_rows, select_where_in, upsert_steps,
};
