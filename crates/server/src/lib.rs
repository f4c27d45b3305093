//! The Switchyard HTTP application. [`Application::build`] prepares storage (migrations, config
//! sources, bootstrap key), starts the intake writer and binds the routes to a listener the caller
//! provides, so tests run the real server on port 0. [`Application::run`] serves until the
//! shutdown future resolves, then drains in-flight requests and the intake queue.

mod auth;
mod body_limit;
pub mod connections;
mod error;
mod extract;
mod idempotency;
mod peer;
mod request_id;
mod routes;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::apikey::{Scope, hash_key, key_hint};
use switchyard_core::endpoint::EndpointSpec;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::secrets::MasterKey;
use switchyard_core::source::SourceSpec;
use switchyard_engine::delivery::{DispatchConfig, Dispatcher, Publisher};
use switchyard_engine::endpoints::{EndpointCatalog, EndpointError};
use switchyard_engine::fanout::Fanout;
use switchyard_engine::housekeeping::Housekeeping;
use switchyard_engine::intake::{GroupCommit, Intake, IntakeWriter, WriterCloser};
use switchyard_engine::outbound::{OutboundClient, OutboundConfig};
use switchyard_engine::sources::{CatalogError, SourceCatalog};
use switchyard_jq::Jq;
use switchyard_store::{ApiKeyRow, Store, StoreError};
use tokio::net::TcpListener;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub catalog: Arc<SourceCatalog>,
    pub intake: Arc<Intake>,
    pub endpoints: Arc<EndpointCatalog>,
    pub publisher: Publisher,
    pub dispatcher: Dispatcher,
}

