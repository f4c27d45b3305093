//! A flow run survives SIGKILL of the built binary mid-step (SPEC §7): after a restart on the
//! same database the run resumes at the interrupted step — the completed step is never executed
//! again, the interrupted call is repeated with the same `Idempotency-Key` — and succeeds. On
//! SQLite and, when configured, PostgreSQL. With two PostgreSQL nodes, runs are shared without
//! any step running twice at once, and a killed node's runs are finished by the other.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_testkit::app::{ADMIN_KEY, eventually, get_json};
use switchyard_testkit::receiver::{Receiver, Reply};

use crate::process::start_config_env;

/// Short leases so a restarted or surviving node takes over quickly.
const ARGS: [&str; 6] = [
    "--allow-destinations",
    "127.0.0.0/8",
    "--outbound-timeout",
    "1",
    "--delivery-lease",
    "3",
];

fn config(rx: &Receiver) -> String {
    format!(
        r#"
sources:
  - name: orders
    verify: {{scheme: none}}
destinations:
  - name: api
    base_url: {base}
    timeout_seconds: 1
    max_concurrency: 64
flows:
  - name: two-steps
    trigger: {{source: orders}}
    steps:
      - id: one
        http: {{destination: api, path: /one, body: '{{n: .payload.n}}'}}
      - id: two
        http: {{destination: api, path: /two, body: '{{n: .payload.n, one: .steps.one.output.status}}'}}
        retry: {{schedule_seconds: [0, 0, 0, 0, 0], max_age_seconds: 600}}
"#,
        base = rx.url("")
    )
}

async fn post_order(http: &reqwest::Client, base: &str, n: usize) -> String {
    let resp = http
        .post(format!("{base}/in/orders"))
        .json(&json!({"n": n}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn run_of(http: &reqwest::Client, base: &str, event_id: &str) -> Value {
    let page = get_json(http, format!("{base}/v1/runs?event={event_id}"), ADMIN_KEY).await;
    let id = page["data"][0]["id"].as_str().unwrap_or_default().to_string();
    get_json(http, format!("{base}/v1/runs/{id}"), ADMIN_KEY).await
}

async fn crash_mid_step_resumes_without_repeating_completed_steps(db_url: &str) {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let rx = Receiver::start().await;
    // The second step's first call never returns; the node dies while it waits.
    rx.script("/two", vec![Reply::Hang, Reply::Json(200, json!({"done": true}))]);
    let cfg = config(&rx);
    let mut server = start_config_env(db_url, dir.path(), &key, &ARGS, &cfg, &[]);
    let http = reqwest::Client::new();
    let event = post_order(&http, &server.base, 7).await;
    rx.wait_for("/two", 1, Duration::from_secs(15)).await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let restarted = start_config_env(db_url, dir.path(), &key, &ARGS, &cfg, &[]);
    let base = restarted.base.clone();
    eventually("the run resumes and succeeds", || {
        let (http, base, event) = (http.clone(), base.clone(), event.clone());
        async move { run_of(&http, &base, &event).await["status"] == "succeeded" }
    })
    .await;
    let run = run_of(&http, &base, &event).await;
    assert_eq!(rx.received("/one").len(), 1, "the completed step ran once: {run}");
    let two = rx.received("/two");
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].headers["idempotency-key"], two[1].headers["idempotency-key"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&two[1].body).unwrap(),
        json!({"n": 7, "one": 200})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_crash_mid_step_resumes_without_repeating_completed_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("crash.db").display());
    crash_mid_step_resumes_without_repeating_completed_steps(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crash_mid_step_resumes_without_repeating_completed_steps() {
    let Some(base) = postgres_base_url() else { return };
    let db = fresh_postgres_database(&base).await.unwrap();
    crash_mid_step_resumes_without_repeating_completed_steps(&db).await;
    drop_postgres_database(&base, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_runs_and_take_over_a_dead_nodes_runs() {
    let Some(pg) = postgres_base_url() else { return };
    switchyard::install_crypto_provider();
    let db = fresh_postgres_database(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let rx = Receiver::start().await;
    // Slow answers keep calls in flight on both nodes, so a duplicate call would overlap.
    rx.script("/one", vec![Reply::Slow(30)]);
    rx.script("/two", vec![Reply::Slow(30)]);
    let cfg = config(&rx);
    let a = start_config_env(&db, dir.path(), &key, &ARGS, &cfg, &[]);
    let mut b = start_config_env(&db, dir.path(), &key, &ARGS, &cfg, &[]);
    let http = reqwest::Client::new();
    const RUNS: usize = 200;
    let mut events = Vec::new();
    for n in 0..RUNS {
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        events.push(post_order(&http, base, n).await);
    }
    // Kill B while it holds runs in flight; A finishes them after their leases expire.
    rx.wait_for("/two", 20, Duration::from_secs(30)).await;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let base = a.base.clone();
    eventually("every run succeeds", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let page = get_json(&http, format!("{base}/v1/runs?status=succeeded&limit=500"), ADMIN_KEY).await;
            page["data"].as_array().is_some_and(|d| d.len() == RUNS)
        }
    })
    .await;
    // Each step's key reached the receiver; a key twice only for a call cut by the kill, and
    // never two calls with one key at the same time.
    assert_eq!(rx.concurrent_duplicates(), 0);
    for path in ["/one", "/two"] {
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for r in rx.received(path) {
            *by_key.entry(r.headers["idempotency-key"].clone()).or_default() += 1;
        }
        assert_eq!(by_key.len(), RUNS, "{path}: one key per run");
        let repeated = by_key.values().filter(|n| **n > 1).count();
        assert!(
            repeated <= 64,
            "{path}: only calls in flight on the killed node repeat ({repeated})"
        );
    }
    drop(a);
    drop_postgres_database(&pg, &db).await;
}

/// A call longer than the run lease (`--delivery-lease 3`, the destination allows 10 s, the API
/// answers in 5 s): the worker extends its lease before calling, so the run is not claimed
/// again mid-call and the API sees one call, never two at once.
async fn a_call_longer_than_the_lease_keeps_its_run(db_url: &str) {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let rx = Receiver::start().await;
    rx.script("/slow", vec![Reply::Slow(5_000)]);
    let cfg = format!(
        r#"
sources:
  - name: orders
    verify: {{scheme: none}}
destinations:
  - name: api
    base_url: {base}
    timeout_seconds: 10
flows:
  - name: slow
    trigger: {{source: orders}}
    steps:
      - id: call
        http: {{destination: api, path: /slow, body: '.payload'}}
"#,
        base = rx.url("")
    );
    let server = start_config_env(db_url, dir.path(), &key, &ARGS, &cfg, &[]);
    let http = reqwest::Client::new();
    let event = post_order(&http, &server.base, 1).await;
    let base = server.base.clone();
    eventually("the run succeeds", || {
        let (http, base, event) = (http.clone(), base.clone(), event.clone());
        async move { run_of(&http, &base, &event).await["status"] == "succeeded" }
    })
    .await;
    assert_eq!(rx.received("/slow").len(), 1, "one call");
    assert_eq!(rx.concurrent_duplicates(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_call_longer_than_the_lease_keeps_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lease.db").display());
    a_call_longer_than_the_lease_keeps_its_run(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_call_longer_than_the_lease_keeps_its_run() {
    let Some(base) = postgres_base_url() else { return };
    let db = fresh_postgres_database(&base).await.unwrap();
    a_call_longer_than_the_lease_keeps_its_run(&db).await;
    drop_postgres_database(&base, &db).await;
}
