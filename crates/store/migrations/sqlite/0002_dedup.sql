-- Dedup keys: one row per (source, key) while its window lasts. The primary key makes concurrent
-- duplicates race-safe: the database, not a check-then-insert, decides which delivery is first.
CREATE TABLE dedup_keys (
    source_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (source_id, key)
) WITHOUT ROWID;  -- the key is the table: one B-tree insert per key, not a table row plus an index entry
CREATE INDEX dedup_keys_by_expiry ON dedup_keys (expires_at);
