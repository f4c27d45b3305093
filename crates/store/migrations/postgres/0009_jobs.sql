-- The job queue (issue 10): one row per job that is waiting or running, deleted when the job
-- ends. Deliveries are its first kind (`subject_id` is the delivery id, `lane` its endpoint).
--
-- Why a table apart from `deliveries`: a claim used to walk `deliveries_pending`, a partial
-- index that every claim (lease columns, no room on a full page: not HOT) and every completion
-- (status leaves the predicate) left dead entries in, at the low end the next claim starts from.
-- Burst after burst, claims got slower. Here:
-- - a claim only sets the lease columns, which no index covers, on pages kept half empty, so
--   the update is HOT: no new index entry, and the page's old version is pruned in place;
-- - a job that ends is deleted; its dead entries sit at the low end, on pages no insert touches
--   (new jobs are due later), so scans can mark them dead — and the store vacuums this small
--   table itself after every few thousand ended jobs (autovacuum may be off, and a burst
--   outruns it anyway);
-- - a worker names its job by `seq` when it finishes it, so the queue needs no index by subject
--   (one index fewer to insert into and delete from per job);
-- - `deliveries` keeps the history and loses its status indexes, so moving a delivery on
--   changes no indexed column and is HOT too.
CREATE TABLE jobs (
    seq          BIGSERIAL PRIMARY KEY,  -- arrival order (FIFO keys go by it); never reused
    kind         TEXT NOT NULL,          -- delivery
    subject_id   TEXT NOT NULL,
    lane         TEXT NOT NULL,          -- what guards limit per lane: the endpoint
    due_at       BIGINT NOT NULL,
    ordering_key TEXT,                   -- FIFO per (kind, lane, key)
    lease_until  BIGINT,                 -- a worker's claim; expired claims are taken over
    lease_owner  TEXT
) WITH (fillfactor = 50);
CREATE INDEX jobs_due ON jobs (kind, lane, due_at);
CREATE INDEX jobs_fifo ON jobs (kind, lane, ordering_key, seq) WHERE ordering_key IS NOT NULL;

INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key, lease_until, lease_owner)
SELECT 'delivery', id, endpoint_id, COALESCE(next_attempt_at, 0), ordering_key, lease_until, lease_owner
FROM deliveries WHERE status = 'pending' ORDER BY seq;

DROP INDEX deliveries_pending;
DROP INDEX deliveries_fifo;
ALTER TABLE deliveries DROP COLUMN lease_until, DROP COLUMN lease_owner;
ALTER TABLE deliveries SET (fillfactor = 80);
