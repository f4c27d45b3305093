//! The flow runner's writes on the SQLite writer: a claim and a batch of run ends, each sent as
//! one command (`BEGIN IMMEDIATE` … `COMMIT`) with fixed text, so each is one trip to SQLite's
//! worker thread and is prepared once. Sent statement by statement, every step waited for the
//! writer task to be scheduled again while it held the one writer connection that intake
//! commits also need; built per batch, half the worker's time went to parsing (docs/BENCHMARKS.md).

use std::sync::LazyLock;

use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteStore, close_failed_transaction};
use crate::flows::{ClaimedRunRow, STEP_UPSERT};
use crate::{FinishRun, JobKind, StoreError, StoreResult};

/// Ends a batch of runs. Binds: `$1` the step records, `$2` the ends (JSON arrays of arrays, in
/// the column order below), `$3` the job kind, `$4` the owner. A run's records and end are
/// written only while `$4` still holds its job; then the held jobs go, and `RETURNING` names
/// the runs that ended. A run whose lease was lost is left to its new holder.
static FINISH_RUNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN IMMEDIATE; \
         INSERT INTO run_steps (run_id, path, step_id, status, attempts, output, error_class, error_message, \
           started_at, finished_at) \
         SELECT s.value->>1, s.value->>2, s.value->>3, s.value->>4, s.value->>5, s.value->>6, s.value->>7, \
           s.value->>8, s.value->>9, s.value->>10 \
         FROM json_each($1) s \
         WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = s.value->>0 AND jobs.subject_id = s.value->>1 \
           AND jobs.kind = $3 AND jobs.lease_owner = $4){STEP_UPSERT}; \
         UPDATE runs SET status = e.value->>2, failed_step = e.value->>3, error_class = e.value->>4, \
           error_message = e.value->>5, finished_at = e.value->>6, updated_at = e.value->>6 \
         FROM json_each($2) e \
         WHERE runs.id = e.value->>1 AND EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = e.value->>0 \
           AND jobs.subject_id = runs.id AND jobs.kind = $3 AND jobs.lease_owner = $4); \
         DELETE FROM jobs WHERE kind = $3 AND lease_owner = $4 \
           AND seq IN (SELECT e.value->>0 FROM json_each($2) e) RETURNING seq, subject_id; \
         COMMIT"
    )
});

/// A step record as [`FINISH_RUNS`] reads it: the job, then `run_steps`' columns.
type StepValues<'a> = (
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<i64>,
);

/// A run's end as [`FINISH_RUNS`] reads it: the job, the run, then the end's columns.
type EndValues<'a> = (
    i64,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    i64,
);

impl SqliteStore {
    /// Leases due run jobs and marks their runs running as one command, one trip to SQLite's
    /// worker thread. The picked jobs are kept in a temporary table for the length of the
    /// command, so the runs' update and its answer find them by key instead of scanning the
    /// queue. A claim need not survive a power cut (the run is claimed again), so it commits
    /// without waiting for the disk, `synchronous = FULL` put back at once.
    pub(super) async fn backend_claim_runs(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedRunRow>> {
        let mut conn = self.write.acquire().await?;
        let mut qb = QueryBuilder::<Sqlite>::new(
            "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE; \
             CREATE TEMP TABLE IF NOT EXISTS claimed_runs (job INTEGER NOT NULL, run TEXT NOT NULL); \
             INSERT INTO temp.claimed_runs (job, run) SELECT seq, subject_id FROM jobs WHERE seq IN (",
        );
        crate::flows::push_run_pick!(qb, now, limit);
        qb.push("); UPDATE jobs SET lease_until = ").push_bind(lease_until);
        qb.push(", lease_owner = ").push_bind(owner.to_string());
        qb.push(" WHERE seq IN (SELECT job FROM temp.claimed_runs); UPDATE runs SET status = ");
        qb.push_bind(switchyard_core::flow::RunStatus::Running.as_str());
        qb.push(", updated_at = ").push_bind(now);
        qb.push(" WHERE id IN (SELECT run FROM temp.claimed_runs) RETURNING ");
        qb.push("(SELECT job FROM temp.claimed_runs c WHERE c.run = runs.id) AS job, ");
        qb.push(crate::flows::RUN_COLUMNS);
        qb.push("; DELETE FROM temp.claimed_runs; COMMIT; PRAGMA synchronous = FULL");
        // The same text every time (only the values change): prepared once and kept.
        let claimed = qb.build_query_as::<ClaimedRunRow>().fetch_all(&mut *conn).await;
        match claimed {
            Ok(claimed) => Ok(claimed),
            Err(e) => {
                // Whatever the command did not reach: the transaction closed (the temporary rows
                // go with it), durability back (or the connection closed, see
                // `restore_durability`).
                close_failed_transaction(&mut conn).await;
                self.restore_durability(&mut conn).await?;
                Err(e.into())
            }
        }
    }

    /// Ends a batch of runs ([`FINISH_RUNS`]); tells, per run, whether it ended.
    pub(super) async fn backend_finish_runs(&self, owner: &str, runs: &[FinishRun]) -> StoreResult<Vec<bool>> {
        let steps: Vec<StepValues> = runs
            .iter()
            .flat_map(|r| {
                r.steps.iter().map(move |s| {
                    (
                        r.job,
                        s.run_id.as_str(),
                        s.path.as_str(),
                        s.step_id.as_str(),
                        s.status.as_str(),
                        s.attempts,
                        s.output.as_deref(),
                        s.error_class.as_deref(),
                        s.error_message.as_deref(),
                        s.started_at,
                        s.finished_at,
                    )
                })
            })
            .collect();
        let ends: Vec<EndValues> = runs
            .iter()
            .map(|r| {
                (
                    r.job,
                    r.run_id.as_str(),
                    r.end.status.as_str(),
                    r.end.failed_step.as_deref(),
                    r.end.error_class.as_deref(),
                    r.end.error_message.as_deref(),
                    r.end.finished_at,
                )
            })
            .collect();
        let (steps, ends) = (to_json(&steps)?, to_json(&ends)?);
        let mut conn = self.write.acquire().await?;
        let deleted = sqlx::query_as::<_, (i64, String)>(FINISH_RUNS.as_str())
            .bind(steps)
            .bind(ends)
            .bind(JobKind::Run.as_str())
            .bind(owner)
            .fetch_all(&mut *conn)
            .await;
        match deleted {
            Ok(deleted) => Ok(crate::flows::ended_runs(runs, deleted)),
            Err(e) => {
                close_failed_transaction(&mut conn).await;
                Err(e.into())
            }
        }
    }
}

fn to_json(values: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(values).map_err(|e| StoreError::Unavailable(format!("encoding run ends: {e}")))
}
