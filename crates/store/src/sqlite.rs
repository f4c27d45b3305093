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
use sqlx::{Executor, QueryBuilder, Sqlite};

use crate::delivery::queries::push_delivery_rows;
use crate::queries::{INSERT_CHUNK, impl_store, push_event_rows, push_receipt_rows};
use crate::{IntakeOutcome, IntakeWrite, NewEvent, Receipt, StoreError, StoreKind, StoreOptions, StoreResult};

pub struct SqliteStore {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
    path: PathBuf,
}

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
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(conn.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(conn.read_only(true))
            .await?;
        Ok(SqliteStore { read, write, path })
    }

    /// The database file, for the key file placed beside it and for diagnostics.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    async fn backend_migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite").run(&self.write).await?;
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

    /// The batch — `BEGIN IMMEDIATE`, staging, dedup, inserts, `COMMIT` — goes to SQLite's worker
    /// thread as one multi-statement command. Sent statement
    /// by statement, each step would wait for the async writer task to be scheduled again among
    /// thousands of request tasks; that round trip, not SQLite, was the cost of a commit under load.
    async fn backend_commit_intake(&self, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>> {
        // Held across every statement so the ROLLBACK reaches the connection that ran the batch.
        let mut conn = self.write.acquire().await?;
        let conn: &mut sqlx::SqliteConnection = &mut conn;
        match commit_on(conn, batch).await {
            Ok(outcomes) => Ok(outcomes),
            Err(e) => {
                // The transaction may still be open after a failed statement; close it so the next
                // batch can begin. An error here only means SQLite already rolled back.
                let _ = conn.execute(sqlx::raw_sql("ROLLBACK")).await;
                Err(e)
            }
        }
    }
}

