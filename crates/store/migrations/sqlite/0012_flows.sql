-- Flows (SPEC §7): multi-step workflows started by events, and their runs.
-- - `flows` holds each flow's current definition (`FlowSpec` as JSON) and its version, 1 for a
--   new flow and one more per change;
-- - `flow_versions` every definition a flow ever had: a run keeps the version it started with,
--   so versions stay when the flow is deleted;
-- - `runs` one row per run, created in the transaction of its trigger event; while a run is not
--   final it has a job in the queue (`jobs`, kind `run`, `subject_id` the run id, `lane` its
--   flow id), which is deleted when the run ends;
-- - `run_steps` one row per step execution, keyed by the step's path (`contact`, `each/2/send`
--   inside a foreach), so a resumed run skips what already succeeded.
-- Times are integer microseconds. The same shape as PostgreSQL's 0011_flows.sql.

CREATE TABLE flows (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE flow_versions (
    flow_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (flow_id, version)
);

CREATE TABLE runs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    flow_id       TEXT NOT NULL,
    flow_name     TEXT NOT NULL,
    flow_version  INTEGER NOT NULL,
    event_id      TEXT NOT NULL,
    status        TEXT NOT NULL,     -- pending | running | waiting | succeeded | filtered | failed | dead
    failed_step   TEXT,              -- the path of the step that failed (failed and dead runs)
    error_class   TEXT,
    error_message TEXT,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX runs_by_event ON runs (event_id, seq);
CREATE INDEX runs_by_flow ON runs (flow_name, seq);
CREATE INDEX runs_by_status ON runs (status, seq);

CREATE TABLE run_steps (
    run_id        TEXT NOT NULL,
    path          TEXT NOT NULL,
    step_id       TEXT NOT NULL,
    status        TEXT NOT NULL,     -- pending | running | succeeded | failed | skipped
    attempts      INTEGER NOT NULL,
    output        TEXT,              -- the step's output as JSON
    error_class   TEXT,
    error_message TEXT,
    started_at    INTEGER,
    finished_at   INTEGER,
    PRIMARY KEY (run_id, path)
);
