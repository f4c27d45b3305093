//! PostgreSQL backend: one pool shared by every node. Intake batches take a transaction-scoped
//! advisory lock before inserting events, so `events.seq` (a sequence, assigned at insert) is also
//! in commit order across nodes — the property cursor pagination relies on. The lock is held for
//! one batch, not one event, so group commit keeps it cheap.

use std::str::FromStr;

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::queries::impl_store;
use crate::{IntakeOutcome, IntakeWrite, StoreError, StoreKind, StoreOptions, StoreResult};

mod intake;
mod runs;

/// Advisory lock id serialising event inserts ("SWYD" + 1).
const EVENT_ORDER_LOCK: i64 = 0x5357_5944_0000_0001;

/// How long a pooled connection may sit unused before it is pinged on its next use.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

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
            // sqlx pings every connection it hands out: a round trip before each use, which on a
            // busy node was one in five of a group commit's. Only a connection that sat idle a
            // while is pinged (the server may have closed it meanwhile); a busy one proves itself
            // by its last use, and should it break between two uses, that query fails as any
            // query on a broken connection would.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
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
        intake::commit_intake(&self.write, batch).await
    }
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
crate::flows::impl_flow_store!(PostgresStore, Postgres);
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
