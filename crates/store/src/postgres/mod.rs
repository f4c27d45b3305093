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
    /// Names this store in the wake-ups its intake commits send ([`wake_up`]): its own
    /// subscription passes over them, since the process already woke its lanes itself.
    node: String,
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
            node: switchyard_core::ids::new_id(switchyard_core::ids::IdKind::Request),
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
        intake::commit_intake(&self.write, &self.node, batch).await
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
        let node = self.node.clone();
        tokio::spawn(async move {
            loop {
                // `recv` reconnects after a lost connection; a wake-up is sent then too, since
                // notifications may have been missed meanwhile.
                let signals = match listener.recv().await {
                    Ok(n) if n.payload() == ENDPOINTS_CHANGED => vec![crate::Signal::EndpointsChanged],
                    Ok(n) if n.payload() == KEY_REVOKED => vec![crate::Signal::KeyRevoked],
                    Ok(n) => woken_by(n.payload(), &node),
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery notifications interrupted; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        vec![crate::Signal::Deliveries, crate::Signal::Runs]
                    }
                };
                // Every signal waits for room rather than be dropped: a queued wake-up of one
                // kind says nothing to the other kind's lane, and news (endpoints changed, a key
                // revoked) must arrive. The relay only wakes lanes, so it keeps up.
                for signal in signals {
                    if tx.send(signal).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
);

/// The notification payload for endpoint changes (intake's wake-ups carry [`wake_up`]'s, a
/// replay's an empty one).
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

/// The payload of an intake commit's wake-up, when it created deliveries or runs: which of
/// them (`d`, `r` or `dr`), a colon, and the committing store's `node`. Other nodes learn what
/// to claim; the committing one passes over its own (its lanes were woken in process), which on
/// a busy node spared a claim, a due-time query and a rollback per intake batch of its idle flow
/// lane, and a rediscovery of its dispatcher.
pub(super) fn wake_up(node: &str, deliveries: bool, runs: bool) -> Option<String> {
    let kinds = match (deliveries, runs) {
        (false, false) => return None,
        (true, false) => "d",
        (false, true) => "r",
        (true, true) => "dr",
    };
    Some(format!("{kinds}:{node}"))
}

/// What a wake-up tells this node (`node`). Any other payload (a replay's empty one, or one
/// from another version) wakes both kinds.
fn woken_by(payload: &str, node: &str) -> Vec<crate::Signal> {
    match payload.split_once(':') {
        Some((_, from)) if from == node => Vec::new(),
        Some((kinds, _)) if !kinds.is_empty() && kinds.chars().all(|c| c == 'd' || c == 'r') => {
            let mut signals = Vec::with_capacity(2);
            if kinds.contains('d') {
                signals.push(crate::Signal::Deliveries);
            }
            if kinds.contains('r') {
                signals.push(crate::Signal::Runs);
            }
            signals
        }
        _ => vec![crate::Signal::Deliveries, crate::Signal::Runs],
    }
}

#[cfg(test)]
mod tests {
    use super::{wake_up, woken_by};
    use crate::Signal;

    #[test]
    fn a_wake_up_names_its_kinds_and_its_node_passes_over_it() {
        assert_eq!(wake_up("node_a", false, false), None);
        let both = wake_up("node_a", true, true).unwrap();
        assert_eq!(woken_by(&both, "node_b"), vec![Signal::Deliveries, Signal::Runs]);
        assert!(woken_by(&both, "node_a").is_empty(), "its own commit");
        let runs = wake_up("node_a", false, true).unwrap();
        assert_eq!(woken_by(&runs, "node_b"), vec![Signal::Runs]);
        let deliveries = wake_up("node_a", true, false).unwrap();
        assert_eq!(woken_by(&deliveries, "node_b"), vec![Signal::Deliveries]);
        // A replay's empty payload, or an unknown one, wakes both.
        assert_eq!(woken_by("", "node_b"), vec![Signal::Deliveries, Signal::Runs]);
        assert_eq!(woken_by("x:y", "node_b"), vec![Signal::Deliveries, Signal::Runs]);
    }
}
