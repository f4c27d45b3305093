//! Storage of outbound delivery: endpoints, deliveries (one per event and endpoint, created in
//! the same transaction as their event, with a job in the queue while pending — see `jobs.rs`)
//! and the attempt log. Invariants:
//! - a delivery is claimed by one worker at a time: a lease on its job (`lease_until`,
//!   `lease_owner`) set atomically by the claim, which on PostgreSQL also skips rows other nodes
//!   have locked;
//! - a claim whose lease expired (its node died) is claimed again, so nothing is lost;
//! - an attempt is recorded in the same transaction that moves its delivery on.

pub(crate) mod breakers;
pub(crate) mod queries;

pub use breakers::{BreakerRow, BreakerStore};

use switchyard_core::delivery::DeliveryStatus;

use crate::{Page, StoreResult};

/// A delivery to create with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub next_attempt_at: i64,
    pub created_at: i64,
    /// Deliveries of one endpoint with the same key go one at a time, in order.
    pub ordering_key: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    /// The optional unique name (also inside `config`; the column enforces uniqueness).
    pub name: Option<String>,
    /// `EndpointSpec` as JSON, without its headers.
    pub config: String,
    /// Sealed JSON of the secrets and headers.
    pub sealed: Vec<u8>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub seq: i64,
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub at: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error_class: Option<String>,
    pub request_headers: String,
    pub response_excerpt: Option<String>,
}

/// A claimed delivery with what sending it needs from its event.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The queue row that holds the lease: results and give-backs name it.
    pub job: i64,
    pub delivery: DeliveryRow,
    pub event_type: Option<String>,
    pub payload: Vec<u8>,
    /// The `Content-Type` the payload arrived with (published events: JSON).
    pub content_type: Option<String>,
    pub received_at: i64,
}

/// How an attempt leaves its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointHealth {
    /// A success ends any failing streak.
    Healthy,
    /// A failure; the streak started at `failing_since` unless one is already running.
    Failing,
    /// Disable the endpoint (410, or failing for longer than its disable window).
    Disable(String),
    /// Leave the endpoint as it is (the delivery ended without reaching it).
    Unchanged,
}

/// One finished attempt and where it leaves its delivery.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// The claimed job ([`Claimed::job`]).
    pub job: i64,
    pub attempt: AttemptRow,
    pub endpoint_id: String,
    /// Only the lease holder may move the delivery on; a late result of a lost lease is logged
    /// (the attempt happened) but changes nothing else.
    pub lease_owner: String,
    /// `Pending` (retry at `next_attempt_at`) or an end.
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
    pub health: EndpointHealth,
}

/// What [`DeliveryStore::subscribe_deliveries`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Deliveries may be due (or notifications may have been missed).
    Deliveries,
    /// Flow runs may be due (or notifications may have been missed).
    Runs,
    EndpointsChanged,
    /// An API key was revoked on some node (or straight on the database).
    KeyRevoked,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub event_id: Option<String>,
    pub endpoint_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// What a replay covers. A replayed delivery keeps its id (and so its `webhook-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayScope {
    Delivery(String),
    Event(String),
    /// Every `failed` or `dead` delivery of the endpoint created at or after `since`.
    EndpointFailedSince {
        endpoint_id: String,
        since: i64,
    },
}

#[async_trait::async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn insert_endpoint(&self, row: &EndpointRow) -> StoreResult<()>;
    /// Replaces config, sealed, enabled and disabled_reason; false when the endpoint is gone.
    async fn update_endpoint(&self, row: &EndpointRow) -> StoreResult<bool>;
    async fn delete_endpoint(&self, id: &str) -> StoreResult<bool>;
    /// By `ep_` id or by name.
    async fn get_endpoint(&self, id_or_name: &str) -> StoreResult<Option<EndpointRow>>;
    async fn list_endpoints(&self, before_id: Option<&str>, limit: i64) -> StoreResult<Page<EndpointRow>>;
    async fn all_endpoints(&self) -> StoreResult<Vec<EndpointRow>>;

    /// Leases up to `limit` due deliveries (oldest due first) to `owner` until `lease_until`:
    /// the given endpoint's (read through its own index range), or any endpoint's.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        endpoint: Option<&str>,
    ) -> StoreResult<Vec<Claimed>>;
    /// Records the attempts and moves their deliveries and endpoints on, in one transaction.
    async fn complete_attempts(&self, results: &[AttemptResult], now: i64) -> StoreResult<()>;
    /// Gives back claims this worker cannot start soon (its endpoint has no capacity), so that
    /// they are not held for a whole lease.
    async fn release_claims(&self, owner: &str, jobs: &[i64]) -> StoreResult<()>;
    /// Every endpoint with pending deliveries, and when its earliest one falls due (leased
    /// ones included): how a dispatcher discovers work it was not told about.
    async fn due_endpoints(&self) -> StoreResult<Vec<(String, i64)>>;
    /// Makes the covered deliveries pending and due at `now`; returns how many.
    async fn replay(&self, scope: &ReplayScope, now: i64) -> StoreResult<u64>;

    /// Signals from every node: deliveries or flow runs were created or replayed (idle
    /// dispatchers and flow runners claim at once instead of at their next poll), or endpoints changed (views refresh at once instead
    /// of at their next periodic refresh). `None` where one process owns the database.
    async fn subscribe_deliveries(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<Signal>>> {
        Ok(None)
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Page<DeliveryRow>>;
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<DeliveryRow>>;
    async fn list_attempts(&self, delivery_id: &str) -> StoreResult<Vec<AttemptRow>>;
}
