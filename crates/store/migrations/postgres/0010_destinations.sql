-- Destinations (issue 10, SPEC §7): APIs that flows call. `config` is the definition with every
-- credential and header value masked; `sealed` holds the values, sealed with the master key.
CREATE TABLE destinations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    config     TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
