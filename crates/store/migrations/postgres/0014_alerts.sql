-- Alerts (issue 11, SPEC §5). A rule's definition is stored with its channel masked; the
-- channel itself (URLs carry tokens) is sealed with the master key. `state` and
-- `notified_state` move only by compare-and-set, in the transaction that queues the
-- notification, so a change is announced once however many nodes evaluate the rule.
CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    definition       TEXT NOT NULL,
    sealed           BYTEA NOT NULL,
    state            TEXT NOT NULL,      -- ok | firing
    since            BIGINT,             -- when the current state began
    detail           TEXT,               -- JSON: what held and where, at the last change
    notified_state   TEXT,               -- the state the last notification announced
    last_notified_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- One message per announced change; sent by the job runner (`jobs.kind = 'notification'`),
-- retried on its schedule, every try in `notification_attempts`.
CREATE TABLE notifications (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    alert_id        TEXT NOT NULL,
    state           TEXT NOT NULL,       -- firing | resolved
    body            TEXT NOT NULL,       -- JSON: the message
    status          TEXT NOT NULL,       -- pending | succeeded | dead
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX notifications_by_alert ON notifications (alert_id, seq);

CREATE TABLE notification_attempts (
    seq              BIGSERIAL PRIMARY KEY,
    notification_id  TEXT NOT NULL,
    at               BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    status_code      BIGINT,
    error_class      TEXT,
    response_excerpt TEXT
);
CREATE INDEX notification_attempts_by_notification ON notification_attempts (notification_id, seq);

-- Outcomes per 10-second bucket and thing watched, added to by every node (an additive
-- upsert): what failure ratios, credential streaks and the dashboard's rates are read from,
-- without scanning attempts or runs.
CREATE TABLE health_samples (
    bucket   BIGINT NOT NULL,            -- µs, start of the bucket
    scope    TEXT NOT NULL,              -- source | endpoint | flow | destination
    name     TEXT NOT NULL,
    total    BIGINT NOT NULL,
    failed   BIGINT NOT NULL,
    rejected BIGINT NOT NULL,            -- 401/403 answers; signature failures for sources
    refused  BIGINT NOT NULL,            -- refused OAuth2 token requests
    PRIMARY KEY (bucket, scope, name)
);
