//! Ending a batch of runs on the SQLite writer: the step records, the runs' ends and the jobs'
//! deletion, fenced by the lease, in one transaction.
//!
//! The values are bound, not encoded: each command has a fixed shape (so it is prepared once and
//! kept) with room for a fixed number of step records and run ends, and the rows a batch does not
//! fill are bound as NULL, which matches no job and so writes nothing. Passed as JSON arrays
//! instead, SQLite turned every row back into text and parsed it again for each column: a sixth
//! of the writer's time in a flow burst (docs/BENCHMARKS.md).
//!
//! Invariant: a run's step records go in the same command as its end or an earlier one, so the
//! lease check of each record still finds the job its end deletes.

use std::sync::LazyLock;

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Executor};

use super::{SqliteStore, close_failed_transaction};
use crate::flows::STEP_UPSERT;
use crate::{FinishRun, JobKind, StepRow, StoreError, StoreResult};

/// Columns of a step record as bound: the job, then `run_steps`' columns.
const STEP_COLUMNS: usize = 11;
/// Columns of a run end as bound: the job, the run, then the end's columns.
const END_COLUMNS: usize = 7;

/// Room in one command: step records and run ends.
#[derive(Debug, Clone, Copy)]
struct Shape {
    steps: usize,
    ends: usize,
}

/// A quiet node's endings (a few runs) and a busy node's. A batch is cut into commands of the
/// large shape; a part that fits the small shape uses it, so a lone run end does not bind a
/// thousand NULLs.
const SMALL: Shape = Shape { steps: 12, ends: 4 };
const LARGE: Shape = Shape { steps: 96, ends: 32 };

/// The command texts: per shape, a whole transaction and a part of one.
struct Texts {
    small_whole: String,
    small_part: String,
    large_whole: String,
    large_part: String,
}

static TEXTS: LazyLock<Texts> = LazyLock::new(|| Texts {
    small_whole: command(SMALL, true),
    small_part: command(SMALL, false),
    large_whole: command(LARGE, true),
    large_part: command(LARGE, false),
});

/// Parameters are anonymous (`?`), bound in the order they appear: SQLite finds a named
/// parameter's name by walking the list of names, so with a thousand of them binding took longer
/// than running the statement. Each statement takes the job kind and the owner after its rows;
/// the delete takes them before the ends' jobs.
fn command(shape: Shape, whole: bool) -> String {
    let rows = |count: usize, columns: usize| {
        let row = format!("({})", vec!["?"; columns].join(", "));
        vec![row; count].join(", ")
    };
    format!(
        "{begin}INSERT INTO run_steps (run_id, path, step_id, status, attempts, output, error_class, error_message, \
           started_at, finished_at) \
         SELECT v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9, \
           v.column10, v.column11 FROM (VALUES {steps}) v \
         WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = v.column1 AND jobs.subject_id = v.column2 \
           AND jobs.kind = ? AND jobs.lease_owner = ?){STEP_UPSERT}; \
         UPDATE runs SET status = e.column3, failed_step = e.column4, error_class = e.column5, \
           error_message = e.column6, finished_at = e.column7, updated_at = e.column7 \
         FROM (VALUES {ends}) e \
         WHERE runs.id = e.column2 AND EXISTS (SELECT 1 FROM jobs WHERE jobs.seq = e.column1 \
           AND jobs.subject_id = runs.id AND jobs.kind = ? AND jobs.lease_owner = ?); \
         DELETE FROM jobs WHERE kind = ? AND lease_owner = ? AND seq IN ({jobs}) RETURNING seq, subject_id{commit}",
        begin = if whole { "BEGIN IMMEDIATE; " } else { "" },
        steps = rows(shape.steps, STEP_COLUMNS),
        ends = rows(shape.ends, END_COLUMNS),
        jobs = vec!["?"; shape.ends].join(", "),
        commit = if whole { "; COMMIT" } else { "" },
    )
}

/// One command's share of a batch.
#[derive(Default)]
struct Part<'a> {
    steps: Vec<(i64, &'a StepRow)>,
    ends: Vec<&'a FinishRun>,
}

/// Cuts `runs` into parts of at most [`LARGE`], each run's records before or with its end.
fn parts(runs: &[FinishRun]) -> Vec<Part<'_>> {
    let mut parts = vec![Part::default()];
    for run in runs {
        for step in &run.steps {
            if parts.last().is_some_and(|p| p.steps.len() == LARGE.steps) {
                parts.push(Part::default());
            }
            if let Some(part) = parts.last_mut() {
                part.steps.push((run.job, step));
            }
        }
        if parts.last().is_some_and(|p| p.ends.len() == LARGE.ends) {
            parts.push(Part::default());
        }
        if let Some(part) = parts.last_mut() {
            part.ends.push(run);
        }
    }
    parts
}

