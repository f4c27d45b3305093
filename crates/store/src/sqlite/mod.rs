//! SQLite backend: WAL with `synchronous=FULL`, one writer connection for every write (so writes
//! never fight over the lock and `events.seq` follows commit order) and a pool of readers.
//!
//! Storage failure is detected as the database reports it, and also by the file's permission bits:
//! a database file with no write bits is treated as read-only even when the process runs as root
//! (which the kernel would otherwise let write), so an operator can fence writes with `chmod`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Sqlite};

use crate::queries::impl_store;
use crate::{IntakeOutcome, IntakeWrite, StoreError, StoreKind, StoreOptions, StoreResult};
use key_filter::KeyFilter;
use recent_keys::RecentKeys;

mod intake;
mod key_filter;
mod recent_keys;
mod run_ends;
mod runs;

/// Pages the WAL may hold before the writer checkpoints it (SQLite's default is 1,000). Random
/// dedup keys dirty a page each, so at the default the writer checkpointed many times a second,
/// copying the same leaves again and again; ten times the interval copies a leaf rewritten by many
/// batches once. Interleaved pairs: +22 % default-config intake, dedup-off unchanged
/// (docs/BENCHMARKS.md, 2026-12-01).
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";
/// After a checkpoint resets the log, the WAL file is cut back to this size (64 MiB), so a burst
/// does not leave a large file behind.
const WAL_SIZE_LIMIT: &str = "67108864";

pub struct SqliteStore {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
    path: PathBuf,
    /// Dedup keys won since the last merge; used only while the writer connection is held.
    recent: std::sync::Mutex<RecentKeys>,
    /// `dedup_recent_digests` may hold rows the map does not (no start-up merge yet, or a failed one, or
    /// a batch whose outcome is unknown): merged before the next batch decides any key.
    unsettled: std::sync::atomic::AtomicBool,
    /// Rules out most new keys without reading `dedup_digests` (see `key_filter`).
    filter: std::sync::Mutex<KeyFilter>,
    /// Keys read from `dedup_digests` by intake, for tests that show the filter spares the reads.
    tree_reads: std::sync::atomic::AtomicU64,
}

/// How long an unused reader connection is kept.
const READER_IDLE: Duration = Duration::from_secs(15);

impl SqliteStore {
    const KIND: StoreKind = StoreKind::Sqlite;

