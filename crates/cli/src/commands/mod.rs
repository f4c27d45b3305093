//! One module per command. Each returns a [`CmdError`] whose text is what the user sees.

mod apply;
mod deliveries;
mod events;
mod flow_test;
mod flows;
mod keys;
mod rotate_master;
mod runs;
mod send;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;

use switchyard_store::{Store, StoreError, StoreOptions};

use crate::cli::{Cli, Command, DatabaseArgs, LogFormat};
use crate::config::ConfigError;
use crate::master_key::MasterKeyError;

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("{0}")]
    Message(String),
    /// A config file's faults, one per line, each as `file:line:column: field: message`.
    #[error("{0}")]
    InvalidFile(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("start-up failed: {0}")]
    Startup(#[from] switchyard_server::StartupError),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error(transparent)]
    Tls(#[from] switchyard_server::tls::TlsError),
}

pub async fn run(cli: Cli) -> Result<(), CmdError> {
    // `serve` logs to stdout (one JSON object per line, SPEC §5); other commands keep stdout for
    // their output and log to stderr.
    init_logging(cli.log_format, matches!(cli.command, Command::Serve(_)));
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(db) => {
            let store = open_store(&db).await?;
            store.migrate().await?;
            tracing::info!(database = store.kind().as_str(), "migrations applied");
            Ok(())
        }
        Command::Keys(cmd) => keys::run(cmd).await,
        Command::Events(cmd) => events::run(cmd).await,
        Command::Deliveries(cmd) => deliveries::run(cmd).await,
        Command::Runs(cmd) => runs::run(cmd).await,
        Command::Flows(cmd) => flows::run(cmd).await,
        Command::Send(args) => send::run(args).await,
        Command::Apply(args) => apply::run(args).await,
        Command::ConfigSchema => {
            let schema = switchyard_server::openapi::config_schema::config_schema();
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat, to_stdout: bool) {
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let writer = if to_stdout {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        BoxMakeWriter::new(std::io::stderr.with_max_level(tracing::Level::TRACE))
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub(crate) async fn open_store(db: &DatabaseArgs) -> Result<Arc<dyn Store>, CmdError> {
    let opts = StoreOptions {
        max_connections: db.max_connections,
        ..StoreOptions::default()
    };
    switchyard_store::connect(&db.url, &opts)
        .await
        .map_err(|e| CmdError::Message(format!("cannot open the database {}: {e}", redact_url(&db.url))))
}

/// The file behind a `sqlite:` URL.
pub(crate) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// A database URL safe to print: any password is masked.
/// A database URL fit for logs and errors (see `switchyard_core::redact::redact_url`).
pub(crate) fn redact_url(url: &str) -> String {
    switchyard_core::redact::redact_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            sqlite_path("sqlite://switchyard.db"),
            Some(PathBuf::from("switchyard.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db?mode=rwc"),
            Some(PathBuf::from("/tmp/a.db"))
        );
        assert_eq!(sqlite_path("postgres://x"), None);
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://****@h/db");
    }
}