/// Binds a part's values in [`command`]'s order, padded with NULL rows to `shape`.
fn arguments<'a>(owner: &'a str, part: &Part<'a>, shape: Shape) -> StoreResult<SqliteArguments<'a>> {
    let mut args = SqliteArguments::default();
    let kind = JobKind::Run.as_str();
    let failed = |e: sqlx::error::BoxDynError| StoreError::Unavailable(format!("binding run ends: {e}"));
    for row in 0..shape.steps {
        match part.steps.get(row) {
            Some(&(job, s)) => {
                args.add(job).map_err(failed)?;
                args.add(s.run_id.as_str()).map_err(failed)?;
                args.add(s.path.as_str()).map_err(failed)?;
                args.add(s.step_id.as_str()).map_err(failed)?;
                args.add(s.status.as_str()).map_err(failed)?;
                args.add(s.attempts).map_err(failed)?;
                args.add(s.output.as_deref()).map_err(failed)?;
                args.add(s.error_class.as_deref()).map_err(failed)?;
                args.add(s.error_message.as_deref()).map_err(failed)?;
                args.add(s.started_at).map_err(failed)?;
                args.add(s.finished_at).map_err(failed)?;
            }
            None => {
                for _ in 0..STEP_COLUMNS {
                    args.add(None::<i64>).map_err(failed)?;
                }
            }
        }
    }
    args.add(kind).map_err(failed)?;
    args.add(owner).map_err(failed)?;
    for row in 0..shape.ends {
        match part.ends.get(row) {
            Some(r) => {
                args.add(r.job).map_err(failed)?;
                args.add(r.run_id.as_str()).map_err(failed)?;
                args.add(r.end.status.as_str()).map_err(failed)?;
                args.add(r.end.failed_step.as_deref()).map_err(failed)?;
                args.add(r.end.error_class.as_deref()).map_err(failed)?;
                args.add(r.end.error_message.as_deref()).map_err(failed)?;
                args.add(r.end.finished_at).map_err(failed)?;
            }
            None => {
                for _ in 0..END_COLUMNS {
                    args.add(None::<i64>).map_err(failed)?;
                }
            }
        }
    }
    args.add(kind).map_err(failed)?;
    args.add(owner).map_err(failed)?;
    args.add(kind).map_err(failed)?;
    args.add(owner).map_err(failed)?;
    for row in 0..shape.ends {
        args.add(part.ends.get(row).map(|r| r.job)).map_err(failed)?;
    }
    Ok(args)
}

impl SqliteStore {
    /// Ends a batch of runs; tells, per run, whether it ended. A run whose lease was lost is
    /// left to its new holder (nothing of it is written).
    pub(super) async fn backend_finish_runs(&self, owner: &str, runs: &[FinishRun]) -> StoreResult<Vec<bool>> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let parts = parts(runs);
        let whole = parts.len() == 1;
        let mut conn = self.write.acquire().await?;
        if !whole {
            conn.execute("BEGIN IMMEDIATE").await?;
        }
        let mut deleted: Vec<(i64, String)> = Vec::with_capacity(runs.len());
        for part in &parts {
            let small = part.steps.len() <= SMALL.steps && part.ends.len() <= SMALL.ends;
            let (shape, text) = match (small, whole) {
                (true, true) => (SMALL, &TEXTS.small_whole),
                (true, false) => (SMALL, &TEXTS.small_part),
                (false, true) => (LARGE, &TEXTS.large_whole),
                (false, false) => (LARGE, &TEXTS.large_part),
            };
            let result = match arguments(owner, part, shape) {
                Ok(args) => sqlx::query_as_with::<_, (i64, String), _>(text.as_str(), args)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(StoreError::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(rows) => deleted.extend(rows),
                Err(e) => {
                    close_failed_transaction(&mut conn).await;
                    return Err(e);
                }
            }
        }
        if !whole && let Err(e) = conn.execute("COMMIT").await {
            close_failed_transaction(&mut conn).await;
            return Err(e.into());
        }
        Ok(crate::flows::ended_runs(runs, deleted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RunEnd;
    use switchyard_core::flow::{RunStatus, StepStatus};

    fn run(job: i64, steps: usize) -> FinishRun {
        let step = |i: usize| StepRow {
            run_id: format!("run_{job}"),
            path: format!("s{i}"),
            step_id: format!("s{i}"),
            status: StepStatus::Succeeded,
            attempts: 1,
            output: None,
            error_class: None,
            error_message: None,
            started_at: Some(1),
            finished_at: Some(2),
        };
        FinishRun {
            job,
            run_id: format!("run_{job}"),
            end: RunEnd {
                status: RunStatus::Succeeded,
                failed_step: None,
                error_class: None,
                error_message: None,
                finished_at: 2,
            },
            steps: (0..steps).map(step).collect(),
        }
    }

    #[test]
    fn a_runs_records_never_follow_its_end() {
        // Three-step runs, a run with more records than a part holds, and record-less ends.
        let mut runs: Vec<FinishRun> = (0..40).map(|j| run(j, 3)).collect();
        runs.push(run(40, LARGE.steps * 2 + 5));
        runs.extend((41..120).map(|j| run(j, 0)));
        let parts = parts(&runs);
        let mut ended_in = std::collections::HashMap::new();
        for (i, part) in parts.iter().enumerate() {
            assert!(part.steps.len() <= LARGE.steps && part.ends.len() <= LARGE.ends);
            for end in &part.ends {
                ended_in.insert(end.job, i);
            }
        }
        assert_eq!(ended_in.len(), runs.len(), "every run ends once");
        for (i, part) in parts.iter().enumerate() {
            for (job, _) in &part.steps {
                assert!(ended_in[job] >= i, "run {job}'s record is in part {i}, after its end");
            }
        }
        let records: usize = parts.iter().map(|p| p.steps.len()).sum();
        assert_eq!(records, runs.iter().map(|r| r.steps.len()).sum::<usize>());
    }

    #[test]
    fn the_commands_bind_what_the_shapes_hold() {
        let part = Part::default();
        for shape in [SMALL, LARGE] {
            let text = command(shape, true);
            let args = arguments("node_a", &part, shape).unwrap();
            assert_eq!(text.matches('?').count(), args.len(), "one value per parameter");
            assert!(text.starts_with("BEGIN IMMEDIATE; ") && text.ends_with("; COMMIT"));
            assert!(!command(shape, false).contains("BEGIN"));
        }
    }
}
