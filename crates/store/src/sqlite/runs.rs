//! The flow runner's claim on the SQLite writer (run ends: `run_ends`), sent as one command
//! (`BEGIN IMMEDIATE` … `COMMIT`) with fixed text, so it is one trip to SQLite's worker thread
//! and is prepared once. Sent statement by statement, every step waited for the
//! writer task to be scheduled again while it held the one writer connection that intake
//! commits also need; built per batch, half the worker's time went to parsing (docs/BENCHMARKS.md).

use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteStore, close_failed_transaction};
use crate::StoreResult;
use crate::flows::ClaimedRunRow;

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
}
