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

use crate::dedup;
use crate::queries::{INSERT_CHUNK, impl_store, push_dedup_upsert, push_event_rows, push_receipt_rows};
use crate::{IntakeOutcome, IntakeWrite, StoreError, StoreKind, StoreOptions, StoreResult};

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
            .foreign_keys(true);
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

    /// The batch — `BEGIN IMMEDIATE`, multi-row inserts, `COMMIT` — goes to SQLite's worker thread
    /// as one multi-statement command (two when dedup keys must be settled first). Sent statement
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

async fn commit_on(conn: &mut sqlx::SqliteConnection, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>> {
    let candidates = dedup::candidates(batch);
    let mut winners = dedup::Winners::new();
    let mut begun = false;
    if !candidates.is_empty() {
        let now = switchyard_core::time::now_micros();
        let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
        for chunk in candidates.chunks(INSERT_CHUNK) {
            push_dedup_upsert!(qb, chunk, now);
            qb.push("; ");
        }
        let rows: Vec<(String, String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        begun = true;
        winners.extend(rows.into_iter().map(|(source, key, event)| ((source, key), event)));
    }
    let plan = dedup::plan(batch, &winners);
    let mut qb = QueryBuilder::<Sqlite>::new(if begun { "" } else { "BEGIN IMMEDIATE; " });
    for chunk in plan.events.chunks(INSERT_CHUNK) {
        push_event_rows!(qb, chunk);
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

impl_store!(SqliteStore, Sqlite);
