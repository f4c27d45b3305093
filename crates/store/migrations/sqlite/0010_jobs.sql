-- The job queue (issue 10): one row per job that is waiting or running, deleted when the job
-- ends. Deliveries are its first kind (`subject_id` is the delivery id, `lane` its endpoint).
-- The same shape as on PostgreSQL (see its 0009_jobs.sql for why the queue is a table apart);
-- here a claim reads a small table instead of the whole delivery history's status index.
CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order (FIFO keys go by it); never reused, so a late result cannot name a newer job
    kind         TEXT NOT NULL,          -- delivery
    subject_id   TEXT NOT NULL,
    lane         TEXT NOT NULL,          -- what guards limit per lane: the endpoint
    due_at       INTEGER NOT NULL,
    ordering_key TEXT,                   -- FIFO per (kind, lane, key)
    lease_until  INTEGER,                -- a worker's claim; expired claims are taken over
    lease_owner  TEXT
);
CREATE INDEX jobs_due ON jobs (kind, lane, due_at);
CREATE INDEX jobs_fifo ON jobs (kind, lane, ordering_key, seq) WHERE ordering_key IS NOT NULL;

INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key, lease_until, lease_owner)
SELECT 'delivery', id, endpoint_id, COALESCE(next_attempt_at, 0), ordering_key, lease_until, lease_owner
FROM deliveries WHERE status = 'pending' ORDER BY seq;

DROP INDEX deliveries_pending;
DROP INDEX deliveries_fifo;
ALTER TABLE deliveries DROP COLUMN lease_until;
ALTER TABLE deliveries DROP COLUMN lease_owner;
