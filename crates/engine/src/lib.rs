//! The engine behind the HTTP surface: the intake pipeline (check → store with group commit →
//! acknowledge) and the source catalog (definitions, sealed secrets, the in-memory lookup intake
//! uses on every request). It knows nothing of HTTP beyond the status code a receipt records.

pub mod delivery;
pub mod endpoints;
pub mod fanout;
pub mod housekeeping;
pub mod intake;
pub mod outbound;
mod refresh;
pub mod sources;
