-- Deleted sources leave a tombstone: their definition (redaction paths, retention) still governs
-- the events they left behind until those expire, after which the tombstone goes too.
CREATE TABLE source_tombstones (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    config      TEXT NOT NULL,          -- SourceSpec as JSON, secrets removed (they are not kept)
    deleted_at  BIGINT NOT NULL
);

-- Endpoints may carry a unique name (how config files and flows refer to them).
ALTER TABLE endpoints ADD COLUMN name TEXT;
CREATE UNIQUE INDEX endpoints_by_name ON endpoints (name) WHERE name IS NOT NULL;
