//! The job queue: the `jobs` table holds one row per job that is waiting or running (its lease,
//! its due time, its lane and FIFO key) and nothing else; a job's history lives with its subject
//! (a delivery's row and attempts, a run's row and steps). Invariants: a delivery has a job
//! exactly while it is pending, a flow run while its status is not final, and subject and job
//! change in one transaction.
//!
//! Why a table apart (migrations `0009_jobs.sql` on PostgreSQL, `0010_jobs.sql` on SQLite): a
//! claim's cost must not grow with the jobs that ended before it. See [`QueueTidy`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a job does; its `subject_id` names the row it works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Send a delivery to its endpoint (the lane).
    Delivery,
    /// Advance a flow run (the lane is its flow's id).
    Run,
    /// Send an alert's notification (the lane is the alert's id).
    Notification,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Delivery, JobKind::Run, JobKind::Notification];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Delivery => "delivery",
            JobKind::Run => "run",
            JobKind::Notification => "notification",
        }
    }
}

/// The queue as a whole, per kind: what the metrics show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStat {
    pub kind: JobKind,
    /// Jobs waiting or running.
    pub jobs: i64,
    /// The earliest due time among them (µs); how long the oldest has waited once it is past.
    pub oldest_due_at: Option<i64>,
}

#[async_trait::async_trait]
pub trait QueueStore: Send + Sync {
    /// One row per kind, kinds without jobs included (zero, no due time).
    async fn queue_stats(&self) -> crate::StoreResult<Vec<QueueStat>>;
}

macro_rules! impl_queue_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::QueueStore for $ty {
            async fn queue_stats(&self) -> $crate::StoreResult<Vec<$crate::QueueStat>> {
                let rows: Vec<(String, i64, Option<i64>)> =
                    sqlx::query_as("SELECT kind, COUNT(*), MIN(due_at) FROM jobs GROUP BY kind")
                        .fetch_all(&self.read)
                        .await?;
                Ok($crate::JobKind::ALL
                    .iter()
                    .map(|kind| {
                        let row = rows.iter().find(|(k, _, _)| k == kind.as_str());
                        $crate::QueueStat {
                            kind: *kind,
                            jobs: row.map_or(0, |r| r.1),
                            oldest_due_at: row.and_then(|r| r.2),
                        }
                    })
                    .collect())
            }
        }
    };
}
pub(crate) use impl_queue_store;

/// Ended jobs after which PostgreSQL's queue is vacuumed.
const VACUUM_AFTER: u64 = 10_000;

/// Keeps PostgreSQL's queue table small: every ended job leaves a dead row and dead index
/// entries that claims would otherwise walk until a vacuum, and autovacuum may be off (it is on
/// this project's CI server) or simply slower than a burst. After every [`VACUUM_AFTER`] ended
/// jobs one `VACUUM (ANALYZE) jobs` runs in the background; the table holds only waiting and running jobs,
/// so each vacuum costs about as much as the backlog, not the history.
#[derive(Default)]
pub(crate) struct QueueTidy {
    ended: AtomicU64,
    running: Arc<AtomicBool>,
}

impl QueueTidy {
    pub(crate) fn ended(&self, jobs: u64, pool: &sqlx::PgPool) {
        let total = self.ended.fetch_add(jobs, Ordering::Relaxed) + jobs;
        if total < VACUUM_AFTER || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.ended.store(0, Ordering::Relaxed);
        let (pool, running) = (pool.clone(), self.running.clone());
        tokio::spawn(async move {
            // VACUUM cannot run in a transaction: the simple protocol sends it alone.
            // ANALYZE too: the queue's size swings from empty to a burst's backlog and back.
            if let Err(e) = sqlx::raw_sql("VACUUM (ANALYZE) jobs").execute(&pool).await {
                tracing::warn!(error = %e, "vacuuming the job queue failed; it is retried later");
            }
            running.store(false, Ordering::Release);
        });
    }
}
