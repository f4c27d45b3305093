-- Flow control (issue 12): per-key concurrency, ordering (with an optional sequence and a
-- reorder window) and debounce. A controlled run carries its key, how many runs of the key may
-- be in progress at once and its sequence; its job carries the same, so a claim takes a job
-- only while fewer than `key_limit` jobs of its key come before it (by sequence, then arrival).
ALTER TABLE runs ADD COLUMN control_key TEXT;
ALTER TABLE runs ADD COLUMN control_limit BIGINT;
ALTER TABLE runs ADD COLUMN sequence BIGINT;
-- What flow control did to the run (a sequence gap it went ahead over, the event that
-- superseded it under debounce), as JSON.
ALTER TABLE runs ADD COLUMN note TEXT;
ALTER TABLE jobs ADD COLUMN key_limit BIGINT;   -- jobs of a key in progress at once (NULL: 1)
ALTER TABLE jobs ADD COLUMN position BIGINT;    -- order within a key before arrival (a sequence)
-- The highest sequence started per flow and key: what a later sequence waits for.
CREATE TABLE run_sequences (
    flow_id       TEXT NOT NULL,
    control_key   TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    PRIMARY KEY (flow_id, control_key)
);
