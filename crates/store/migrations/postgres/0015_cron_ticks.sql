-- Cron triggers (issue 12): the latest tick each flow fired. A tick's run is created with a
-- dedup key naming the flow and the tick, so nodes racing for it create one event and one run;
-- this row keeps a tick from firing again once that key's window has passed, and tells a node
-- starting after downtime which ticks it missed.
CREATE TABLE cron_ticks (
    flow_id   TEXT PRIMARY KEY,
    last_tick BIGINT NOT NULL
);
