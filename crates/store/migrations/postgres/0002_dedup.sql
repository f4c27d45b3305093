-- Dedup keys: one row per (source, key) while its window lasts. The primary key makes concurrent
-- duplicates race-safe: the database, not a check-then-insert, decides which delivery is first.
CREATE TABLE dedup_keys (
    source_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (source_id, key)
);
CREATE INDEX dedup_keys_by_expiry ON dedup_keys (expires_at);
