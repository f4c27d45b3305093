//! Storage of alerts (SPEC §5): the rules with their state, the notifications they queued and
//! every try at sending one. Invariants:
//! - a rule's state moves only by compare-and-set on what the evaluator read, and the
//!   notification (with its job) is inserted in the same transaction, so a change is announced
//!   exactly once however many nodes evaluate the rule;
//! - a notification has a job in the queue exactly while it is pending, and an attempt is
//!   recorded in the transaction that moves its notification on (only by the lease holder).

pub(crate) mod queries;

use crate::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AlertRow {
    pub id: String,
    pub name: String,
    /// `AlertSpec` as JSON with its channel masked.
    pub definition: String,
    /// Sealed JSON of the channel.
    pub sealed: Vec<u8>,
    /// `ok` or `firing`.
    pub state: String,
    pub since: Option<i64>,
    /// JSON: what held and where, as of the last change of state.
    pub detail: Option<String>,
    /// The state the last notification announced (`None`: nothing announced yet).
    pub notified_state: Option<String>,
    pub last_notified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A notification to queue with a change of state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub id: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub body: String,
}

/// A compare-and-set of a rule's state: applied only while the rule still has `from_state`
/// and `from_notified`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTransition {
    pub alert_id: String,
    pub from_state: String,
    pub from_notified: Option<String>,
    pub to_state: String,
    pub since: Option<i64>,
    pub detail: Option<String>,
    /// Queued with the change; when set, `notified_state` becomes its announced state.
    pub notification: Option<NewNotification>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRow {
    pub seq: i64,
    pub id: String,
    pub alert_id: String,
    pub state: String,
    pub body: String,
    /// `pending`, `succeeded` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationAttemptRow {
    pub notification_id: String,
    pub at: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error_class: Option<String>,
    pub response_excerpt: Option<String>,
}

/// A claimed notification with its rule's sealed channel.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub job: i64,
    pub notification: NotificationRow,
    pub sealed_channel: Vec<u8>,
}

/// One try and where it leaves its notification.
#[derive(Debug, Clone)]
pub struct NotificationResult {
    pub job: i64,
    /// Only the lease holder moves the notification on.
    pub lease_owner: String,
    pub attempt: NotificationAttemptRow,
    /// `pending` (again at `next_attempt_at`), `succeeded` or `dead`.
    pub status: String,
    pub next_attempt_at: Option<i64>,
}

/// Outcomes of one thing watched, added to a bucket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HealthSample {
    pub bucket: i64,
    pub scope: String,
    pub name: String,
    pub total: i64,
    pub failed: i64,
    pub rejected: i64,
    pub refused: i64,
}

/// Sums per thing watched since a time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HealthTotals {
    pub scope: String,
    pub name: String,
    pub total: i64,
    pub failed: i64,
    pub rejected: i64,
    pub refused: i64,
    /// The newest bucket with an outcome that was not a rejection (µs), if any.
    pub last_ok_bucket: Option<i64>,
    /// The newest bucket with a rejection or a refused token, if any.
    pub last_rejected_bucket: Option<i64>,
}

#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    /// `Conflict` when the name is taken.
    async fn insert_alert(&self, row: &AlertRow) -> StoreResult<()>;
    /// Replaces name, definition and sealed channel; false when the rule is gone.
    async fn update_alert(&self, row: &AlertRow) -> StoreResult<bool>;
    async fn delete_alert(&self, id: &str) -> StoreResult<bool>;
    /// By `alr_` id or by name.
    async fn get_alert(&self, id_or_name: &str) -> StoreResult<Option<AlertRow>>;
    /// Every rule, by name (rules are few).
    async fn all_alerts(&self) -> StoreResult<Vec<AlertRow>>;
    /// Applies the change if the rule is still as read; queues its notification and job with
    /// it. False when another node got there first.
    async fn transition_alert(&self, t: &AlertTransition) -> StoreResult<bool>;

    /// Leases up to `limit` due notifications to `owner`.
    async fn claim_notifications(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedNotification>>;
    /// Records the attempt and moves the notification on; false when the lease was lost (the
    /// attempt is recorded all the same: it happened).
    async fn complete_notification(&self, r: &NotificationResult, now: i64) -> StoreResult<bool>;
    /// Newest first.
    async fn list_notifications(&self, alert_id: &str, limit: i64) -> StoreResult<Vec<NotificationRow>>;
    /// Oldest first.
    async fn list_notification_attempts(&self, notification_id: &str) -> StoreResult<Vec<NotificationAttemptRow>>;

    /// Adds the samples to what is stored for their buckets (every node adds its own).
    async fn add_health_samples(&self, samples: &[HealthSample]) -> StoreResult<()>;
    /// Sums per thing watched over buckets at or after `since`.
    async fn health_totals(&self, since: i64) -> StoreResult<Vec<HealthTotals>>;
    /// Every bucket at or after `since`, per scope (things summed): the dashboard's rates.
    async fn health_series(&self, since: i64) -> StoreResult<Vec<HealthSample>>;
    /// Forgets buckets before `before`; returns how many.
    async fn purge_health_samples(&self, before: i64) -> StoreResult<u64>;
    /// Events awaiting review in quarantine, and when the oldest arrived.
    async fn quarantine_summary(&self) -> StoreResult<(i64, Option<i64>)>;
}
