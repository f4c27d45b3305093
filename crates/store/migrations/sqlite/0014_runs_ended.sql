-- Runs by the time they ended (issue 11): `events tail` follows run outcomes in that order.
CREATE INDEX runs_by_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;
