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
}

pub(crate) const FLOW_COLUMNS: &str = "id, name, version, definition, created_at, updated_at";
pub(crate) const VERSION_COLUMNS: &str = "flow_id, version, definition, created_at";
pub(crate) const RUN_COLUMNS: &str = "seq, id, flow_id, flow_name, flow_version, event_id, status, failed_step, \
     error_class, error_message, started_at, finished_at, updated_at";
pub(crate) const STEP_COLUMNS: &str =
    "run_id, path, step_id, status, attempts, output, error_class, error_message, started_at, finished_at";

/// Rows of `$head` (a query ending in `… IN (`) for a list of bound values, on `$pool`.
macro_rules! select_where_in {
    ($db:ty, $pool:expr, $head:expr, $values:expr) => {{
        let mut qb = sqlx::QueryBuilder::<$db>::new($head);
        let mut list = qb.separated(", ");
        for v in $values {
            list.push_bind(v);
        }
        qb.push(")");
        qb.build_query_as().persistent(false).fetch_all($pool).await?
    }};
}
pub(crate) use select_where_in;

/// Upserts step records by `(run_id, path)` inside the caller's transaction, many rows per
/// statement: on SQLite every statement is a round trip to the connection's thread, which costs
/// more than parsing a statement again.
macro_rules! upsert_steps {
    ($conn:expr, $steps:expr, $db:ty) => {
        for chunk in $steps.chunks(100) {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO run_steps (run_id, path, step_id, status, attempts, output, error_class, error_message, \
                 started_at, finished_at) ",
            );
            qb.push_values(chunk, |mut b, step: &$crate::StepRow| {
                b.push_bind(step.run_id.clone())
                    .push_bind(step.path.clone())
                    .push_bind(step.step_id.clone())
                    .push_bind(step.status.as_str())
                    .push_bind(step.attempts)
                    .push_bind(step.output.clone())
                    .push_bind(step.error_class.clone())
                    .push_bind(step.error_message.clone())
                    .push_bind(step.started_at)
                    .push_bind(step.finished_at);
            });
            qb.push(
                " ON CONFLICT (run_id, path) DO UPDATE SET step_id = excluded.step_id, status = excluded.status, \
                 attempts = excluded.attempts, output = excluded.output, error_class = excluded.error_class, \
                 error_message = excluded.error_message, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at",
            );
            qb.build().persistent(false).execute(&mut *$conn).await?;
        }
    };
}
pub(crate) use upsert_steps;

/// Inserts run rows, `pending` and started at their creation (used inside the intake batch).
macro_rules! push_run_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push("INSERT INTO runs (id, flow_id, flow_name, flow_version, event_id, status, started_at, updated_at) ");
        $qb.push_values($chunk, |mut b, r: &&$crate::NewRun| {
            b.push_bind(r.id.clone())
                .push_bind(r.flow_id.clone())
                .push_bind(r.flow_name.clone())
                .push_bind(r.flow_version)
                .push_bind(r.event_id.clone())
                .push("'pending'")
                .push_bind(r.created_at)
                .push_bind(r.created_at);
        });
    };
}
pub(crate) use push_run_rows;

/// Inserts the queue's job rows for new runs, due at once (a statement of its own, after
/// [`push_run_rows`], in the same transaction).
macro_rules! push_run_job_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push("INSERT INTO jobs (kind, subject_id, lane, due_at) ");
        $qb.push_values($chunk, |mut b, r: &&$crate::NewRun| {
            b.push_bind($crate::JobKind::Run.as_str())
                .push_bind(r.id.clone())
                .push_bind(r.flow_id.clone())
                .push_bind(r.created_at);
        });
    };
}
pub(crate) use push_run_job_rows;

