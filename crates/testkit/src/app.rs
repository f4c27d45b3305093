//! Test harness: the real application on an ephemeral port over a real SQLite file or a fresh
//! PostgreSQL database, plus a TCP proxy in front of PostgreSQL that tests can cut to simulate an
//! outage.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::network::Cidr;
use switchyard_core::secrets::MasterKey;
use switchyard_core::source::SourceSpec;
use switchyard_engine::delivery::DispatchConfig;
use switchyard_engine::intake::GroupCommit;
use switchyard_engine::outbound::OutboundConfig;
use switchyard_server::{AppConfig, Application, EngineConfig};
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::{Store, StoreOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const ADMIN_KEY: &str = "test_admin_key_0123456789abcdefghijkl";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Default)]
pub struct Options {
    /// Put a cuttable TCP proxy between the app and PostgreSQL.
    pub pg_proxy: bool,
    pub sources: Vec<SourceSpec>,
    pub group_commit: Option<GroupCommit>,
    pub outbound_timeout: Option<Duration>,
    pub connections: Option<switchyard_server::connections::ConnectionLimits>,
    pub retention_days: Option<u32>,
    pub housekeeping_every: Option<Duration>,
    /// Drives housekeeping and refusal windows.
    pub clock: Option<switchyard_core::time::ManualClock>,
    /// How long a flow run's claim lasts (crash takeover tests shorten it).
    pub run_lease: Option<Duration>,
    /// Alert rules and SMTP; judged every 200 ms, retried after 1 s, in tests.
    pub alerts: Option<switchyard_engine::alerts::AlertsConfig>,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    pub db_path: Option<PathBuf>,
    pub proxy: Option<PgProxy>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pg: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The app on `backend`, or `None` when that backend's suite is not enabled.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, opts: Options) -> Option<TestApp> {
        switchyard_engine::outbound::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let (url, pg, proxy, db_path) = match backend {
            Backend::Sqlite => {
                let path = dir.path().join("switchyard.db");
                (format!("sqlite://{}", path.display()), None, None, Some(path))
            }
            Backend::Postgres => {
                let base = postgres_base_url()?;
                let url = fresh_postgres_database(&base).await.expect("create a test database");
                let (app_url, proxy) = if opts.pg_proxy {
                    let proxy = PgProxy::start(&url).await;
                    (proxy.url.clone(), Some(proxy))
                } else {
                    (url.clone(), None)
                };
                (app_url, Some((base, url)), proxy, None)
            }
        };
        let store_opts = StoreOptions {
            acquire_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        };
        let store = switchyard_store::connect(&url, &store_opts).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public_url = format!("http://{}", listener.local_addr().unwrap());
        let alerts = opts.alerts.unwrap_or_else(|| switchyard_engine::alerts::AlertsConfig {
            every: Duration::from_millis(200),
            retry_schedule_seconds: vec![1, 1, 1],
            ..Default::default()
        });
        let app = Application::build(
            AppConfig {
                engine: EngineConfig {
                    store: store.clone(),
                    master_key: MasterKey::from_base64(&MasterKey::generate_base64()).unwrap(),
                    declared: switchyard_core::declared::Declared {
                        sources: opts.sources,
                        ..Default::default()
                    },
                    runner: switchyard_engine::flows::RunnerConfig {
                        idle_poll: Duration::from_millis(50),
                        lease: opts.run_lease.unwrap_or(Duration::from_secs(60)),
                        ..Default::default()
                    },
                    bootstrap_key: Some(ADMIN_KEY.into()),
                    group_commit: opts.group_commit.unwrap_or_default(),
                    source_refresh: Duration::from_secs(1),
                    outbound: OutboundConfig {
                        total_timeout: opts.outbound_timeout.unwrap_or(Duration::from_secs(2)),
                        // Test receivers listen on loopback.
                        allow_destinations: vec![Cidr::parse("127.0.0.0/8").unwrap()],
                        ..OutboundConfig::default()
                    },
                    dispatch: DispatchConfig {
                        idle_poll: Duration::from_millis(100),
                        ..DispatchConfig::default()
                    },
                    retention_days: opts.retention_days.unwrap_or(30),
                    housekeeping_every: opts.housekeeping_every.unwrap_or(Duration::from_secs(600)),
                    clock: match opts.clock {
                        Some(c) => Arc::new(c),
                        None => Arc::new(switchyard_core::time::SystemClock),
                    },
                    alerts: switchyard_engine::alerts::AlertsConfig { public_url, ..alerts },
                },
                shutdown_grace: Duration::from_secs(5),
                tls: None,
                connections: opts.connections.unwrap_or_default(),
            },
            listener,
        )
        .await
        .expect("application starts");
        let addr: SocketAddr = app.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Some(TestApp {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            store,
            backend,
            db_path,
            proxy,
            server: Some(server),
            shutdown: Some(tx),
            pg,
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /in/{source}` with a JSON body.
    pub async fn send(&self, source: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/in/{source}")))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn api_delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
    }

    /// Creates a source through the API and returns its JSON.
    pub async fn create_source(&self, body: Value) -> Value {
        let resp = self.api_post("/v1/sources", &body).await;
        assert_eq!(resp.status(), 201, "creating a source");
        resp.json().await.unwrap()
    }

    pub async fn create_key(&self, scope: &str) -> String {
        let resp = self.api_post("/v1/keys", &json!({"scope": scope, "name": "t"})).await;
        assert_eq!(resp.status(), 201);
        resp.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_string()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
        if let Some((base, url)) = self.pg.take() {
            // Drop runs inside the test's runtime; use a separate thread and runtime to clean up.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(drop_postgres_database(&base, &url));
            })
            .join();
        }
    }
}

/// Asserts the SPEC §4 error envelope and returns the error object.
pub async fn assert_envelope(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let header_id = resp
        .headers()
        .get("x-request-id")
        .expect("X-Request-Id header")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.expect("JSON error body");
    let err = body["error"].clone();
    assert_eq!(err["code"], code, "error code in {body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    assert_eq!(
        err["request_id"].as_str(),
        Some(header_id.as_str()),
        "request_id matches the header"
    );
    err
}

/// A TCP proxy to PostgreSQL that can be cut (refusing and dropping connections) and restored on
/// the same port.
pub struct PgProxy {
    pub url: String,
    addr: SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PgProxy {
    async fn start(db_url: &str) -> PgProxy {
        let (upstream, url_tail) = split_host(db_url);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = url_tail.replace("{HOST}", &addr.to_string());
        let proxy = PgProxy {
            url,
            addr,
            upstream,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Refuse new connections and cut open ones.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Accept connections again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind the proxy port");
        self.serve(listener);
    }
}

/// `postgres://user@host:port/db?x` → ("host:port", "postgres://user@{HOST}/db?x").
fn split_host(url: &str) -> (String, String) {
    let scheme_end = url.find("://").unwrap() + 3;
    let rest = &url[scheme_end..];
    let at = rest.find('@').map(|i| i + 1).unwrap_or(0);
    let host_end = rest[at..].find('/').map(|i| i + at).unwrap_or(rest.len());
    let host = &rest[at..host_end];
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    (
        host,
        format!("{}{}{{HOST}}{}", &url[..scheme_end], &rest[..at], &rest[host_end..]),
    )
}

/// Polls `check` until it holds. The 30 s limit only guards against a hang: nothing is asserted
/// about how long the wait takes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "{what}: never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET url` with `key`, as JSON (for servers run as child processes, which `TestApp` is not).
pub async fn get_json(http: &reqwest::Client, url: String, key: &str) -> Value {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
