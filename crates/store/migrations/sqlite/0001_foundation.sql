-- Foundation schema (SQLite). Times are integer microseconds since the Unix epoch (UTC).
-- events.seq is assigned in commit order (one writer connection), which keeps cursor pagination
-- exact under concurrent inserts.

CREATE TABLE sources (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    config      TEXT NOT NULL,          -- SourceSpec as JSON, secrets removed
    secrets     BLOB,                   -- sealed JSON array of secrets (master key)
    enabled     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    source_id    TEXT,
    source_name  TEXT,
    event_type   TEXT,
    status       TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    content_type TEXT,
    headers      TEXT NOT NULL,          -- JSON object, secrets redacted before storage
    payload      BLOB NOT NULL,          -- the raw body, byte for byte
    request_id   TEXT NOT NULL
);
-- Every index costs each intake commit: keep only what a listing needs. Most events are
-- received/processed, so those statuses are found by scanning newest-first; the rare ones that
-- need attention get a small partial index.
CREATE INDEX events_by_source ON events (source_name, seq);
CREATE INDEX events_needing_attention ON events (status, seq) WHERE status IN ('failed', 'quarantined');
CREATE INDEX events_by_received_at ON events (received_at, id);

-- Receipts of requests that did not create an event (rejections; later: duplicates, handshakes).
-- An accepted request's receipt is its event row, so the hot path writes one row, not two.
CREATE TABLE receipts (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL,
    at           INTEGER NOT NULL,
    source_name  TEXT NOT NULL,
    source_id    TEXT,
    request_id   TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    outcome      TEXT NOT NULL,          -- received | rejected | ...
    reason       TEXT,
    event_id     TEXT
);
CREATE INDEX receipts_by_event ON receipts (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX receipts_by_at ON receipts (at, id);
CREATE INDEX receipts_by_source ON receipts (source_name, at, id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE idempotency_keys (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status_code  INTEGER,                -- NULL while the first request is still running
    response     BLOB,                   -- sealed response body
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
);
