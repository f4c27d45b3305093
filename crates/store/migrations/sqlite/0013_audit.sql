-- The audit log (issue 11, SPEC §4): every change through the API or the config file, who made
-- it (`key_id`, null for the config file) and a diff of the masked definitions (`changes`, JSON).
-- Listed newest first by `seq`; never rewritten.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    key_id      TEXT,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    changes     TEXT NOT NULL
);
CREATE INDEX audit_by_resource ON audit_log (resource_id, seq);