/// A batch without dedup keys: straight multi-row inserts, no staging.
async fn commit_plain(conn: &mut sqlx::SqliteConnection, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>> {
    let plan = crate::dedup::plan(batch, &crate::dedup::Winners::new());
    let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
    for chunk in plan.events.chunks(INSERT_CHUNK) {
        push_event_rows!(qb, chunk);
        qb.push("; ");
    }
    for chunk in plan.deliveries.chunks(INSERT_CHUNK) {
        push_delivery_rows!(qb, chunk);
        qb.push("; ");
    }
    for chunk in plan.receipts.chunks(INSERT_CHUNK) {
        push_receipt_rows!(qb, chunk);
        qb.push("; ");
    }
    qb.push("COMMIT");
    conn.execute(qb.build()).await?;
    Ok(plan.outcomes)
}

/// Staging table for one batch, private to the writer connection (temp tables live in memory,
/// see `temp_store`). Dedup is decided in SQL against it, so the batch stays one command.
const STAGE_TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS intake_batch (\
    ord INTEGER PRIMARY KEY, id TEXT NOT NULL, source_id TEXT, source_name TEXT, event_type TEXT, \
    status TEXT NOT NULL, received_at INTEGER NOT NULL, content_type TEXT, headers TEXT NOT NULL, \
    payload BLOB NOT NULL, request_id TEXT NOT NULL, validation_errors TEXT, dedup_key TEXT, expires_at INTEGER, \
    winner TEXT); ";

const EVENT_COLUMNS: &str = "id, source_id, source_name, event_type, status, received_at, content_type, headers, payload, request_id, validation_errors";

async fn commit_on(conn: &mut sqlx::SqliteConnection, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>> {
    let now = switchyard_core::time::now_micros();
    let staged: Vec<(usize, &NewEvent)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w {
            IntakeWrite::Event(e) => Some((i, e)),
            IntakeWrite::Receipt(_) => None,
        })
        .collect();
    let receipts: Vec<&Receipt> = batch
        .iter()
        .filter_map(|w| match w {
            IntakeWrite::Receipt(r) => Some(r),
            IntakeWrite::Event(_) => None,
        })
        .collect();
    if staged.iter().all(|(_, e)| e.dedup.is_none()) {
        return commit_plain(conn, batch).await;
    }
    let mut qb = QueryBuilder::<Sqlite>::new(STAGE_TABLE);
    qb.push("BEGIN IMMEDIATE; ");
    for chunk in staged.chunks(INSERT_CHUNK) {
        qb.push("INSERT INTO temp.intake_batch (ord, ");
        qb.push(EVENT_COLUMNS).push(", dedup_key, expires_at) ");
        qb.push_values(chunk, |mut b, (ord, e)| {
            b.push_bind(*ord as i64)
                .push_bind(e.id.clone())
                .push_bind(e.source_id.clone())
                .push_bind(e.source_name.clone())
                .push_bind(e.event_type.clone())
                .push_bind(e.status.clone())
                .push_bind(e.received_at)
                .push_bind(e.content_type.clone())
                .push_bind(e.headers.clone())
                .push_bind(e.payload.clone())
                .push_bind(e.request_id.clone())
                .push_bind(e.validation_errors.clone())
                .push_bind(e.dedup.as_ref().map(|d| d.key.clone()))
                .push_bind(e.dedup.as_ref().map(|d| d.expires_at));
        });
        qb.push("; ");
    }
    if !staged.is_empty() {
        // Rows are offered sorted by key (B-tree inserts in key order seek less), then batch
        // order, so within a batch the first delivery of a key still wins; an existing key keeps
        // its event until its window ends. (`WHERE` keeps SQLite's parser from
        // reading ON CONFLICT as a join constraint.)
        qb.push(
            "INSERT INTO dedup_keys (source_id, key, event_id, expires_at) \
             SELECT source_id, dedup_key, id, expires_at FROM temp.intake_batch WHERE dedup_key IS NOT NULL ORDER BY source_id, dedup_key, ord \
             ON CONFLICT (source_id, key) DO UPDATE SET \
             event_id = CASE WHEN dedup_keys.expires_at <= ",
        );
        qb.push_bind(now);
        qb.push(
            " THEN excluded.event_id ELSE dedup_keys.event_id END, expires_at = CASE WHEN dedup_keys.expires_at <= ",
        );
        qb.push_bind(now);
        qb.push(" THEN excluded.expires_at ELSE dedup_keys.expires_at END; ");
        // Each row's winner is looked up once; the statements after read it from the stage.
        qb.push(
            "UPDATE temp.intake_batch SET winner = (SELECT d.event_id FROM dedup_keys d \
             WHERE d.source_id = intake_batch.source_id AND d.key = intake_batch.dedup_key) \
             WHERE dedup_key IS NOT NULL; ",
        );
        // Winners become events; everyone else leaves a duplicate receipt on the winner's timeline.
        qb.push("INSERT INTO events (")
            .push(EVENT_COLUMNS)
            .push(") SELECT ")
            .push(EVENT_COLUMNS);
        qb.push(
            " FROM temp.intake_batch b WHERE b.winner IS NULL OR b.winner = b.id ORDER BY b.ord; \
             INSERT INTO receipts (id, at, source_name, source_id, request_id, status_code, outcome, reason, event_id) \
             SELECT 'rcp_' || substr(b.id, 5), b.received_at, COALESCE(b.source_name, ''), b.source_id, b.request_id, 200, \
             'duplicate', 'duplicate of ' || b.winner || ' (dedup key ' || b.dedup_key || ')', b.winner \
             FROM temp.intake_batch b WHERE b.winner <> b.id ORDER BY b.ord; ",
        );
    }
    // Deliveries go in only with an event that was stored (not with a duplicate).
    let deliveries: Vec<&crate::NewDelivery> = staged.iter().flat_map(|(_, e)| e.deliveries.iter()).collect();
    for chunk in deliveries.chunks(INSERT_CHUNK) {
        qb.push(
            "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, ordering_key) \
             SELECT column1, column2, column3, 'pending', 0, column4, column5, column5, column6 FROM (",
        );
        qb.push_values(chunk, |mut b, d| {
            b.push_bind(d.id.clone())
                .push_bind(d.event_id.clone())
                .push_bind(d.endpoint_id.clone())
                .push_bind(d.next_attempt_at)
                .push_bind(d.created_at)
                .push_bind(d.ordering_key.clone());
        });
        qb.push(") v WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = v.column2); ");
    }
    for chunk in receipts.chunks(INSERT_CHUNK) {
        push_receipt_rows!(qb, chunk);
        qb.push("; ");
    }
    if !staged.is_empty() {
        qb.push(
            "SELECT ord, winner FROM temp.intake_batch WHERE winner <> id; \
             DELETE FROM temp.intake_batch; ",
        );
    }
    qb.push("COMMIT");
    let duplicates: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut outcomes: Vec<IntakeOutcome> = batch
        .iter()
        .map(|w| match w {
            IntakeWrite::Event(_) => IntakeOutcome::Stored,
            IntakeWrite::Receipt(_) => IntakeOutcome::Recorded,
        })
        .collect();
    for (ord, first_event_id) in duplicates {
        if let Some(o) = outcomes.get_mut(ord as usize) {
            *o = IntakeOutcome::Duplicate { first_event_id };
        }
    }
    Ok(outcomes)
}

impl_store!(SqliteStore, Sqlite);
crate::delivery::queries::impl_delivery_store!(SqliteStore, Sqlite, "");
crate::delivery::breakers::impl_breaker_store!(SqliteStore);

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

    /// One process owns a SQLite database; its dispatcher is woken directly.
    async fn after_replay(&self, _replayed: u64) -> StoreResult<()> {
        Ok(())
    }

    async fn after_endpoint_change(&self) -> StoreResult<()> {
        Ok(())
    }
}
