-- Dedup keys as 16-byte digests of (source id, key) (see `store/src/sqlite/key_digest.rs`): the
-- key tree and the recent-keys log hold less than half the bytes per key. The rows of the old
-- `dedup_keys` and `dedup_recent` are moved here at start-up by the store (SQL has no SHA-256),
-- which then drops those tables.
CREATE TABLE dedup_digests (
    digest      BLOB PRIMARY KEY,
    event_id    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE dedup_recent_digests (
    seq         INTEGER PRIMARY KEY,
    digest      BLOB NOT NULL,
    event_id    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
