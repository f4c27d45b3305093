//! The engine behind the HTTP surface, assembled once in [`engine::Engine`]: the intake pipeline
//! (check → store with group commit → acknowledge), the catalogs (sources, endpoints), the one
//! fan-out, the one leased-job runner (`jobs/`) with its kinds (deliveries, flow runs) and
//! housekeeping. It knows nothing of HTTP beyond the status code a
//! receipt records.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod declared;
pub mod delivery;
pub mod destinations;
pub mod endpoints;
pub mod engine;
pub mod fanout;
pub mod flows;
pub mod housekeeping;
pub mod intake;
pub mod jobs;
pub mod metrics;
pub mod outbound;
mod refresh;
pub mod reseal;
pub mod sources;
pub mod writer_thread;
