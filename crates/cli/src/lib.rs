//! The `switchyard` command-line program: `serve`, `migrate`, `keys` and `events`. Start-up wiring
//! (config file, master key, logging) lives here; everything else is in the library crates.

pub mod cli;
mod client;
mod commands;
pub mod config;
pub mod locate;
pub mod master_key;

pub use switchyard_engine::outbound::install_crypto_provider;
