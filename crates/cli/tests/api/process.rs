//! The built binary as a child process: crash safety under SIGKILL, graceful SIGTERM, start-up
//! errors and HTTPS; the helpers that start it (the CLI tests are in `cli_commands.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};

use switchyard_testkit::app::ADMIN_KEY;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

pub(crate) struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    /// A failed assertion must not leave the child running (it would hold the test's pipes).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `switchyard serve` on port 0 and waits for its start-up line to learn the address.
pub(crate) fn start(db_url: &str, dir: &Path, master_key: &str) -> Server {
    start_with(db_url, dir, master_key, &[])
}

pub(crate) fn start_with(db_url: &str, dir: &Path, master_key: &str, extra_args: &[&str]) -> Server {
    start_config(
        db_url,
        dir,
        master_key,
        extra_args,
        "sources:\n  - name: crash\n    verify: {scheme: none}\n",
    )
}

/// Starts `switchyard serve` with `config` as its config file.
pub(crate) fn start_config(
    db_url: &str,
    dir: &Path,
    master_key: &str,
    extra_args: &[&str],
    config_text: &str,
) -> Server {
    start_config_env(db_url, dir, master_key, extra_args, config_text, &[])
}

/// Starts `switchyard serve` with `config` as its config file and `env` in its environment
/// (what the file's `${…}` values read).
pub(crate) fn start_config_env(
    db_url: &str,
    dir: &Path,
    master_key: &str,
    extra_args: &[&str],
    config_text: &str,
    env: &[(&str, String)],
) -> Server {
    let config = dir.join("config.yaml");
    std::fs::write(&config, config_text).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .args(extra_args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SWITCHYARD_DATABASE_URL", db_url)
        .env("SWITCHYARD_BOOTSTRAP_KEY", ADMIN_KEY)
        .env("SWITCHYARD_MASTER_KEY", master_key)
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the switchyard binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if std::env::var("SWITCHYARD_TEST_SHOW_LOGS").is_ok() && (line.contains("WARN") || line.contains("ERROR")) {
                eprintln!("{line}");
            }
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "switchyard listening"
            {
                let _ = tx.send(v["listen"].as_str().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its start-up line");
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

/// ≥ 2,000 concurrent requests, SIGKILL mid-burst, restart: every acknowledged event is there,
/// byte for byte.
async fn crash_mid_burst_loses_no_acknowledged_event(db_url: &str) {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let mut server = start(db_url, dir.path(), &key);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Every worker keeps sending until a request fails, so the kill lands mid-burst by
    // construction: all of them are still sending when the server dies.
    const TOTAL: usize = 2400;
    let acked: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/in/crash", server.base);
    let tasks: Vec<_> = (0..TOTAL)
        .map(|i| {
            let (http, url, acked, count) = (http.clone(), url.clone(), acked.clone(), count.clone());
            tokio::spawn(async move {
                for round in 0.. {
                    let body = json!({"n": i, "round": round, "nonce": ulid::Ulid::new().to_string(), "pad": "x".repeat(i % 300)});
                    let Ok(resp) = http.post(&url).json(&body).send().await else {
                        return;
                    };
                    if resp.status() != 202 {
                        return;
                    }
                    let Ok(v) = resp.json::<Value>().await else {
                        return;
                    };
                    acked
                        .lock()
                        .unwrap()
                        .push((v["id"].as_str().unwrap().to_string(), body));
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let started = Instant::now();
    while count.load(Ordering::SeqCst) < TOTAL / 5 {
        // A hang guard, not a timing claim.
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the burst never got under way"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    // Each worker ends only when one of its requests fails: all of them were cut off by the kill.
    futures::future::join_all(tasks).await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= TOTAL / 5, "{} acks before the kill", acked.len());

    let mut server = start(db_url, dir.path(), &key);
    let checks = acked.into_iter().map(|(id, sent)| {
        let http = http.clone();
        let url = format!("{}/v1/events/{id}", server.base);
        async move {
            let resp = http.get(&url).bearer_auth(ADMIN_KEY).send().await.unwrap();
            assert_eq!(resp.status(), 200, "acknowledged event {id} survived");
            let event: Value = resp.json().await.unwrap();
            assert_eq!(event["payload"], sent, "event {id} is intact");
        }
    });
    futures::stream::iter(checks)
        .for_each_concurrent(32, |check| check)
        .await;
    terminate(&mut server);
}

/// SIGTERM and wait; returns the exit status.
pub(crate) fn terminate(server: &mut Server) -> std::process::ExitStatus {
    // SAFETY: kill(2) on a pid we spawned and have not yet reaped.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    server.child.wait().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_mid_burst_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    crash_mid_burst_loses_no_acknowledged_event(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_mid_burst_loses_no_acknowledged_event() {
    let Some(base) = postgres_base_url() else { return };
    let url = fresh_postgres_database(&base).await.unwrap();
    crash_mid_burst_loses_no_acknowledged_event(&url).await;
    drop_postgres_database(&base, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_zero() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut server = start(&url, dir.path(), &MasterKey::generate_base64());
    let http = reqwest::Client::new();
    for i in 0..20 {
        let resp = http
            .post(format!("{}/in/crash", server.base))
            .json(&json!({"i": i}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
    }
    let status = terminate(&mut server);
    assert!(status.success(), "exit 0 on SIGTERM, got {status:?}");
}

pub(crate) fn run(args: &[&str], env: &[(&str, &str)], dir: &Path) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("SWITCHYARD_MASTER_KEY")
        .env_remove("SWITCHYARD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn misconfiguration_fails_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "sources:\n  - name: gh\n    verify: {scheme: token, secrets: [\"${SWITCHYARD_TEST_UNSET_VAR}\"]}\n",
    )
    .unwrap();
    let out = run(
        &["serve", "--listen", "127.0.0.1:0", "--config", cfg.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SWITCHYARD_TEST_UNSET_VAR") && err.contains("sources[0].verify.secrets[0]"),
        "{err}"
    );

    let out = run(&["serve", "--database", "postgres://127.0.0.1:1/x"], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHYARD_MASTER_KEY must be set"));

    let out = run(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("SWITCHYARD_MASTER_KEY", "c2hvcnQ=")],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHYARD_MASTER_KEY is invalid"));

    std::fs::write(&cfg, "sources:\n  - name: Bad Name\n").unwrap();
    let out = run(
        &["serve", "--listen", "127.0.0.1:0", "--config", cfg.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("c.yaml:2:11: sources[0].name: must match"),
        "the fault is named at its line and column: {stderr}"
    );

    let out = run(&["serve", "--listen", "not-an-address"], &[], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on not-an-address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_pem_files_and_hsts() {
    switchyard::install_crypto_provider();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key) = (fixtures.join("cert.pem"), fixtures.join("key.pem"));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tls.db").display());
    let args = ["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    let mut server = start_with(&url, dir.path(), &MasterKey::generate_base64(), &args);
    let https = server.base.replace("http://127.0.0.1", "https://localhost");
    let root = reqwest::Certificate::from_pem(&std::fs::read(fixtures.join("ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(root).build().unwrap();
    let resp = client
        .get(format!("{https}/healthz"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let resp = client
        .post(format!("{https}/in/crash"))
        .json(&json!({"over": "tls"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(reqwest::get(format!("{}/healthz", server.base)).await.is_err());
    assert!(terminate(&mut server).success());

    let out = run(
        &["serve", "--listen", "127.0.0.1:0", "--tls-cert", cert.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert!(!out.status.success(), "a certificate without its key is refused");
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a pem").unwrap();
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            bogus.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
