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
use crate::queries::{EVENT_COLUMNS, INSERT_CHUNK, bind_event_columns, impl_store, push_event_rows, push_receipt_rows};
use crate::{IntakeOutcome, IntakeWrite, NewEvent, Receipt, StoreError, StoreKind, StoreOptions, StoreResult};

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
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(
                conn.clone()
                    .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT),
            )
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            // Readers a burst opened are closed again once idle, and their page caches freed, so
            // memory returns near its idle level after load (docs/BENCHMARKS.md, memory).
            .min_connections(0)
            .idle_timeout(Some(READER_IDLE))
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
    // Not cached: a batch's SQL is unique to its size, so a cached copy would only hold memory
    // (up to the cache's 100 statements of multi-row inserts) after a burst.
    conn.execute(qb.build().persistent(false)).await?;
    Ok(plan.outcomes)
}

/// Staging table for one batch's dedup keys, private to the writer connection (temp tables live
/// in memory, see `temp_store`). Dedup is decided in SQL against it, so the batch stays one
/// command. Rows are staged in key order (`pos`, sorted in Rust), so the upsert reads them in
/// key order without a sort; `ord` is the write's place in the batch. Only the small columns are
/// staged: payloads go straight from the statement's values into `events`.
const STAGE_TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS intake_keys (\
    pos INTEGER PRIMARY KEY, ord INTEGER NOT NULL, id TEXT NOT NULL, source_id TEXT, source_name TEXT, \
    received_at INTEGER NOT NULL, request_id TEXT NOT NULL, dedup_key TEXT NOT NULL, expires_at INTEGER NOT NULL, \
    winner TEXT); ";

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
    let mut keyed: Vec<(usize, &NewEvent, &crate::DedupKey)> = staged
        .iter()
        .filter_map(|(ord, e)| e.dedup.as_ref().map(|d| (*ord, *e, d)))
        .collect();
    // A stable sort: batch order within a key, so the first delivery of a key wins.
    keyed.sort_by(|a, b| crate::dedup::by_key(a.1, b.1));
    let mut qb = QueryBuilder::<Sqlite>::new(STAGE_TABLE);
    qb.push("BEGIN IMMEDIATE; ");
    for chunk in keyed.chunks(INSERT_CHUNK) {
        qb.push(
            "INSERT INTO temp.intake_keys (ord, id, source_id, source_name, received_at, request_id, dedup_key, expires_at) ",
        );
        qb.push_values(chunk, |mut b, (ord, e, d)| {
            b.push_bind(*ord as i64)
                .push_bind(e.id.clone())
                .push_bind(e.source_id.clone())
                .push_bind(e.source_name.clone())
                .push_bind(e.received_at)
                .push_bind(e.request_id.clone())
                .push_bind(d.key.clone())
                .push_bind(d.expires_at);
        });
        qb.push("; ");
    }
    // Keys are offered in stage order (key order). A new key, or one whose window ended, takes
    // the row; a live key keeps its event. (`WHERE` keeps SQLite's parser from reading ON
    // CONFLICT as a join constraint.)
    qb.push(
        "INSERT INTO dedup_keys (source_id, key, event_id, expires_at) \
         SELECT source_id, dedup_key, id, expires_at FROM temp.intake_keys WHERE true ORDER BY pos \
         ON CONFLICT (source_id, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at \
         WHERE dedup_keys.expires_at <= ",
    );
    qb.push_bind(now);
    // The upsert changed one row per winner. Only when some staged key did not win (taken
    // before, or twice in this batch) is each key's winner looked up; otherwise `winner` stays
    // NULL, which the statements after read as "won".
    qb.push(
        "; UPDATE temp.intake_keys SET winner = (SELECT d.event_id FROM dedup_keys d \
         WHERE d.source_id = intake_keys.source_id AND d.key = intake_keys.dedup_key) WHERE changes() < ",
    );
    qb.push_bind(keyed.len() as i64);
    qb.push("; ");
    // Events go in from the values, in batch order, except the losers; every loser leaves a
    // duplicate receipt on the winner's timeline.
    for chunk in staged.chunks(INSERT_CHUNK) {
        qb.push("INSERT INTO events (").push(EVENT_COLUMNS).push(") SELECT ");
        qb.push(
            "column2, column3, column4, column5, column6, column7, column8, column9, column10, column11, column12 FROM (",
        );
        qb.push_values(chunk, |mut b, (ord, e)| {
            b.push_bind(*ord as i64);
            bind_event_columns!(b, e);
        });
        qb.push(") v WHERE v.column1 NOT IN (SELECT ord FROM temp.intake_keys WHERE winner <> id); ");
    }
    qb.push(
        "INSERT INTO receipts (id, at, source_name, source_id, request_id, status_code, outcome, reason, event_id) \
         SELECT 'rcp_' || substr(k.id, 5), k.received_at, COALESCE(k.source_name, ''), k.source_id, k.request_id, 200, \
         'duplicate', 'duplicate of ' || k.winner || ' (dedup key ' || k.dedup_key || ')', k.winner \
         FROM temp.intake_keys k WHERE k.winner <> k.id ORDER BY k.ord; ",
    );
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
    qb.push(
        "SELECT ord, winner FROM temp.intake_keys WHERE winner <> id; \
         DELETE FROM temp.intake_keys; ",
    );
    qb.push("COMMIT");
    let duplicates: Vec<(i64, String)> = qb.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
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
crate::retention::impl_retention_store!(SqliteStore, Sqlite);
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
