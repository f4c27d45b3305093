//! The Switchyard HTTP application: routes and error mapping over an [`Engine`]. [`Application::build`]
//! starts the engine (storage, config sources and endpoints, bootstrap key, intake writer,
//! dispatcher, housekeeping — see `switchyard_engine::engine`) and binds the routes to a listener
//! the caller provides, so tests run the real server on port 0. [`Application::run`] serves until
//! the shutdown future resolves, then drains in-flight requests and shuts the engine down.

mod auth;
mod body_limit;
pub mod connections;
mod error;
mod extract;
mod idempotency;
pub mod openapi;
mod peer;
mod request_id;
mod routes;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::secrets::MasterKey;
use switchyard_engine::delivery::{Dispatcher, Publisher};
use switchyard_engine::destinations::DestinationCatalog;
use switchyard_engine::endpoints::EndpointCatalog;
pub use switchyard_engine::engine::{Engine, EngineConfig, EngineError as StartupError, ensure_admin_key};
use switchyard_engine::flows::{FlowCatalog, RunnerHandle};
use switchyard_engine::intake::Intake;
use switchyard_engine::sources::SourceCatalog;
use switchyard_store::Store;
use tokio::net::TcpListener;

/// Shared by every handler: the engine's handles.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub catalog: Arc<SourceCatalog>,
    pub intake: Arc<Intake>,
    pub endpoints: Arc<EndpointCatalog>,
    pub destinations: Arc<DestinationCatalog>,
    pub flows: Arc<FlowCatalog>,
    /// Wakes the flow runner (a retried run is due at once).
    pub runner: RunnerHandle,
    /// What-if walks of flows (`POST /v1/flows/{name}/test`).
    pub rehearser: switchyard_engine::flows::Rehearser,
    pub publisher: Publisher,
    pub dispatcher: Dispatcher,
    pub alerts: Arc<switchyard_engine::alerts::AlertBook>,
    pub api_keys: Arc<switchyard_engine::api_keys::ApiKeys>,
}

impl AppState {
    fn of(engine: &Engine) -> Self {
        AppState {
            store: engine.store.clone(),
            master_key: engine.master_key.clone(),
            catalog: engine.catalog.clone(),
            intake: engine.intake.clone(),
            endpoints: engine.endpoints.clone(),
            destinations: engine.destinations.clone(),
            flows: engine.flows.clone(),
            runner: engine.runner.clone(),
            rehearser: engine.rehearser.clone(),
            publisher: engine.publisher.clone(),
            dispatcher: engine.dispatcher.clone(),
            alerts: engine.alerts.clone(),
            api_keys: engine.api_keys.clone(),
        }
    }
}

/// What the application needs besides a listener: the engine's configuration and the HTTP
/// server's own.
pub struct AppConfig {
    pub engine: EngineConfig,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Serve HTTPS with this configuration (see [`tls::load_config`]); plain HTTP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Header-read and idle deadlines and the connection cap for clients.
    pub connections: connections::ConnectionLimits,
}

pub struct Application {
    listener: TcpListener,
    engine: Engine,
    shutdown_grace: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    connection_limits: connections::ConnectionLimits,
}

impl Application {
    pub async fn build(cfg: AppConfig, listener: TcpListener) -> Result<Self, StartupError> {
        let engine = Engine::start(cfg.engine).await?;
        Ok(Application {
            listener,
            engine,
            shutdown_grace: cfg.shutdown_grace,
            tls: cfg.tls,
            connection_limits: cfg.connections,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then stops accepting, gives in-flight requests up to the
    /// grace period, and shuts the engine down (every acknowledged write committed).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Application {
            listener,
            engine,
            shutdown_grace,
            tls,
            connection_limits,
        } = self;
        let router = routes::router(AppState::of(&engine), tls.is_some());
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
        engine.shutdown().await;
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
