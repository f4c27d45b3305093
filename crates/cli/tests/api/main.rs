//! API tests: the real server on port 0 over a real SQLite file, and over a fresh PostgreSQL
//! database when `SWITCHYARD_TEST_POSTGRES` is set.

mod alerts;
mod apply;
mod audit;
mod auth;
mod cli_commands;
mod cluster;
mod connections;
mod cron;
mod dedup_key;
mod delivery;
mod destinations;
mod examples;
mod examples_applied;
mod flow_control;
mod flow_crash;
mod flow_test;
mod flow_versions;
mod flows;
mod forwarding;
mod intake;
mod logs;
mod management;
mod metrics;
mod outage;
mod process;
mod quarantine;
mod retention;
mod rotate_master;
mod secrets;
mod signatures;
mod tail;
