//! PostgreSQL backend: one pool shared by every node. Intake batches take a transaction-scoped
//! advisory lock before inserting events, so `events.seq` (a sequence, assigned at insert) is also
//! in commit order across nodes — the property cursor pagination relies on. The lock is held for
//! one batch, not one event, so group commit keeps it cheap.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};

use crate::dedup;
use crate::delivery::queries::{push_delivery_job_rows, push_delivery_rows};
use crate::flows::{push_run_job_rows, push_run_rows};
use crate::key_digest::KeyDigest;
use crate::queries::{INSERT_CHUNK, impl_store, push_event_rows, push_receipt_rows};
use crate::{IntakeOutcome, IntakeWrite, StoreError, StoreKind, StoreOptions, StoreResult};

/// Advisory lock id serialising event inserts ("SWYD" + 1).
const EVENT_ORDER_LOCK: i64 = 0x5357_5944_0000_0001;

pub struct PostgresStore {
    pub(crate) read: PgPool,
    pub(crate) write: PgPool,
    queue_tidy: crate::jobs::QueueTidy,
}

impl PostgresStore {
    const KIND: StoreKind = StoreKind::Postgres;

    pub async fn connect(url: &str, opts: &StoreOptions) -> StoreResult<Self> {
        let conn = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("switchyard");
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(conn)
            .await?;
        Ok(PostgresStore {
            read: pool.clone(),
            write: pool,
            queue_tidy: Default::default(),
        })
    }

    /// A dedup digest's event while its window lasts.
    async fn backend_dedup_lookup(&self, digest: &[u8], now: i64) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT event_id FROM dedup_digests WHERE digest = $1 AND expires_at > $2")
                .bind(digest)
                .bind(now)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn backend_migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres").run(&self.write).await?;
        Ok(())
    }

    async fn backend_ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }

    /// The pool's idle connections close on their own; nothing is held for bursts here.
    async fn backend_release_idle(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn backend_purge_dedup_keys(&self, now: i64) -> StoreResult<u64> {
        crate::dedup::sweep_digests!(&self.read, &self.write, now, StoreResult::Ok(()))
    }

    fn check_writable(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn backend_commit_intake(&self, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>> {
        let mut tx = self.write.begin().await?;
        // Dedup first, outside the event-order lock: the primary key decides races on its own
        // (a concurrent batch with the same key waits for this one's row lock, then sees its
        // winner), so the lock that every node's batches queue on is held one round trip less.
        // Candidates come in key order, so two batches always lock shared keys in the same order
        // and cannot deadlock.
        let mut winners = dedup::Winners::new();
        let now = switchyard_core::time::now_micros();
        let keyed = dedup::keyed(batch);
        for chunk in keyed.candidates.chunks(INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new("");
            dedup::push_dedup_upsert(&mut qb, chunk, now);
            let rows: Vec<(Vec<u8>, String)> = qb.build_query_as().persistent(false).fetch_all(&mut *tx).await?;
            winners.extend(
                rows.into_iter()
                    .filter_map(|(digest, event)| Some((KeyDigest::from_slice(&digest)?, event))),
            );
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_ORDER_LOCK)
            .execute(&mut *tx)
            .await?;
        let plan = dedup::plan(batch, &keyed.digests, &winners);
        let parts = row_inserts(&plan);
        let wake = !plan.deliveries.is_empty() || !plan.runs.is_empty();
        // One part per table means every list fits one chunk: the whole batch is one statement.
        if parts.len() <= TABLES {
            insert_in_one_statement(&mut tx, &parts, wake).await?;
        } else {
            for part in &parts {
                let mut qb = QueryBuilder::<Postgres>::new("");
                part.push(&mut qb);
                qb.build().persistent(false).execute(&mut *tx).await?;
            }
            if wake {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(DELIVERY_CHANNEL)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(plan.outcomes)
    }
}

/// The tables a batch writes: events, deliveries and their jobs, runs and their jobs, receipts.
const TABLES: usize = 6;

/// One multi-row `INSERT` of a batch: a chunk of one table's rows.
enum RowInsert<'a, 'p> {
    Events(&'a [&'p crate::NewEvent]),
    Deliveries(&'a [&'p crate::NewDelivery]),
    DeliveryJobs(&'a [&'p crate::NewDelivery]),
    Runs(&'a [&'p crate::NewRun]),
    RunJobs(&'a [&'p crate::NewRun]),
    Receipts(&'a [crate::Receipt]),
}

impl RowInsert<'_, '_> {
    fn push(&self, qb: &mut QueryBuilder<'_, Postgres>) {
        match *self {
            RowInsert::Events(rows) => {
                push_event_rows!(qb, rows);
            }
            RowInsert::Deliveries(rows) => {
                push_delivery_rows!(qb, rows);
            }
            RowInsert::DeliveryJobs(rows) => {
                push_delivery_job_rows!(qb, rows);
            }
            RowInsert::Runs(rows) => {
                push_run_rows!(qb, rows);
            }
            RowInsert::RunJobs(rows) => {
                push_run_job_rows!(qb, rows);
            }
            RowInsert::Receipts(rows) => {
                push_receipt_rows!(qb, rows);
            }
        }
    }
}

/// The batch's inserts in chunks of [`INSERT_CHUNK`] rows, each row's table before the jobs that
/// name it.
fn row_inserts<'a, 'p>(plan: &'a dedup::Plan<'p>) -> Vec<RowInsert<'a, 'p>> {
    let mut parts = Vec::new();
    parts.extend(plan.events.chunks(INSERT_CHUNK).map(RowInsert::Events));
    for chunk in plan.deliveries.chunks(INSERT_CHUNK) {
        parts.extend([RowInsert::Deliveries(chunk), RowInsert::DeliveryJobs(chunk)]);
    }
    for chunk in plan.runs.chunks(INSERT_CHUNK) {
        parts.extend([RowInsert::Runs(chunk), RowInsert::RunJobs(chunk)]);
    }
    parts.extend(plan.receipts.chunks(INSERT_CHUNK).map(RowInsert::Receipts));
    parts
}

