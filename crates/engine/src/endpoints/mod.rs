//! Endpoints: the catalog that creates, changes, rotates and removes them (sealing their signing
//! secrets and headers on the way in) and the in-memory view publishing and dispatch read.

mod catalog;

pub use catalog::{DISABLED_BY_OPERATOR, Endpoint, EndpointCatalog, EndpointError, SigningSecret, generate_secret};
