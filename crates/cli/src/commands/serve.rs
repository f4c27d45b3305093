//! `switchyard serve`: load config and master key, open and migrate storage, serve until SIGTERM
//! or SIGINT, then shut down gracefully.

use std::time::Duration;
use switchyard_core::network::Cidr;
use switchyard_engine::delivery::DispatchConfig;
use switchyard_engine::flows::RunnerConfig;
use switchyard_engine::outbound::OutboundConfig;

use switchyard_engine::intake::GroupCommit;
use switchyard_server::connections::ConnectionLimits;
use switchyard_server::{AppConfig, Application, EngineConfig};
use tokio::net::TcpListener;

use super::{CmdError, open_store, redact_url, sqlite_path};
use crate::cli::ServeArgs;
use crate::config::ConfigFile;
use crate::locate::describe_faults;
use crate::master_key;
use switchyard_engine::declared::DeclaredError;
use switchyard_server::StartupError;

pub async fn serve(args: ServeArgs) -> Result<(), CmdError> {
    let (mut config, config_text) = match &args.config {
        Some(path) => (
            ConfigFile::load(path)?,
            std::fs::read_to_string(path).unwrap_or_default(),
        ),
        None => (ConfigFile::default(), String::new()),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(switchyard_server::tls::load_config(cert, key)?),
        _ => None,
    };
    let allow_destinations = args
        .allow_destinations
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| Cidr::parse(c.trim()).map_err(|e| CmdError::Message(format!("--allow-destinations: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let url = &args.database.url;
    let master_key = master_key::resolve(url, sqlite_path(url).as_deref(), master_key::EnvKeys::from_env())?;
    let store = open_store(&args.database).await?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| CmdError::Message(format!("cannot listen on {}: {e}", args.listen)))?;
    let bootstrap_key = std::env::var("SWITCHYARD_BOOTSTRAP_KEY").ok().filter(|k| !k.is_empty());
    let kind = store.kind();
    let public_url = match &args.public_url {
        Some(u) => u.clone(),
        None => format!(
            "{}://{}",
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr().map_err(|e| CmdError::Message(e.to_string()))?
        ),
    };
    let smtp_section = config.smtp.take();
    let declared = config.declared();
    let smtp = match (&args.smtp_url, smtp_section) {
        (Some(url), _) => Some(switchyard_engine::alerts::SmtpConfig {
            url: url.clone(),
            from: args.smtp_from.clone(),
        }),
        (None, Some(s)) => Some(switchyard_engine::alerts::SmtpConfig {
            url: s.url,
            from: s.from,
        }),
        (None, None) => None,
    };
    let app = Application::build(
        AppConfig {
            engine: EngineConfig {
                store,
                master_key,
                declared,
                runner: RunnerConfig {
                    // Every step record extends a run's claim; a claim must outlive the longest
                    // call between two records.
                    lease: Duration::from_secs(
                        args.delivery_lease
                            .unwrap_or(args.outbound_timeout.max(1) + 45)
                            .max(args.outbound_timeout.max(1) + 2),
                    ),
                    ..RunnerConfig::default()
                },
                bootstrap_key,
                group_commit: GroupCommit {
                    enabled: args.group_commit,
                    max_batch: args.group_commit_max_batch.max(1),
                    ..GroupCommit::default()
                },
                source_refresh: Duration::from_secs(2),
                outbound: OutboundConfig {
                    connect_timeout: Duration::from_secs(args.outbound_connect_timeout.max(1)),
                    total_timeout: Duration::from_secs(args.outbound_timeout.max(1)),
                    allow_destinations,
                },
                dispatch: DispatchConfig {
                    // A claim must outlive the longest attempt.
                    lease: Duration::from_secs(
                        args.delivery_lease
                            .unwrap_or(args.outbound_timeout.max(1) + 45)
                            .max(args.outbound_timeout.max(1) + 2),
                    ),
                    ..DispatchConfig::default()
                },
                retention_days: args.retention_days,
                housekeeping_every: Duration::from_secs(600),
                clock: std::sync::Arc::new(switchyard_core::time::SystemClock),
                alerts: switchyard_engine::alerts::AlertsConfig {
                    public_url,
                    smtp,
                    ..Default::default()
                },
            },
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
            tls: tls.clone(),
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_secs(args.http_header_timeout),
                idle_timeout: Duration::from_secs(args.http_idle_timeout),
                max_connections: usize::try_from(args.http_max_connections).unwrap_or(usize::MAX),
            },
        },
        listener,
    )
    .await
    .map_err(|e| match (e, &args.config) {
        // A definition the file declares is refused: name its line and column.
        (StartupError::Config(DeclaredError::Invalid(fields)), Some(path)) => {
            CmdError::InvalidFile(describe_faults(&config_text, &path.display().to_string(), &fields))
        }
        (e, _) => e.into(),
    })?;
    let addr = app.local_addr().map_err(|e| CmdError::Message(e.to_string()))?;
    tracing::info!(
        listen = %addr,
        database = kind.as_str(),
        database_url = %redact_url(url),
        group_commit = args.group_commit,
        tls = tls.is_some(),
        version = env!("CARGO_PKG_VERSION"),
        "switchyard listening"
    );
    app.run(shutdown_signal())
        .await
        .map_err(|e| CmdError::Message(format!("server error: {e}")))?;
    tracing::info!("switchyard stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
