//! Rows as the store reads and writes them. Field types are chosen to decode identically from
//! SQLite and PostgreSQL (integers for times, text for JSON, bytes for payloads), so one set of
//! row types and one set of queries serve both backends.

/// An event to insert; `payload` is the raw body, byte for byte.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub source_id: Option<String>,
    pub source_name: Option<String>,
    pub event_type: Option<String>,
    pub status: String,
    pub received_at: i64,
    pub content_type: Option<String>,
    pub headers: String,
    pub payload: Vec<u8>,
    pub request_id: String,
    /// The delivery's identity within its source; a second event with the same key inside the
    /// window is a duplicate and is not stored.
    pub dedup: Option<DedupKey>,
    /// For a `quarantined` event: why it failed the source's schema (JSON array of messages).
    pub validation_errors: Option<String>,
    /// Outbound deliveries created with the event, in its transaction (none for a duplicate).
    pub deliveries: Vec<crate::NewDelivery>,
    /// Flow runs created with the event, in its transaction (none for a duplicate).
    pub runs: Vec<crate::NewRun>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    pub key: String,
    /// Until when (microseconds) a repeat of this key counts as a duplicate.
    pub expires_at: i64,
}

/// What happened to one write of an intake batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// The event was stored.
    Stored,
    /// An event with the same dedup key was stored first; this one was not.
    Duplicate { first_event_id: String },
    /// A receipt was stored.
    Recorded,
}

/// A receipt: the trace one inbound request leaves. Stored rows are for requests that created no
/// event (rejections carry no body); an accepted request's receipt is its event row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Receipt {
    pub id: String,
    pub at: i64,
    pub source_name: String,
    pub source_id: Option<String>,
    pub request_id: String,
    pub status_code: i32,
    pub outcome: String,
    pub reason: Option<String>,
    pub event_id: Option<String>,
}

/// One unit of intake work: an accepted event (which is its own receipt) or the receipt of a
/// request that created none.
#[derive(Debug, Clone)]
pub enum IntakeWrite {
    Event(NewEvent),
    Receipt(Receipt),
}

/// Position in the receipt listing (newest first): continue strictly before `(at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCursor {
    pub at: i64,
    pub id: String,
}

/// An event as listed (no payload or headers).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventSummary {
    pub seq: i64,
    pub id: String,
    pub source_id: Option<String>,
    pub source_name: Option<String>,
    pub event_type: Option<String>,
    pub status: String,
    pub received_at: i64,
    pub content_type: Option<String>,
}

/// An event with everything stored about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRecord {
    pub seq: i64,
    pub id: String,
    pub source_id: Option<String>,
    pub source_name: Option<String>,
    pub event_type: Option<String>,
    pub status: String,
    pub received_at: i64,
    pub content_type: Option<String>,
    pub headers: String,
    pub payload: Vec<u8>,
    pub request_id: String,
    pub validation_errors: Option<String>,
}

impl EventRecord {
    /// What a list shows of it.
    pub fn summary(self) -> EventSummary {
        EventSummary {
            seq: self.seq,
            id: self.id,
            source_id: self.source_id,
            source_name: self.source_name,
            event_type: self.event_type,
            status: self.status,
            received_at: self.received_at,
            content_type: self.content_type,
        }
    }
}

/// Filters of `GET /v1/events`. `before_seq` is the decoded cursor.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// A source name or `src_` id.
    pub source: Option<String>,
    pub status: Option<String>,
    pub event_type: Option<String>,
    /// Inclusive lower bound on `received_at`.
    pub since: Option<i64>,
    /// Exclusive upper bound on `received_at`.
    pub until: Option<i64>,
    pub before_seq: Option<i64>,
    /// Oldest first, strictly after this `seq` (how `events tail` follows new events); the
    /// page is then in commit order instead of newest first.
    pub after_seq: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub id: String,
    pub name: String,
    pub config: String,
    pub secrets: Option<Vec<u8>>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub hash: String,
    pub hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A page of rows, newest first, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

/// What `idempotency_begin` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The key was free and is now reserved for this request.
    Started,
    /// An earlier request with the key is still running.
    InProgress { fingerprint: String },
    /// An earlier request finished; replay its response.
    Completed {
        fingerprint: String,
        status_code: i32,
        response: Vec<u8>,
    },
}
