//! The `switchyard` command-line program: `serve`, `migrate`, `keys` and `events`. Start-up wiring
//! (config file, master key, logging) lives here; everything else is in the library crates.

pub mod cli;
mod client;
mod commands;
pub mod config;
pub mod master_key;

/// rustls needs exactly one process-wide crypto provider; we use ring (sqlx's choice too).
/// Call before any HTTPS client is built — `main` and every test binary that makes requests.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