/// The flow queries, shared by both backends; `$claim_open`/`$claim_close` wrap the pick of due
/// jobs in a claim as for deliveries (`impl_delivery_store!`): PostgreSQL's
/// `FOR UPDATE SKIP LOCKED` into an array, SQLite's single writer making it atomic on its own.
/// Every write that depends on a lease names the job by `seq` and its holder, as delivery
/// completions do.
macro_rules! impl_flow_store {
    ($ty:ty, $db:ty, $claim_open:expr, $claim_close:expr) => {
        #[async_trait::async_trait]
        impl $crate::FlowStore for $ty {
            async fn insert_flow(&self, row: &$crate::FlowRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                sqlx::query(
                    "INSERT INTO flows (id, name, version, definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(row.version)
                .bind(&row.definition)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO flow_versions (flow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&row.id)
                    .bind(row.version)
                    .bind(&row.definition)
                    .bind(row.created_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_flow(&self, row: &$crate::FlowRow) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let done = sqlx::query(
                    "UPDATE flows SET name = $2, version = $3, definition = $4, updated_at = $5 WHERE id = $1 AND version = $6",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(row.version)
                .bind(&row.definition)
                .bind(row.updated_at)
                .bind(row.version - 1)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query("INSERT INTO flow_versions (flow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&row.id)
                    .bind(row.version)
                    .bind(&row.definition)
                    .bind(row.updated_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn delete_flow(&self, id: &str) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query("DELETE FROM flows WHERE id = $1").bind(id).execute(&self.write).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_flow(&self, id_or_name: &str) -> $crate::StoreResult<Option<$crate::FlowRow>> {
                // Names never start with `flw_`, so the two cannot collide.
                let column = if id_or_name.starts_with("flw_") { "id" } else { "name" };
                let sql = format!("SELECT {} FROM flows WHERE {column} = $1", $crate::flows::FLOW_COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id_or_name).fetch_optional(&self.read).await?)
            }

            async fn list_flows(
                &self,
                before_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::FlowRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::flows::FLOW_COLUMNS).push(" FROM flows");
                if let Some(id) = before_id {
                    qb.push(" WHERE id < ").push_bind(id.to_string());
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn all_flows(&self) -> $crate::StoreResult<Vec<$crate::FlowRow>> {
                let sql = format!("SELECT {} FROM flows ORDER BY name", $crate::flows::FLOW_COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.read).await?)
            }

            async fn flow_versions(&self, flow_id: &str) -> $crate::StoreResult<Vec<$crate::FlowVersionRow>> {
                let sql = format!(
                    "SELECT {} FROM flow_versions WHERE flow_id = $1 ORDER BY version DESC",
                    $crate::flows::VERSION_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(flow_id).fetch_all(&self.read).await?)
            }

            async fn flow_version(
                &self,
                flow_id: &str,
                version: i64,
            ) -> $crate::StoreResult<Option<$crate::FlowVersionRow>> {
                let sql = format!(
                    "SELECT {} FROM flow_versions WHERE flow_id = $1 AND version = $2",
                    $crate::flows::VERSION_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(flow_id).bind(version).fetch_optional(&self.read).await?)
            }

            async fn claim_runs(
                &self,
                owner: &str,
                now: i64,
                lease_until: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ClaimedRun>> {
                self.check_writable()?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE jobs SET lease_until = ");
                qb.push_bind(lease_until).push(", lease_owner = ").push_bind(owner.to_string());
                qb.push($claim_open).push("SELECT seq FROM jobs WHERE kind = ").push_bind($crate::JobKind::Run.as_str());
                qb.push(" AND due_at <= ").push_bind(now);
                qb.push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now).push(")");
                qb.push(" ORDER BY due_at LIMIT ").push_bind(limit);
                qb.push($claim_close).push(" RETURNING seq, subject_id");
                // As for deliveries, a claim need not survive a power cut (the run is claimed
                // again), so it commits without waiting for the disk where the backend allows.
                let mut conn = self.write.acquire().await?;
                self.relax_durability(&mut conn).await?;
                let claimed: $crate::StoreResult<Vec<$crate::ClaimedRun>> = async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let jobs: std::collections::HashMap<String, i64> = qb
                        .build_query_as::<(i64, String)>()
                        .persistent(false)
                        .fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .map(|(seq, id)| (id, seq))
                        .collect();
                    if jobs.is_empty() {
                        tx.rollback().await?;
                        return Ok(Vec::new());
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE runs SET status = ");
                    qb.push_bind(switchyard_core::flow::RunStatus::Running.as_str());
                    qb.push(", updated_at = ").push_bind(now).push(" WHERE id IN (");
                    let mut ids = qb.separated(", ");
                    for id in jobs.keys() {
                        ids.push_bind(id.clone());
                    }
                    qb.push(") RETURNING ").push($crate::flows::RUN_COLUMNS);
                    let runs: Vec<$crate::RunRow> = qb.build_query_as().persistent(false).fetch_all(&mut *tx).await?;
                    tx.commit().await?;
                    let mut claimed: Vec<$crate::ClaimedRun> = runs
                        .into_iter()
                        .filter_map(|run| {
                            Some($crate::ClaimedRun {
                                job: *jobs.get(&run.id)?,
                                run,
                                event: None,
                                steps: Vec::new(),
                            })
                        })
                        .collect();
                    claimed.sort_by_key(|c| c.run.seq);
                    Ok(claimed)
                }
                .await;
                self.restore_durability(&mut conn).await?;
                drop(conn);
                let mut claimed = claimed?;
                if claimed.is_empty() {
                    return Ok(claimed);
                }
                let sql = format!("SELECT seq, {} FROM events WHERE id IN (", $crate::queries::EVENT_COLUMNS);
                let events: Vec<$crate::EventRecord> =
                    $crate::flows::select_where_in!($db, &self.read, sql, claimed.iter().map(|c| c.run.event_id.clone()));
                let events: std::collections::HashMap<String, $crate::EventRecord> =
                    events.into_iter().map(|e| (e.id.clone(), e)).collect();
                let sql = format!("SELECT {} FROM run_steps WHERE run_id IN (", $crate::flows::STEP_COLUMNS);
                let steps: Vec<$crate::StepRow> =
                    $crate::flows::select_where_in!($db, &self.read, sql, claimed.iter().map(|c| c.run.id.clone()));
                let mut by_run: std::collections::HashMap<String, Vec<$crate::StepRow>> = std::collections::HashMap::new();
                for s in steps {
                    by_run.entry(s.run_id.clone()).or_default().push(s);
                }
                for c in &mut claimed {
                    // Cloned: several runs may share one event.
                    c.event = events.get(&c.run.event_id).cloned();
                    c.steps = by_run.remove(&c.run.id).unwrap_or_default();
                }
                Ok(claimed)
            }

            async fn save_steps(
                &self,
                owner: &str,
                job: i64,
                lease_until: i64,
                steps: &[$crate::StepRow],
                run_status: switchyard_core::flow::RunStatus,
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let Some(run_id) = steps.first().map(|s| s.run_id.clone()) else {
                    return Ok(true);
                };
                let mut tx = self.write.begin().await?;
                let held = sqlx::query(
                    "UPDATE jobs SET lease_until = $1 WHERE seq = $2 AND lease_owner = $3 AND kind = $4 AND subject_id = $5",
                )
                .bind(lease_until)
                .bind(job)
                .bind(owner)
                .bind($crate::JobKind::Run.as_str())
                .bind(&run_id)
                .execute(&mut *tx)
                .await?;
                if held.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::flows::upsert_steps!(tx, steps, $db);
                sqlx::query("UPDATE runs SET status = $2, updated_at = $3 WHERE id = $1")
                    .bind(&run_id)
                    .bind(run_status.as_str())
                    .bind(switchyard_core::time::now_micros())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn reschedule_run(
                &self,
                owner: &str,
                job: i64,
                run_id: &str,
                due_at: i64,
                status: switchyard_core::flow::RunStatus,
                steps: &[$crate::StepRow],
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let held = sqlx::query(
                    "UPDATE jobs SET due_at = $1, lease_until = NULL, lease_owner = NULL \
                     WHERE seq = $2 AND lease_owner = $3 AND kind = $4 AND subject_id = $5",
                )
                .bind(due_at)
                .bind(job)
                .bind(owner)
                .bind($crate::JobKind::Run.as_str())
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                if held.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::flows::upsert_steps!(tx, steps, $db);
                sqlx::query("UPDATE runs SET status = $2, updated_at = $3 WHERE id = $1")
                    .bind(run_id)
                    .bind(status.as_str())
                    .bind(switchyard_core::time::now_micros())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn extend_run_lease(
                &self,
                owner: &str,
                job: i64,
                run_id: &str,
                lease_until: i64,
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                // Like a claim, an extension need not survive a power cut (the lease only matters
                // while its holder lives), so it commits without waiting for the disk.
                let mut conn = self.write.acquire().await?;
                self.relax_durability(&mut conn).await?;
                let held = sqlx::query(
                    "UPDATE jobs SET lease_until = $1 WHERE seq = $2 AND lease_owner = $3 AND kind = $4 AND subject_id = $5",
                )
                .bind(lease_until)
                .bind(job)
                .bind(owner)
                .bind($crate::JobKind::Run.as_str())
                .bind(run_id)
                .execute(&mut *conn)
                .await;
                self.restore_durability(&mut conn).await?;
                Ok(held?.rows_affected() == 1)
            }

            async fn finish_runs(
                &self,
                owner: &str,
                runs: &[$crate::FinishRun],
            ) -> $crate::StoreResult<Vec<bool>> {
                self.check_writable()?;
                if runs.is_empty() {
                    return Ok(Vec::new());
                }
                // A handful of statements for the whole batch: the jobs still held go, then the
                // held runs' step records and ends are written.
                let mut tx = self.write.begin().await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM jobs WHERE kind = ");
                qb.push_bind($crate::JobKind::Run.as_str());
                qb.push(" AND lease_owner = ").push_bind(owner.to_string()).push(" AND seq IN (");
                let mut seqs = qb.separated(", ");
                for run in runs {
                    seqs.push_bind(run.job);
                }
                qb.push(") RETURNING seq, subject_id");
                let held: std::collections::HashSet<(i64, String)> = qb
                    .build_query_as::<(i64, String)>()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
                let done: Vec<bool> = runs
                    .iter()
                    .map(|r| held.contains(&(r.job, r.run_id.clone())))
                    .collect();
                let ended: Vec<&$crate::FinishRun> =
                    runs.iter().zip(&done).filter(|(_, d)| **d).map(|(r, _)| r).collect();
                let steps: Vec<$crate::StepRow> = ended.iter().flat_map(|r| r.steps.iter().cloned()).collect();
                $crate::flows::upsert_steps!(tx, steps, $db);
                for chunk in ended.chunks(100) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "WITH ended (id, status, failed_step, error_class, error_message, finished_at) AS (",
                    );
                    qb.push_values(chunk, |mut b, r: &&$crate::FinishRun| {
                        b.push_bind(r.run_id.clone())
                            .push_bind(r.end.status.as_str())
                            .push_bind(r.end.failed_step.clone())
                            .push_bind(r.end.error_class.clone())
                            .push_bind(r.end.error_message.clone())
                            .push_bind(r.end.finished_at);
                    });
                    qb.push(
                        ") UPDATE runs SET status = ended.status, failed_step = ended.failed_step, \
                         error_class = ended.error_class, error_message = ended.error_message, \
                         finished_at = ended.finished_at, updated_at = ended.finished_at \
                         FROM ended WHERE runs.id = ended.id",
                    );
                    qb.build().persistent(false).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                self.after_jobs_ended(ended.len() as u64);
                Ok(done)
            }

            async fn retry_run(&self, run_id: &str, now: i64) -> $crate::StoreResult<Option<$crate::RunRow>> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                // The status check and the change are one statement, so two retries at once make
                // one new job.
                let sql = format!(
                    "UPDATE runs SET status = 'pending', failed_step = NULL, error_class = NULL, error_message = NULL, \
                     finished_at = NULL, updated_at = $2 WHERE id = $1 AND status IN ('failed', 'dead') RETURNING {}",
                    $crate::flows::RUN_COLUMNS
                );
                let run: Option<$crate::RunRow> =
                    sqlx::query_as(&sql).bind(run_id).bind(now).fetch_optional(&mut *tx).await?;
                let Some(run) = run else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                sqlx::query(
                    "UPDATE run_steps SET status = 'pending', attempts = 0, error_class = NULL, error_message = NULL, \
                     started_at = NULL, finished_at = NULL WHERE run_id = $1 AND status <> 'succeeded'",
                )
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                // A final run has no job; the check only guards that invariant.
                sqlx::query(
                    "INSERT INTO jobs (kind, subject_id, lane, due_at) SELECT $1, $2, $3, $4 \
                     WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND subject_id = $2)",
                )
                .bind($crate::JobKind::Run.as_str())
                .bind(run_id)
                .bind(&run.flow_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                // Wakes the runners of every node, as a delivery replay wakes dispatchers.
                self.after_replay(1).await?;
                Ok(Some(run))
            }

            async fn get_run(&self, id: &str) -> $crate::StoreResult<Option<$crate::RunRow>> {
                let sql = format!("SELECT {} FROM runs WHERE id = $1", $crate::flows::RUN_COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.read).await?)
            }

            async fn list_runs(&self, f: &$crate::RunFilter) -> $crate::StoreResult<$crate::Page<$crate::RunRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::flows::RUN_COLUMNS).push(" FROM runs WHERE 1 = 1");
                if let Some(name) = &f.flow_name {
                    qb.push(" AND flow_name = ").push_bind(name.clone());
                }
                if let Some(s) = f.status {
                    qb.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(e) = &f.event_id {
                    qb.push(" AND event_id = ").push_bind(e.clone());
                }
                if let Some(seq) = f.before_seq {
                    qb.push(" AND seq < ").push_bind(seq);
                }
                if let Some(t) = f.ended_since {
                    qb.push(" AND finished_at >= ").push_bind(t);
                    qb.push(" ORDER BY finished_at, seq LIMIT ").push_bind(f.limit + 1);
                } else {
                    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(f.limit + 1);
                }
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, f.limit))
            }

            async fn run_steps(&self, run_id: &str) -> $crate::StoreResult<Vec<$crate::StepRow>> {
                let sql = format!(
                    "SELECT {} FROM run_steps WHERE run_id = $1 \
                     ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at, path",
                    $crate::flows::STEP_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(run_id).fetch_all(&self.read).await?)
            }

            async fn next_run_due(&self) -> $crate::StoreResult<Option<i64>> {
                // A leased job is due again when its lease ends (it is taken over then).
                Ok(sqlx::query_scalar("SELECT MIN(COALESCE(lease_until, due_at)) FROM jobs WHERE kind = $1")
                    .bind($crate::JobKind::Run.as_str())
                    .fetch_one(&self.read)
                    .await?)
            }
        }
    };
}
pub(crate) use impl_flow_store;
