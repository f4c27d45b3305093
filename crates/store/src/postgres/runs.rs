//! The flow runner's writes on PostgreSQL: a claim, its jobs picked as delivery claims pick
//! theirs, and a batch of run ends as one fixed-text statement (every column an array, as intake
//! sends its batches), prepared once per connection: one round trip per batch of ends.

use std::sync::LazyLock;

use sqlx::Postgres;

use super::PostgresStore;
use crate::flows::{ClaimedRunRow, STEP_UPSERT};
use crate::{FinishRun, JobKind, StoreResult};

/// Ends a batch of runs. Binds: the step records' columns (`$1` their run's job, `$2`–`$11`
/// `run_steps`' columns), the ends' (`$12` job, `$13` run, `$14`–`$18` the end), `$19` the job
/// kind, `$20` the owner. A run's records and end are written only while `$20` still holds its
/// job (every part sees the jobs as they were before the statement), then the held jobs go and
/// `RETURNING` names the runs that ended; a run whose lease was lost is left to its new holder.
static FINISH_RUNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH recorded AS (INSERT INTO run_steps (run_id, path, step_id, status, attempts, output, error_class, \
           error_message, started_at, finished_at) \
           SELECT run, path, step_id, status, attempts, output, error_class, error_message, started_at, finished_at \
           FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], \
           $8::text[], $9::text[], $10::int8[], $11::int8[]) AS s(job, run, path, step_id, status, attempts, \
           output, error_class, error_message, started_at, finished_at) \
           WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = s.job AND jobs.subject_id = s.run \
           AND jobs.kind = $19 AND jobs.lease_owner = $20){STEP_UPSERT}), \
         ended AS (UPDATE runs SET status = e.status, failed_step = e.failed_step, error_class = e.error_class, \
           error_message = e.error_message, finished_at = e.finished_at, updated_at = e.finished_at \
           FROM UNNEST($12::int8[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
           $18::int8[]) AS e(job, run, status, failed_step, error_class, error_message, finished_at) \
           WHERE runs.id = e.run AND EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = e.job \
           AND jobs.subject_id = e.run AND jobs.kind = $19 AND jobs.lease_owner = $20)) \
         DELETE FROM jobs WHERE kind = $19 AND lease_owner = $20 AND seq = ANY($12) RETURNING seq, subject_id"
    )
});

impl PostgresStore {
    /// Leases due run jobs and marks their runs running, as one statement (one round trip, in
    /// its own implicit transaction; the same text every time, so prepared once per connection).
    /// The jobs are picked as delivery claims pick theirs: `FOR UPDATE SKIP LOCKED` into an
    /// array, so several nodes never wait on (or take) each other's rows.
    pub(super) async fn backend_claim_runs(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedRunRow>> {
        let mut qb = sqlx::QueryBuilder::<Postgres>::new("WITH picked AS (UPDATE jobs SET lease_until = ");
        qb.push_bind(lease_until)
            .push(", lease_owner = ")
            .push_bind(owner.to_string());
        qb.push(" WHERE seq = ANY(ARRAY(");
        crate::flows::push_run_pick!(qb, now, limit);
        qb.push(" FOR UPDATE SKIP LOCKED)) RETURNING seq AS job, subject_id AS run) UPDATE runs SET status = ");
        qb.push_bind(switchyard_core::flow::RunStatus::Running.as_str());
        qb.push(", updated_at = ").push_bind(now);
        qb.push(" FROM picked WHERE runs.id = picked.run RETURNING picked.job AS job, ");
        qb.push(crate::flows::RUN_COLUMNS);
        Ok(qb.build_query_as::<ClaimedRunRow>().fetch_all(&self.write).await?)
    }

    /// Ends a batch of runs ([`FINISH_RUNS`]); tells, per run, whether it ended.
    pub(super) async fn backend_finish_runs(&self, owner: &str, runs: &[FinishRun]) -> StoreResult<Vec<bool>> {
        let steps: Vec<(i64, &crate::StepRow)> = runs
            .iter()
            .flat_map(|r| r.steps.iter().map(move |s| (r.job, s)))
            .collect();
        let deleted: Vec<(i64, String)> = sqlx::query_as::<Postgres, _>(FINISH_RUNS.as_str())
            .bind(steps.iter().map(|(job, _)| *job).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.run_id.as_str()).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.path.as_str()).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.step_id.as_str()).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.status.as_str()).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.attempts).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.output.as_deref()).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.error_class.as_deref()).collect::<Vec<_>>())
            .bind(
                steps
                    .iter()
                    .map(|(_, s)| s.error_message.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(steps.iter().map(|(_, s)| s.started_at).collect::<Vec<_>>())
            .bind(steps.iter().map(|(_, s)| s.finished_at).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.job).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.end.status.as_str()).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.end.failed_step.as_deref()).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.end.error_class.as_deref()).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.end.error_message.as_deref()).collect::<Vec<_>>())
            .bind(runs.iter().map(|r| r.end.finished_at).collect::<Vec<_>>())
            .bind(JobKind::Run.as_str())
            .bind(owner)
            .fetch_all(&self.write)
            .await?;
        Ok(crate::flows::ended_runs(runs, deleted))
    }
}
