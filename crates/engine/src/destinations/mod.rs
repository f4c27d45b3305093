//! Destinations: the APIs flows call (SPEC §7). `catalog.rs` stores their definitions with the
//! credentials sealed; `oauth2.rs` fetches and caches client-credentials tokens.

mod catalog;
pub mod oauth2;

pub use catalog::{Destination, DestinationCatalog, DestinationError};
