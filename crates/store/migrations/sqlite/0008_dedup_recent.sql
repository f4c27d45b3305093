-- Dedup keys won since the writer last merged them into `dedup_keys` (see
-- `store/src/sqlite/recent_keys.rs`): appended in rowid order, so intake writes a few pages per
-- batch here instead of a random leaf of the key tree per event. Never read by key: the writer
-- holds the same keys in memory, and merges these rows at start-up and every 32,768 keys.
CREATE TABLE dedup_recent (
    seq         INTEGER PRIMARY KEY,
    source_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