/// A batch's rows in one statement — each `INSERT` a data-modifying `WITH` part, the wake-up
/// notification the statement's result — so a group commit costs one round trip for all its
/// rows instead of one per table. PostgreSQL runs every part exactly once, in an order it
/// chooses; that is harmless: the tables have no foreign keys between them, `events.seq` keeps
/// commit order through the advisory lock held until commit, and each table's sequence follows
/// its rows' order.
async fn insert_in_one_statement(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    parts: &[RowInsert<'_, '_>],
    wake: bool,
) -> StoreResult<()> {
    if parts.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Postgres>::new("WITH ");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push(format_args!("w{i} AS ("));
        part.push(&mut qb);
        qb.push(")");
    }
    if wake {
        // Delivered at commit: idle dispatchers and flow runners on every node wake at once.
        qb.push(" SELECT pg_notify(").push_bind(DELIVERY_CHANNEL).push(", '')");
    } else {
        qb.push(" SELECT 1");
    }
    qb.build().persistent(false).execute(&mut **tx).await?;
    Ok(())
}

impl_store!(PostgresStore, Postgres);
crate::retention::impl_retention_store!(PostgresStore, Postgres);
crate::delivery::breakers::impl_breaker_store!(PostgresStore);
crate::destinations::impl_destination_store!(PostgresStore, Postgres);
crate::sealed::impl_sealed_store!(PostgresStore);
crate::jobs::impl_queue_store!(PostgresStore);
crate::audit::impl_audit_store!(PostgresStore, Postgres);
crate::schedules::impl_schedule_store!(PostgresStore);
crate::alerts::queries::impl_alert_store!(
    PostgresStore,
    Postgres,
    " WHERE seq = ANY(ARRAY(",
    " FOR UPDATE SKIP LOCKED))"
);
// Run claims pick their jobs as delivery claims do (see below).
crate::flows::impl_flow_store!(
    PostgresStore,
    Postgres,
    " WHERE seq = ANY(ARRAY(",
    " FOR UPDATE SKIP LOCKED))"
);
crate::delivery::queries::impl_delivery_store!(
    PostgresStore,
    Postgres,
    // The picked rows as an array computed once: the update then looks them up by primary key
    // whatever the planner believes about the queue's size (an `IN (subquery)` planned on stale
    // statistics of an empty queue became a nested loop re-running the pick per row). Rows other
    // nodes hold are skipped, never waited for.
    " WHERE seq = ANY(ARRAY(",
    " FOR UPDATE SKIP LOCKED))",
    async fn subscribe_deliveries(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<crate::Signal>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.write).await?;
        listener.listen(DELIVERY_CHANNEL).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                // `recv` reconnects after a lost connection; a wake-up is sent then too, since
                // notifications may have been missed meanwhile.
                let signal = match listener.recv().await {
                    Ok(n) if n.payload() == ENDPOINTS_CHANGED => crate::Signal::EndpointsChanged,
                    Ok(n) if n.payload() == KEY_REVOKED => crate::Signal::KeyRevoked,
                    Ok(_) => crate::Signal::Deliveries,
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery notifications interrupted; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        crate::Signal::Deliveries
                    }
                };
                // A full channel is fine for a wake-up: pending signals already mean "look
                // again". Other signals carry news a wake-up does not (endpoints changed, a key
                // revoked): they wait for room rather than be dropped.
                let closed = if signal == crate::Signal::Deliveries {
                    matches!(
                        tx.try_send(signal),
                        Err(tokio::sync::mpsc::error::TrySendError::Closed(_))
                    )
                } else {
                    tx.send(signal).await.is_err()
                };
                if closed {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }
);

/// The notification payload for endpoint changes (delivery wake-ups carry an empty one).
const ENDPOINTS_CHANGED: &str = "endpoints";
/// The notification payload for a revoked API key.
const KEY_REVOKED: &str = "key_revoked";

impl PostgresStore {
    /// PostgreSQL claims stay synchronous: one statement, group-committed by the server.
    async fn relax_durability(&self, _conn: &mut sqlx::pool::PoolConnection<Postgres>) -> StoreResult<()> {
        Ok(())
    }

    async fn restore_durability(&self, _conn: &mut sqlx::pool::PoolConnection<Postgres>) -> StoreResult<()> {
        Ok(())
    }

    /// Every node refreshes its endpoint view at once, not at its next periodic refresh.
    async fn after_endpoint_change(&self) -> StoreResult<()> {
        self.notify(ENDPOINTS_CHANGED).await
    }

    /// Every node forgets the API keys it remembered at once, not a second later.
    async fn after_key_revoked(&self) -> StoreResult<()> {
        self.notify(KEY_REVOKED).await
    }

    /// Tells every node's subscription (`subscribe_deliveries`) `payload`, outside any
    /// transaction.
    async fn notify(&self, payload: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(DELIVERY_CHANNEL)
            .bind(payload)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Ended jobs leave dead rows the queue's vacuum clears.
    fn after_jobs_ended(&self, ended: u64) {
        self.queue_tidy.ended(ended, &self.write);
    }

    /// Replayed deliveries wake dispatchers on every node.
    async fn after_replay(&self, replayed: u64) -> StoreResult<()> {
        if replayed > 0 {
            self.notify("").await?;
        }
        Ok(())
    }
}
// Wake-ups across nodes: a commit that creates deliveries or flow runs notifies this channel.
pub const DELIVERY_CHANNEL: &str = "switchyard_deliveries";
