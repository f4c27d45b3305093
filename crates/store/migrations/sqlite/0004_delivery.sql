-- Outbound delivery: endpoints, one delivery row per (event, endpoint) — the durable job — and
-- an attempt row per try. Times are integer microseconds.

CREATE TABLE endpoints (
    id              TEXT PRIMARY KEY,
    config          TEXT NOT NULL,      -- EndpointSpec as JSON, headers removed
    sealed          BLOB NOT NULL,      -- sealed JSON: signing secrets (with expiry) and headers
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    failing_since   INTEGER,            -- first failure of the current unbroken failing streak
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    event_id         TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    status           TEXT NOT NULL,     -- pending | succeeded | failed | dead
    attempts         INTEGER NOT NULL,  -- attempts since creation or the last replay
    next_attempt_at  INTEGER,           -- due time while pending
    lease_until      INTEGER,           -- a worker's claim; expired claims are taken over
    lease_owner      TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    ordering_key     TEXT,              -- FIFO per (endpoint, key): a later one waits for earlier ones
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- Claims go endpoint by endpoint, reading only that endpoint's pending rows in due order, so a
-- backlog behind one endpoint never costs the others anything.
CREATE INDEX deliveries_pending ON deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_event ON deliveries (event_id, seq);
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, seq);
-- The FIFO check: is an earlier delivery of the same endpoint and key still pending?
CREATE INDEX deliveries_fifo ON deliveries (endpoint_id, ordering_key, seq)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;

CREATE TABLE attempts (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    delivery_id      TEXT NOT NULL,
    at               INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status_code      INTEGER,
    error_class      TEXT,
    request_headers  TEXT NOT NULL,    -- JSON object, signature and secret headers redacted
    response_excerpt TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, seq);
