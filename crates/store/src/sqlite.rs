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

use crate::queries::{INSERT_CHUNK, impl_store, push_event_rows, push_receipt_rows, split_batch};
use crate::{IntakeWrite, StoreError, StoreKind, StoreOptions, StoreResult};

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

    /// The whole batch — `BEGIN IMMEDIATE`, multi-row inserts, `COMMIT` — goes to SQLite's worker
    /// thread as one multi-statement command. Sent statement by statement, each step would wait for
    /// the async writer task to be scheduled again among thousands of request tasks; that round trip,
    /// not SQLite, was the cost of a commit under load.
    async fn backend_commit_intake(&self, batch: &[IntakeWrite]) -> StoreResult<()> {
        let (events, receipts) = split_batch(batch);
        let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
        for chunk in events.chunks(INSERT_CHUNK) {
            push_event_rows!(qb, chunk);
            qb.push("; ");
        }
        for chunk in receipts.chunks(INSERT_CHUNK) {
            push_receipt_rows!(qb, chunk);
            qb.push("; ");
        }
        qb.push("COMMIT");
        // Held across both statements so the ROLLBACK reaches the connection that ran the batch.
        let mut conn = self.write.acquire().await?;
        let conn: &mut sqlx::SqliteConnection = &mut conn;
        match conn.execute(qb.build()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // The transaction may still be open after a failed statement; close it so the next
                // batch can begin. An error here only means SQLite already rolled back.
                let _ = conn.execute(sqlx::raw_sql("ROLLBACK")).await;
                Err(e.into())
            }
        }
    }
}

impl_store!(SqliteStore, Sqlite);
