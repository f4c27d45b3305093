//! The program, assembled once from its configuration and started once: storage prepared
//! (migrations, the config file's sources and endpoints, the bootstrap key), the intake writer,
//! the catalogs, the jq pool, the one fan-out every producer of events goes through, the one
//! leased-job runner with its kinds (deliveries, flow runs), and housekeeping. The HTTP server only routes to what this holds.
//!
//! Invariant: everything that holds work in memory is owned here, so [`Engine::shutdown`] is the
//! one place that commits what intake acknowledged and lets sends in flight finish.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::apikey::{Scope, hash_key, key_hint};
use switchyard_core::declared::Declared;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::secrets::MasterKey;
use switchyard_core::time::Clock;
use switchyard_jq::Jq;
use switchyard_store::{ApiKeyRow, JobKind, Store, StoreError};

use crate::alerts::{AlertBook, AlertsConfig, HealthTally};
use crate::api_keys::ApiKeys;
use crate::declared;
use crate::declared::{Applier, ApplyOptions, Catalogs, DeclaredError};
use crate::delivery::{DispatchConfig, Dispatcher, Publisher};
use crate::destinations::DestinationCatalog;
use crate::destinations::oauth2::TokenCache;
use crate::endpoints::{EndpointCatalog, EndpointError};
use crate::fanout::Fanout;
use crate::flows::{FlowCatalog, FlowError, FlowRunner, Rehearser, RunnerConfig, RunnerDeps, RunnerHandle};
use crate::housekeeping::Housekeeping;
use crate::intake::{GroupCommit, Intake, IntakeWriter, WriterCloser};
use crate::jobs::JobRunner;
use crate::outbound::{OutboundClient, OutboundConfig};
use crate::sources::{CatalogError, SourceCatalog};
use crate::writer_thread::WriterThread;