/// What the application needs besides a listener.
pub struct AppConfig {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    /// Sources declared in the config file, applied idempotently at start-up.
    pub sources: Vec<SourceSpec>,
    /// Endpoints declared in the config file (with an optional signing secret), found by name
    /// and applied idempotently at start-up.
    pub endpoints: Vec<(EndpointSpec, Option<String>)>,
    /// When set, an admin key with exactly this value exists after start-up.
    pub bootstrap_key: Option<String>,
    pub group_commit: GroupCommit,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How often sources are reloaded to see other nodes' changes.
    pub source_refresh: Duration,
    /// Serve HTTPS with this configuration (see [`tls::load_config`]); plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Timeouts and the SSRF allow-list of the outbound client.
    pub outbound: OutboundConfig,
    pub dispatch: DispatchConfig,
    /// Header-read and idle deadlines and the connection cap for clients.
    pub connections: connections::ConnectionLimits,
    /// `--retention-days`: how long anything stored is kept unless its source or endpoint says.
    pub retention_days: u32,
    /// How often housekeeping (retention, key expiry) runs.
    pub housekeeping_every: Duration,
    /// "Now" for housekeeping and refusal windows; tests pass a controlled clock.
    pub clock: Arc<dyn switchyard_core::time::Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("source {name:?} in the config: {source}")]
    ConfigSource { name: String, source: CatalogError },
    #[error("endpoint {name:?} in the config: {source}")]
    ConfigEndpoint { name: String, source: EndpointError },
    #[error("sources: {0}")]
    Catalog(#[from] CatalogError),
    #[error("endpoints: {0}")]
    Endpoints(#[from] EndpointError),
    #[error("{0}")]
    Outbound(String),
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    writer_task: tokio::task::JoinHandle<()>,
    writer_closer: WriterCloser,
    shutdown_grace: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    connection_limits: connections::ConnectionLimits,
    dispatcher_task: tokio::task::JoinHandle<()>,
    stop_dispatcher: tokio::sync::watch::Sender<bool>,
}

impl Application {
    pub async fn build(cfg: AppConfig, listener: TcpListener) -> Result<Self, StartupError> {
        cfg.store.migrate().await?;
        let catalog = SourceCatalog::load(cfg.store.clone(), cfg.master_key.clone()).await?;
        for spec in cfg.sources {
            let name = spec.name.clone();
            catalog
                .upsert(spec)
                .await
                .map_err(|source| StartupError::ConfigSource { name, source })?;
        }
        if let Some(key) = &cfg.bootstrap_key {
            ensure_admin_key(cfg.store.as_ref(), key).await?;
        }
        catalog.spawn_refresher(cfg.source_refresh);
        let (writer, writer_closer, writer_task) = IntakeWriter::spawn(cfg.store.clone(), cfg.group_commit);
        let jq = Jq::new(2, switchyard_jq::DEFAULT_BUDGET);
        let endpoints = EndpointCatalog::load(cfg.store.clone(), cfg.master_key.clone()).await?;
        for (spec, secret) in cfg.endpoints {
            let name = spec.name.clone().unwrap_or_default();
            match endpoints.apply_declared(spec, secret).await {
                Ok(true) => tracing::info!(endpoint = %name, "endpoint applied from the config file"),
                Ok(false) => {}
                Err(source) => return Err(StartupError::ConfigEndpoint { name, source }),
            }
        }
        endpoints.spawn_refresher(cfg.source_refresh);
        let client = OutboundClient::new(&cfg.outbound).map_err(StartupError::Outbound)?;
        let (stop_dispatcher, stopped) = tokio::sync::watch::channel(false);
        let (notices, mut notices_rx) = tokio::sync::mpsc::unbounded_channel();
        let (dispatcher, dispatcher_task) = Dispatcher::start(
            cfg.store.clone(),
            endpoints.clone(),
            client,
            cfg.dispatch,
            Some(notices),
            stopped,
        );
        // One fan-out for every producer of events: intake, publish, operational events.
        let fanout = Fanout::new(endpoints.clone(), jq.clone(), dispatcher.clone());
        let intake = Arc::new(Intake::new(
            writer.clone(),
            catalog.clone(),
            jq,
            fanout.clone(),
            cfg.clock.clone(),
        ));
        spawn_refusal_flush(&intake);
        let publisher = Publisher::new(writer, fanout);
        // Events about the engine itself (an endpoint disabled) are published like any other.
        let operational = publisher.clone();
        tokio::spawn(async move {
            while let Some(ev) = notices_rx.recv().await {
                let request_id = new_id(IdKind::Request);
                if let Err(e) = operational.publish(ev.event_type, &ev.payload, &request_id).await {
                    tracing::error!(error = %e, event_type = ev.event_type, "cannot publish an operational event");
                }
            }
        });
        let state = AppState {
            store: cfg.store,
            master_key: cfg.master_key,
            catalog,
            intake,
            endpoints,
            publisher,
            dispatcher,
        };
        Housekeeping {
            store: state.store.clone(),
            clock: cfg.clock,
            default_days: cfg.retention_days,
        }
        .spawn(cfg.housekeeping_every);
        Ok(Application {
            listener,
            state,
            writer_task,
            writer_closer,
            shutdown_grace: cfg.shutdown_grace,
            tls: cfg.tls,
            connection_limits: cfg.connections,
            dispatcher_task,
            stop_dispatcher,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then stops accepting, gives in-flight requests up to the
    /// grace period, and waits for every acknowledged write to be committed.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Application {
            listener,
            state,
            writer_task,
            writer_closer,
            shutdown_grace,
            tls,
            connection_limits,
            dispatcher_task,
            stop_dispatcher,
        } = self;
        let state_intake = state.intake.clone();
        let router = routes::router(state, tls.is_some());
        match tls {
            Some(config) => {
                serve(
                    tls::TlsListener::new(listener, config)?,
                    router,
                    connection_limits,
                    shutdown,
                    shutdown_grace,
                )
                .await?
            }
            None => serve(listener, router, connection_limits, shutdown, shutdown_grace).await?,
        }
        // A flood's count must not be lost with the process.
        state_intake.flush_refusals(true);
        // Connections that outlived the grace period may still hold writer handles; tell the
        // writer to commit what is queued and stop either way.
        writer_closer.close();
        if tokio::time::timeout(Duration::from_secs(10), writer_task)
            .await
            .is_err()
        {
            tracing::error!("intake writer did not drain within 10 s");
        }
        // Sends in flight finish (bounded by the outbound timeout) and are recorded; claims not
        // yet started are given back when their leases expire.
        let _ = stop_dispatcher.send(true);
        if tokio::time::timeout(Duration::from_secs(30), dispatcher_task)
            .await
            .is_err()
        {
            tracing::error!("dispatcher did not stop within 30 s; its leases will expire");
        }
        Ok(())
    }
}

/// Serves `router` on `listener` until `shutdown`, then drains for at most `grace`.
async fn serve<A: connections::Accept>(
    listener: A,
    router: axum::Router,
    limits: connections::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = fired_tx.send(());
    };
    let server = connections::serve(listener, router, limits, signal);
    let deadline = async move {
        if fired_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = server => Ok(()),
        () = deadline => {
            tracing::warn!("shutdown grace period over; abandoning open connections");
            Ok(())
        }
    }
}

/// Ends refusal windows on time even when no refusal follows a flood (see `intake/refusals.rs`).
fn spawn_refusal_flush(intake: &Arc<Intake>) {
    let weak = Arc::downgrade(intake);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let Some(intake) = weak.upgrade() else { return };
            intake.flush_refusals(false);
        }
    });
}

/// Makes sure an admin key with exactly `key` exists (idempotent across restarts).
pub async fn ensure_admin_key(store: &dyn Store, key: &str) -> Result<(), StoreError> {
    if key.len() < 24 {
        tracing::warn!(
            "SWITCHYARD_BOOTSTRAP_KEY is shorter than 24 characters; use a long random value outside development"
        );
    }
    let hash = hash_key(key);
    if store
        .api_key_by_hash(&hash)
        .await?
        .is_some_and(|k| k.revoked_at.is_none())
    {
        return Ok(());
    }
    let row = ApiKeyRow {
        id: new_id(IdKind::ApiKey),
        name: "bootstrap".into(),
        scope: Scope::Admin.as_str().into(),
        hash,
        hint: key_hint(key),
        created_at: switchyard_core::time::now_micros(),
        revoked_at: None,
    };
    match store.insert_api_key(&row).await {
        // Revoked earlier with the same value: the operator asked for it to exist; a new row
        // cannot reuse the hash, so report instead of silently failing.
        Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(
            "SWITCHYARD_BOOTSTRAP_KEY names a key that was revoked; choose a new value".into(),
        )),
        other => other,
    }
}
