-- Circuit breakers and 429 pauses, shared by every node: a node that sees an endpoint fail (or
-- be told to back off) writes the transition here, and the others adopt it, so a cluster stops
-- calling a broken receiver together and sends one half-open probe, not one per node.
CREATE TABLE endpoint_breakers (
    endpoint_id  TEXT PRIMARY KEY,
    open_until   INTEGER,    -- µs; NULL while closed; else the first probe may go at this time
    cooldown     INTEGER NOT NULL,   -- µs; the current open period, doubled by each failed probe
    paused_until INTEGER NOT NULL,   -- µs; the receiver asked us to wait (429) until then
    changed_at   INTEGER NOT NULL,   -- µs; a write older than the stored one is ignored
    probe_owner  TEXT,              -- the node sending the half-open probe, until probe_until
    probe_until  INTEGER
);