/// What the engine is built from.
pub struct EngineConfig {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    /// What the config file declares (sources, endpoints, destinations, flows, alerts, each
    /// found by name), reconciled at start-up like `switchyard apply` without pruning.
    pub declared: Declared,
    pub runner: RunnerConfig,
    /// When set, an admin key with exactly this value exists after start-up.
    pub bootstrap_key: Option<String>,
    pub group_commit: GroupCommit,
    /// How often sources and endpoints are reloaded to see other nodes' changes.
    pub source_refresh: Duration,
    /// Timeouts and the SSRF allow-list of the outbound client.
    pub outbound: OutboundConfig,
    pub dispatch: DispatchConfig,
    /// `--retention-days`: how long anything stored is kept unless its source or endpoint says.
    pub retention_days: u32,
    /// How often housekeeping (retention, key expiry) runs.
    pub housekeeping_every: Duration,
    /// "Now" for housekeeping and refusal windows; tests pass a controlled clock.
    pub clock: Arc<dyn Clock>,
    /// Alert rules from the config file, the SMTP server, the dashboard's address.
    pub alerts: AlertsConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("config file: {0}")]
    Config(DeclaredError),
    #[error("sources: {0}")]
    Catalog(#[from] CatalogError),
    #[error("endpoints: {0}")]
    Endpoints(#[from] EndpointError),
    #[error("flows: {0}")]
    Flows(#[from] FlowError),
    #[error("{0}")]
    Outbound(String),
    #[error("cannot start the store's writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
}

/// The running engine. Cloning the handles it exposes is cheap; the tasks stay owned here.
pub struct Engine {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub catalog: Arc<SourceCatalog>,
    pub intake: Arc<Intake>,
    pub endpoints: Arc<EndpointCatalog>,
    pub destinations: Arc<DestinationCatalog>,
    pub flows: Arc<FlowCatalog>,
    /// Wakes the flow runner.
    pub runner: RunnerHandle,
    /// What-if walks of flows (nothing stored, sent or published).
    pub rehearser: Rehearser,
    /// OAuth2 client-credentials tokens of destinations, shared by every call.
    pub tokens: Arc<TokenCache>,
    pub publisher: Publisher,
    pub dispatcher: Dispatcher,
    /// Alert rules and their state.
    pub alerts: Arc<AlertBook>,
    /// API keys as authentication reads and revokes them.
    pub api_keys: Arc<ApiKeys>,
    tasks: Tasks,
}

/// What [`Engine::shutdown`] stops, in order.
struct Tasks {
    writer: tokio::task::JoinHandle<()>,
    writer_closer: WriterCloser,
    /// The job runner: every lane stops claiming, lets its jobs finish and writes their results.
    jobs: tokio::task::JoinHandle<()>,
    stop_jobs: tokio::sync::watch::Sender<bool>,
    /// The alert monitor (stops with the jobs; stores its last health counts).
    monitor: tokio::task::JoinHandle<()>,
    /// Dropped last: the writer and the runner's write turns run on it.
    writer_thread: WriterThread,
}

impl Engine {
    pub async fn start(cfg: EngineConfig) -> Result<Engine, EngineError> {
        cfg.store.migrate().await?;
        let catalog = SourceCatalog::load(cfg.store.clone(), cfg.master_key.clone()).await?;
        let endpoints = EndpointCatalog::load(cfg.store.clone(), cfg.master_key.clone()).await?;
        let destinations = DestinationCatalog::new(cfg.store.clone(), cfg.master_key.clone());
        let flows = FlowCatalog::load(cfg.store.clone(), endpoints.clone()).await?;
        let alerts = AlertBook::new(cfg.store.clone(), cfg.master_key.clone());
        let catalogs = Catalogs {
            store: cfg.store.clone(),
            sources: catalog.clone(),
            endpoints: endpoints.clone(),
            destinations: destinations.clone(),
            flows: flows.clone(),
            alerts: alerts.clone(),
        };
        // The config file goes through the same reconciliation as `switchyard apply`.
        let plan = declared::reconcile(&catalogs, cfg.declared, ApplyOptions::default(), Applier::ConfigFile)
            .await
            .map_err(EngineError::Config)?;
        for change in &plan.changes {
            tracing::info!(kind = change.kind.as_str(), name = %change.name, "applied from the config file");
        }
        if let Some(key) = &cfg.bootstrap_key {
            ensure_admin_key(cfg.store.as_ref(), key).await?;
        }
        catalog.spawn_refresher(cfg.source_refresh);
        endpoints.spawn_refresher(cfg.source_refresh);
        flows.spawn_refresher(cfg.source_refresh);
        let writer_thread = WriterThread::start().map_err(EngineError::WriterThread)?;
        let writes = writer_thread.writes();
        let (writer, writer_closer, writer_task) = IntakeWriter::spawn(cfg.store.clone(), cfg.group_commit, &writes);
        let jq = Jq::new(2, switchyard_jq::DEFAULT_BUDGET);
        let client = OutboundClient::new(&cfg.outbound).map_err(EngineError::Outbound)?;
        let tokens = Arc::new(TokenCache::new(client.clone()));
        let health = Arc::new(HealthTally::default());
        // One leased-job runner; each job kind is a worker on its own lane of it.
        let api_keys = ApiKeys::new(cfg.store.clone(), cfg.clock.clone());
        let mut jobs = JobRunner::new(cfg.store.clone(), writes);
        jobs.follow(api_keys.clone());
        let run_lane = jobs.lane(JobKind::Run, cfg.runner.max_in_flight);
        let (notices, mut notices_rx) = tokio::sync::mpsc::unbounded_channel();
        let (dispatcher, delivery_worker) = Dispatcher::new(
            jobs.lane(JobKind::Delivery, cfg.dispatch.max_in_flight),
            cfg.store.clone(),
            endpoints.clone(),
            client.clone(),
            cfg.dispatch,
            Some(notices),
            health.clone(),
        );
        // One fan-out for every producer of events: intake, publish, manual runs, flow steps,
        // operational events.
        let runner_handle = RunnerHandle::new(run_lane.clone());
        let fanout = Fanout::new(
            endpoints.clone(),
            flows.clone(),
            jq.clone(),
            dispatcher.clone(),
            runner_handle.clone(),
        );
        let intake = Arc::new(Intake::new(
            writer.clone(),
            catalog.clone(),
            jq.clone(),
            fanout.clone(),
            cfg.clock.clone(),
            health.clone(),
        ));
        spawn_refusal_flush(&intake);
        let publisher = Publisher::new(writer, fanout);
        let (flow_worker, rehearser) = FlowRunner::worker(
            RunnerDeps {
                store: cfg.store.clone(),
                flows: flows.clone(),
                destinations: destinations.clone(),
                endpoints: endpoints.clone(),
                tokens: tokens.clone(),
                client: client.clone(),
                publisher: publisher.clone(),
                jq,
                guards: Default::default(),
                config: cfg.runner,
                health: health.clone(),
            },
            run_lane,
        );
        let (stop_jobs, stopped) = tokio::sync::watch::channel(false);
        let notification_lane = jobs.lane(JobKind::Notification, cfg.alerts.max_in_flight);
        let (monitor, notification_worker) = crate::alerts::start(
            cfg.alerts,
            cfg.store.clone(),
            alerts.clone(),
            health,
            notification_lane,
            client,
            stopped.clone(),
        );
        // Cron triggers: every node looks; a tick's dedup key makes it one run.
        crate::flows::Scheduler::new(flows.clone(), cfg.store.clone(), publisher.clone(), cfg.clock.clone())
            .spawn(stopped.clone());
        let jobs_task = jobs.start(vec![delivery_worker, flow_worker, notification_worker], stopped);
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
        Housekeeping {
            store: cfg.store.clone(),
            clock: cfg.clock,
            default_days: cfg.retention_days,
        }
        .spawn(cfg.housekeeping_every);
        // Counters recorded from here on show on `/metrics`.
        crate::metrics::install();
        Ok(Engine {
            api_keys,
            store: cfg.store,
            master_key: cfg.master_key,
            catalog,
            intake,
            endpoints,
            destinations,
            flows,
            runner: runner_handle,
            rehearser,
            tokens,
            publisher,
            dispatcher,
            alerts,
            tasks: Tasks {
                writer: writer_task,
                writer_closer,
                jobs: jobs_task,
                stop_jobs,
                monitor,
                writer_thread,
            },
        })
    }

    /// After the server stopped taking requests: commits every acknowledged write, then lets
    /// sends in flight finish (bounded by the outbound timeout) and be recorded; claims not yet
    /// started are given back when their leases expire.
    pub async fn shutdown(self) {
        // A flood's count must not be lost with the process.
        self.intake.flush_refusals(true);
        // Connections that outlived the grace period may still hold writer handles; tell the
        // writer to commit what is queued and stop either way.
        self.tasks.writer_closer.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.writer)
            .await
            .is_err()
        {
            tracing::error!("intake writer did not drain within 10 s");
        }
        let _ = self.tasks.stop_jobs.send(true);
        if tokio::time::timeout(Duration::from_secs(35), self.tasks.jobs)
            .await
            .is_err()
        {
            tracing::error!("the job runner did not stop within 35 s; its leases will expire");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.monitor).await;
        drop(self.tasks.writer_thread);
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