    pub async fn connect(url: &str, opts: &StoreOptions) -> StoreResult<Self> {
        let conn = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let path = conn.get_filename().to_path_buf();
        // The writer connects first so the file (and WAL mode) exist before readers open it.
        // sqlx pings a connection before handing it out: a trip to its worker thread, and a wait
        // for this task to be scheduled again, before every write. A local file's connection does
        // not go stale, so neither pool pings on acquire (sqlx still tests one on its release).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(
                conn.clone()
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT),
            )
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(opts.acquire_timeout)
            // Readers a burst opened are closed again once idle, and their page caches freed, so
            // memory returns near its idle level after load (docs/BENCHMARKS.md, memory).
            .min_connections(0)
            .idle_timeout(Some(READER_IDLE))
            .connect_with(conn.read_only(true))
            .await?;
        Ok(SqliteStore {
            read,
            write,
            path,
            recent: std::sync::Mutex::default(),
            // Until the start-up merge has run (`migrate`), the first batch merges.
            unsettled: std::sync::atomic::AtomicBool::new(true),
            filter: std::sync::Mutex::default(),
            tree_reads: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The database file, for the key file placed beside it and for diagnostics.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// A dedup digest's event while its window lasts: merged keys, or recent ones not merged yet.
    async fn backend_dedup_lookup(&self, digest: &[u8], now: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT event_id FROM dedup_digests WHERE digest = $1 AND expires_at > $2 \
             UNION ALL SELECT event_id FROM dedup_recent_digests WHERE digest = $1 AND expires_at > $2 LIMIT 1",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn backend_migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.write).await?;
        recent_keys::convert_legacy(&mut *self.write.acquire().await?).await?;
        // Keys a previous process won but did not merge are merged before any intake. On a file
        // that cannot be written now (fenced with `chmod`) start-up goes on, and the first batch
        // merges them before it decides any key.
        if let Err(e) = self.settle_dedup_keys().await {
            tracing::warn!(error = %e, "recent dedup keys not merged at start-up; the first intake batch will");
            self.unsettled.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        // Every key is in `dedup_digests` now (or will be merged, and recorded, by the first batch).
        self.rebuild_key_filter().await
    }

    /// Builds the key filter anew from a scan of `dedup_digests` on a reader, while the writer goes
    /// on: keys merged meanwhile are recorded by the filter and added to what the scan read. Run
    /// at start-up and after a sweep that removed many keys (whose bits would linger).
    async fn rebuild_key_filter(&self) -> StoreResult<()> {
        use futures::TryStreamExt;
        if !self.lock_filter().begin_rebuild() {
            return Ok(());
        }
        let scan = async {
            let mut rows = sqlx::query_scalar::<_, Vec<u8>>("SELECT digest FROM dedup_digests").fetch(&self.read);
            let mut digests = Vec::new();
            while let Some(digest) = rows.try_next().await? {
                digests.extend(crate::key_digest::KeyDigest::from_slice(&digest));
            }
            StoreResult::Ok(digests)
        };
        match scan.await {
            Ok(digests) => {
                self.lock_filter().finish_rebuild(digests);
                Ok(())
            }
            Err(e) => {
                self.lock_filter().abandon_rebuild();
                Err(e)
            }
        }
    }

    fn lock_filter(&self) -> std::sync::MutexGuard<'_, KeyFilter> {
        self.filter.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The dedup sweep (recent keys merged first), then, when it removed a good part of the keys,
    /// a rebuild of the key filter, which drops their bits (and builds a filter that a failed
    /// start-up build left missing).
    async fn backend_purge_dedup_keys(&self, now: i64) -> StoreResult<u64> {
        self.settle_dedup_keys().await?;
        let removed = crate::dedup::sweep_digests!(&self.read, &self.write, now, self.check_writable())?;
        if self.lock_filter().worth_rebuilding_after(removed) {
            self.rebuild_key_filter().await?;
        }
        Ok(removed)
    }

    /// How many dedup keys intake has read from `dedup_digests` (the rest the filter ruled out).
    pub fn dedup_tree_reads(&self) -> u64 {
        self.tree_reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves the recent dedup keys into `dedup_digests` (see `recent_keys`), holding the writer.
    async fn settle_dedup_keys(&self) -> StoreResult<()> {
        self.check_writable()?;
        let mut conn = self.write.acquire().await?;
        self.merge_recent(&mut conn).await
    }

    /// Merges the recent dedup keys (their map is freed) and lets SQLite free the writer's page
    /// cache; the next batch reads what it needs back from the OS page cache.
    async fn backend_release_idle(&self) -> StoreResult<()> {
        self.check_writable()?;
        let mut conn = self.write.acquire().await?;
        self.merge_recent(&mut conn).await?;
        conn.execute("PRAGMA shrink_memory").await?;
        Ok(())
    }

    /// Moves `dedup_recent_digests` into `dedup_digests`. The keys are added to the filter first (an extra
    /// one only costs a read), from the map, or from the table when the map may lack some.
    async fn merge_recent(&self, conn: &mut sqlx::SqliteConnection) -> StoreResult<()> {
        if self.unsettled.load(std::sync::atomic::Ordering::SeqCst) {
            let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT digest FROM dedup_recent_digests")
                .fetch_all(&mut *conn)
                .await?;
            let mut filter = self.lock_filter();
            for digest in rows.iter().filter_map(|d| crate::key_digest::KeyDigest::from_slice(d)) {
                filter.add(digest);
            }
        } else {
            let recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut filter = self.lock_filter();
            for digest in recent.digests() {
                filter.add(*digest);
            }
        }
        recent_keys::merge(conn).await?;
        self.unsettled.store(false, std::sync::atomic::Ordering::SeqCst);
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        Ok(())
    }

    async fn backend_ping(&self) -> StoreResult<()> {
        // The writer is the connection intake depends on; probe it, not a reader.
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }

    fn check_writable(&self) -> StoreResult<()> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.permissions().readonly() => {
                Err(StoreError::Unavailable("the SQLite database file is read-only".into()))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(format!(
                "the SQLite database file cannot be read: {e}"
            ))),
        }
    }

    /// The batch goes to SQLite's worker thread as a lookup and one command (see `intake`); the
    /// recent dedup keys are merged first once there are enough of them, or when the start-up
    /// merge could not run.
    async fn backend_commit_intake(&self, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>> {
        // Held across every statement so the ROLLBACK reaches the connection that ran the batch.
        let mut conn = self.write.acquire().await?;
        let conn: &mut sqlx::SqliteConnection = &mut conn;
        let full = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
            >= recent_keys::MERGE_AT;
        if full || self.unsettled.load(std::sync::atomic::Ordering::SeqCst) {
            self.merge_recent(conn).await?;
        }
        let keys = intake::Keys {
            recent: &self.recent,
            filter: &self.filter,
            tree_reads: &self.tree_reads,
        };
        match intake::commit_on(conn, keys, batch).await {
            Ok(outcomes) => Ok(outcomes),
            Err(e) => {
                close_failed_transaction(conn).await;
                // Should the commit have happened after all (an error reported past COMMIT), its
                // keys are in `dedup_recent_digests` but not in the map: the next batch merges first.
                self.unsettled.store(true, std::sync::atomic::Ordering::SeqCst);
                Err(e)
            }
        }
    }
}

/// Closes the transaction a failed multi-statement command may have left open, so the next
/// write on the connection can begin. An error here only means SQLite already rolled back.
async fn close_failed_transaction(conn: &mut sqlx::SqliteConnection) {
    let _ = conn.execute(sqlx::raw_sql("ROLLBACK")).await;
}

impl_store!(SqliteStore, Sqlite);
crate::retention::impl_retention_store!(SqliteStore, Sqlite);
crate::delivery::queries::impl_delivery_store!(SqliteStore, Sqlite, " WHERE seq IN (", ")");
crate::delivery::breakers::impl_breaker_store!(SqliteStore);
crate::destinations::impl_destination_store!(SqliteStore, Sqlite);
crate::sealed::impl_sealed_store!(SqliteStore);
crate::jobs::impl_queue_store!(SqliteStore);
crate::audit::impl_audit_store!(SqliteStore, Sqlite);
crate::schedules::impl_schedule_store!(SqliteStore);
crate::alerts::queries::impl_alert_store!(SqliteStore, Sqlite, " WHERE seq IN (", ")");
crate::flows::impl_flow_store!(SqliteStore, Sqlite);

impl SqliteStore {
    /// Claims commit with `synchronous = NORMAL` on the writer connection: no fsync for them.
    /// `synchronous = FULL` is put back right after; should that fail, the connection is closed
    /// rather than returned to the pool in the relaxed mode.
    async fn relax_durability(&self, conn: &mut sqlx::pool::PoolConnection<Sqlite>) -> StoreResult<()> {
        conn.execute("PRAGMA synchronous = NORMAL").await?;
        Ok(())
    }

    async fn restore_durability(&self, conn: &mut sqlx::pool::PoolConnection<Sqlite>) -> StoreResult<()> {
        if let Err(e) = conn.execute("PRAGMA synchronous = FULL").await {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(())
    }

    /// SQLite reuses a deleted row's space at once: nothing to tidy.
    fn after_jobs_ended(&self, _ended: u64) {}

    /// One process owns a SQLite database; its dispatcher is woken directly.
    async fn after_replay(&self, _replayed: u64) -> StoreResult<()> {
        Ok(())
    }

    async fn after_endpoint_change(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The serving process revokes through its own `ApiKeys`; a CLI revocation on the file is
    /// honoured when the remembered key is next read (within a second).
    async fn after_key_revoked(&self) -> StoreResult<()> {
        Ok(())
    }
}
