//! Statement builders the flow queries and the intake batch share (macros, so each backend
//! gets its own typed `QueryBuilder`).

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
            qb.push($crate::flows::STEP_UPSERT);
            qb.build().persistent(false).execute(&mut *$conn).await?;
        }
    };
}
pub(crate) use upsert_steps;

/// The end of a lease-fenced step write: the step records, the run's status, the commit. Called
/// once the caller's transaction proved the lease is still held.
macro_rules! commit_steps_and_status {
    ($tx:expr, $steps:expr, $run_id:expr, $status:expr, $db:ty) => {
        $crate::flows::upsert_steps!($tx, $steps, $db);
        sqlx::query("UPDATE runs SET status = $2, updated_at = $3 WHERE id = $1")
            .bind($run_id)
            .bind($status.as_str())
            .bind(switchyard_core::time::now_micros())
            .execute(&mut *$tx)
            .await?;
        $tx.commit().await?;
    };
}
pub(crate) use commit_steps_and_status;

/// Inserts run rows, `pending` and started at their creation (used inside the intake batch).
macro_rules! push_run_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push(
            "INSERT INTO runs (id, flow_id, flow_name, flow_version, event_id, status, started_at, updated_at, \
             control_key, control_limit, sequence) ",
        );
        $qb.push_values($chunk, |mut b, r: &&$crate::NewRun| {
            b.push_bind(r.id.clone())
                .push_bind(r.flow_id.clone())
                .push_bind(r.flow_name.clone())
                .push_bind(r.flow_version)
                .push_bind(r.event_id.clone())
                .push("'pending'")
                .push_bind(r.created_at)
                .push_bind(r.created_at)
                .push_bind(r.control.as_ref().map(|c| c.key.clone()))
                .push_bind(r.control.as_ref().map(|c| c.limit))
                .push_bind(r.control.as_ref().and_then(|c| c.sequence));
        });
    };
}
pub(crate) use push_run_rows;

/// Inserts the queue's job rows for new runs, due at once (a debounced run after its quiet
/// period), with their flow-control key (a statement of its own, after
/// [`push_run_rows`], in the same transaction).
macro_rules! push_run_job_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push("INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key, key_limit, position) ");
        $qb.push_values($chunk, |mut b, r: &&$crate::NewRun| {
            b.push_bind($crate::JobKind::Run.as_str())
                .push_bind(r.id.clone())
                .push_bind(r.flow_id.clone())
                .push_bind(r.control.as_ref().map_or(r.created_at, |c| c.due_at))
                .push_bind(r.control.as_ref().map(|c| c.key.clone()))
                .push_bind(r.control.as_ref().map(|c| c.limit))
                .push_bind(r.control.as_ref().and_then(|c| c.sequence));
        });
    };
}
pub(crate) use push_run_job_rows;

/// Which of `runs` ended, from the `(seq, subject_id)` of the held jobs a backend's run ends
/// deleted (`backend_finish_runs`).
pub(crate) fn ended_runs(runs: &[crate::FinishRun], deleted: Vec<(i64, String)>) -> Vec<bool> {
    let held: std::collections::HashSet<(i64, String)> = deleted.into_iter().collect();
    runs.iter().map(|r| held.contains(&(r.job, r.run_id.clone()))).collect()
}
