//! Storage for Switchyard behind one trait, [`Store`], with a SQLite and a PostgreSQL
//! implementation. This is the only crate that contains SQL. Both implementations share their
//! queries (see `queries.rs`) and differ only where the databases do: how intake batches keep
//! commit order, how readiness is probed, and migrations.

mod alerts;
mod audit;
mod dedup;
pub(crate) mod delivery;
mod destinations;
mod error;
mod flows;
mod jobs;
mod key_digest;
mod model;
mod postgres;
mod queries;
pub mod retention;
mod schedules;
mod sealed;
mod sqlite;
pub mod testing;

use std::sync::Arc;

pub use alerts::{
    AlertRow, AlertStore, AlertTransition, ClaimedNotification, HealthSample, HealthTotals, NewNotification,
    NotificationAttemptRow, NotificationResult, NotificationRow,
};
pub use audit::{AuditFilter, AuditRow, AuditStore};
pub use delivery::{
    AttemptResult, AttemptRow, BreakerRow, BreakerStore, Claimed, DeliveryFilter, DeliveryRow, DeliveryStore,
    EndpointHealth, EndpointRow, NewDelivery, ReplayScope, Signal,
};
pub use destinations::{DestinationRow, DestinationStore};
pub use error::{StoreError, StoreResult};
pub use flows::{
    ClaimedRun, FinishRun, FlowRow, FlowStore, FlowVersionRow, NewRun, RunControl, RunEnd, RunFilter, RunRow, StepRow,
};
pub use jobs::{JobKind, QueueStat, QueueStore};
pub use model::*;
pub use postgres::{DELIVERY_CHANNEL, PostgresStore};
pub use retention::{Retained, RetainedRow, RetentionStore, TombstoneRow};
pub use schedules::ScheduleStore;
pub use sealed::{SealedKind, SealedStore, SealedValue};
pub use sqlite::SqliteStore;

/// How long an unfinished `Idempotency-Key` reservation blocks repeats before it is presumed
/// abandoned (the request's node died) and a repeat may run.
pub const IDEMPOTENCY_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// Tuning that applies to either backend.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections for reads (SQLite) or for everything (PostgreSQL).
    pub max_connections: u32,
    /// How long a caller waits for a connection before the store reports itself unavailable.
    pub acquire_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: std::time::Duration::from_secs(3),
        }
    }
}

/// Everything Switchyard persists. Implementations keep these invariants:
/// - `commit_intake` returns `Ok` only once every write in the batch is durable, and the batch
///   is all-or-nothing;
/// - events get a `seq` in commit order, so `list_events` pages never skip or repeat an event
///   while new ones arrive;
/// - errors that mean "cannot write now" are `StoreError::Unavailable`.
#[async_trait::async_trait]
pub trait Store:
    DeliveryStore
    + BreakerStore
    + RetentionStore
    + DestinationStore
    + FlowStore
    + SealedStore
    + QueueStore
    + AuditStore
    + AlertStore
    + ScheduleStore
    + Send
    + Sync
    + 'static
{
    fn kind(&self) -> StoreKind;
    async fn migrate(&self) -> StoreResult<()>;
    /// Succeeds only when the store can take writes.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores a batch atomically and says, per write, what happened (events with a dedup key
    /// already taken inside its window become duplicate receipts instead of events).
    async fn commit_intake(&self, batch: &[IntakeWrite]) -> StoreResult<Vec<IntakeOutcome>>;
    /// Called by the intake writer once intake has been quiet for a while: gives back memory
    /// held for bursts (SQLite merges its recent dedup keys and shrinks the writer's page cache).
    async fn release_idle(&self) -> StoreResult<()>;
    /// Moves an event from status `from` to `to` (recording or clearing its validation errors);
    /// false when it is not in `from` — so concurrent releases apply exactly once.
    async fn set_event_status(
        &self,
        id: &str,
        from: &str,
        to: &str,
        validation_errors: Option<&str>,
    ) -> StoreResult<bool>;
    /// Forgets dedup keys whose window ended before `now`; returns how many.
    async fn purge_dedup_keys(&self, now: i64) -> StoreResult<u64>;
    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Page<EventSummary>>;
    async fn get_event(&self, id: &str) -> StoreResult<Option<EventRecord>>;
    /// The event that holds `key` in the source's dedup window (the first one stored with it),
    /// if the window has not ended at `now`.
    async fn event_by_dedup_key(&self, source_id: &str, key: &str, now: i64) -> StoreResult<Option<String>>;
    /// Receipts that refer to an event after its creation (e.g. duplicate deliveries), oldest first.
    async fn event_receipts(&self, event_id: &str) -> StoreResult<Vec<Receipt>>;
    /// Every request's receipt — stored receipts and accepted events — newest first, optionally of
    /// one source (by name or `src_` id), continuing after `cursor`.
    async fn list_receipts(
        &self,
        source: Option<&str>,
        cursor: Option<&ReceiptCursor>,
        limit: i64,
    ) -> StoreResult<Page<Receipt>>;

    /// Fails with `Conflict` when the name is taken.
    async fn insert_source(&self, row: &SourceRow) -> StoreResult<()>;
    /// Replaces a source by id; false when it does not exist. `Conflict` on a taken name.
    async fn update_source(&self, row: &SourceRow) -> StoreResult<bool>;
    /// Deletes a source, leaving a tombstone with its definition for the events it left.
    async fn delete_source(&self, id: &str, at: i64) -> StoreResult<bool>;
    /// Looks a source up by `src_` id or by name.
    async fn get_source(&self, id_or_name: &str) -> StoreResult<Option<SourceRow>>;
    /// Sources newest first, `before_id` being the last id of the previous page.
    async fn list_sources(&self, before_id: Option<&str>, limit: i64) -> StoreResult<Page<SourceRow>>;
    async fn all_sources(&self) -> StoreResult<Vec<SourceRow>>;

    async fn insert_api_key(&self, row: &ApiKeyRow) -> StoreResult<()>;
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRow>>;
    async fn list_api_keys(&self, before_id: Option<&str>, limit: i64) -> StoreResult<Page<ApiKeyRow>>;
    /// Marks a key revoked; false when it does not exist or already was.
    async fn revoke_api_key(&self, id: &str, at: i64) -> StoreResult<bool>;

    /// Reserves `(principal, key)` for a new request, or reports what an earlier one left. A
    /// reservation older than [`IDEMPOTENCY_LEASE`] that never completed is taken over.
    async fn idempotency_begin(
        &self,
        principal: &str,
        key: &str,
        fingerprint: &str,
        now: i64,
    ) -> StoreResult<IdempotencyState>;
    /// Forgets idempotency keys created before `older_than`; returns how many.
    async fn purge_idempotency(&self, older_than: i64) -> StoreResult<u64>;
    async fn idempotency_complete(
        &self,
        principal: &str,
        key: &str,
        status_code: i32,
        response: &[u8],
    ) -> StoreResult<()>;
    /// Frees a reservation whose request failed, so the client may retry with the same key.
    async fn idempotency_abort(&self, principal: &str, key: &str) -> StoreResult<()>;
}

/// Opens (creating if needed) the database named by `url` — `sqlite://path` or `postgres://…` —
/// without migrating it.
pub async fn connect(url: &str, opts: &StoreOptions) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, opts).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, opts).await?))
    } else {
        Err(StoreError::Unavailable(
            "the database URL must start with sqlite:// or postgres://".into(),
        ))
    }
}
