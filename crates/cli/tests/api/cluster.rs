//! Two `switchyard serve` processes on one PostgreSQL database share the delivery work: 5,000
//! published events each reach the receiver, no `webhook-id` is ever being delivered twice at
//! the same time, and when one node is SIGKILLed mid-delivery its leased deliveries are finished
//! by the other, with the same `webhook-id`; and a circuit breaker opened by one node holds the
//! other too. PostgreSQL only: SQLite is one process by design.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_core::endpoint::DEFAULT_MAX_CONCURRENCY;
use switchyard_core::secrets::MasterKey;
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};

use crate::process::start_with;
use switchyard_testkit::app::ADMIN_KEY;
use switchyard_testkit::receiver::{Receiver, Reply};

const EVENTS: usize = 5000;

async fn post(http: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    http.post(url).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_deliveries_and_survive_a_sigkill() {
    let Some(base) = postgres_base_url() else { return };
    switchyard::install_crypto_provider();
    let db = fresh_postgres_database(&base).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    // Short leases so the survivor takes over quickly; attempts are far shorter still.
    let args = [
        "--allow-destinations",
        "127.0.0.0/8",
        "--outbound-timeout",
        "3",
        "--delivery-lease",
        "5",
    ];
    let a = start_with(&db, dir.path(), &key, &args);
    let mut b = start_with(&db, dir.path(), &key, &args);
    let rx = Receiver::start().await;
    // Answers slow enough that each node always has deliveries in flight (so the kill lands
    // mid-delivery) and that a duplicate in flight would overlap and be seen.
    rx.script("/hook", vec![Reply::Slow(20)]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ep = post(
        &http,
        format!("{}/v1/endpoints", a.base),
        json!({"url": rx.url("/hook")}),
    )
    .await;
    assert_eq!(ep.status(), 201);
    // Node B learns of the endpoint from a notification (or, failing that, its 2 s refresh);
    // until then its publishes fan out to nothing. Probe through B until one is delivered.
    let mut probes = Vec::new();
    loop {
        let r = post(
            &http,
            format!("{}/v1/events", b.base),
            json!({"type": "probe", "payload": {}}),
        )
        .await;
        let v: Value = r.json().await.unwrap();
        if v["deliveries"] == 1 {
            probes.push(v["id"].as_str().unwrap().to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Publish through both nodes at once, while answers are slow enough that a backlog builds
    // and more deliveries are in progress than one node may have (16 per endpoint): node B
    // surely holds some when it is killed.
    rx.script("/hook", vec![Reply::Slow(500)]);
    let bases = [a.base.clone(), b.base.clone()];
    let publish = futures::stream::iter(0..EVENTS)
        .map(|i| {
            let (http, url) = (http.clone(), format!("{}/v1/events", bases[i % 2]));
            async move {
                let r = post(&http, url, json!({"type": "load.test", "payload": {"n": i}})).await;
                assert_eq!(r.status(), 202);
                r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(32);
    use futures::StreamExt;
    let mut published: Vec<String> = publish.collect().await;
    assert_eq!(published.len(), EVENTS);
    published.extend(probes);

    // Kill node B mid-delivery, then let the receiver answer quickly again.
    let started = Instant::now();
    while rx.in_progress() <= DEFAULT_MAX_CONCURRENCY as usize {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "both nodes have deliveries in flight"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.child.kill().unwrap(); // SIGKILL
    b.child.wait().unwrap();
    rx.script("/hook", vec![Reply::Slow(20)]);

    // Everything arrives, through node A alone from here on.
    let deadline = Instant::now() + Duration::from_secs(120);
    let expected: HashSet<&str> = published.iter().map(String::as_str).collect();
    loop {
        let got: HashSet<String> = rx
            .received("/hook")
            .into_iter()
            .map(|r| r.headers["webhook-id"].clone())
            .collect();
        if expected.iter().all(|id| got.contains(*id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} webhook-ids arrived",
            expected.iter().filter(|id| got.contains(**id)).count(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rx.concurrent_duplicates(),
        0,
        "no webhook-id was delivered twice at the same time"
    );
    // Every delivery is recorded as succeeded, the ones B held included.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = get(&http, format!("{}/v1/deliveries?status=pending&limit=10", a.base)).await;
        if pending["data"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "deliveries left pending: {pending}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let total = rx.received("/hook").len();
    assert!(
        total > expected.len(),
        "node B died with deliveries in flight, and node A sent them again"
    );
    eprintln!(
        "two-node run: {} events, {total} requests ({} sent again after the kill)",
        expected.len(),
        total - expected.len()
    );
    drop(a);
    drop_postgres_database(&base, &db).await;
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    switchyard_testkit::app::get_json(http, url, ADMIN_KEY).await
}

async fn circuit(http: &reqwest::Client, base: &str, endpoint: &str) -> Value {
    get(http, format!("{base}/v1/endpoints/{endpoint}")).await["circuit"].clone()
}

/// Publishes `n` events through the node at `base`, each accepted.
async fn publish_many(http: &reqwest::Client, base: &str, n: usize) {
    for i in 0..n {
        let r = post(
            http,
            format!("{base}/v1/events"),
            json!({"type": "t", "payload": {"n": i}}),
        )
        .await;
        assert_eq!(r.status(), 202);
    }
}

/// Node A sees the receiver fail until its breaker opens; node B, started afterwards, shows the
/// breaker open and sends nothing to the receiver either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_opened_on_one_node_holds_the_other() {
    let Some(base) = postgres_base_url() else { return };
    switchyard::install_crypto_provider();
    let db = fresh_postgres_database(&base).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let args = ["--allow-destinations", "127.0.0.0/8"];
    let a = start_with(&db, dir.path(), &key, &args);
    let rx = Receiver::start().await;
    rx.script("/down", vec![Reply::Status(503, vec![])]);
    let http = reqwest::Client::new();
    let ep: Value = post(
        &http,
        format!("{}/v1/endpoints", a.base),
        json!({"url": rx.url("/down")}),
    )
    .await
    .json()
    .await
    .unwrap();
    let ep = ep["id"].as_str().unwrap().to_string();
    publish_many(&http, &a.base, 12).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while circuit(&http, &a.base, &ep).await["state"] != "open" {
        assert!(
            Instant::now() < deadline,
            "node A's breaker opened after 10 failures in a row"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let until = circuit(&http, &a.base, &ep).await["until"].clone();

    let b = start_with(&db, dir.path(), &key, &args);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = circuit(&http, &b.base, &ep).await;
        if c["state"] == "open" {
            assert_eq!(c["until"], until, "the same open period on both nodes");
            break;
        }
        assert!(Instant::now() < deadline, "node B adopted the open breaker: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = rx.received("/down").len();
    publish_many(&http, &b.base, 5).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rx.received("/down").len(),
        sent,
        "no node calls the receiver while the breaker is open"
    );
    let pending = get(
        &http,
        format!("{}/v1/deliveries?status=pending&endpoint={ep}&limit=100", b.base),
    )
    .await;
    assert_eq!(
        pending["data"].as_array().unwrap().len(),
        17,
        "nothing is lost: all wait for the breaker"
    );

    // When the open period ends, both nodes go half-open, and the cluster sends one probe, not
    // one per node. Ordering evidence: once both nodes show the breaker open again after that
    // probe failed (the same, longer period), the receiver has seen exactly one more request —
    // a second node's probe would have been sent before that node reopened.
    let deadline = Instant::now() + Duration::from_secs(90);
    let reopened = loop {
        let (ca, cb) = (circuit(&http, &a.base, &ep).await, circuit(&http, &b.base, &ep).await);
        if ca["state"] == "open" && cb["state"] == "open" && ca["until"] != until && ca["until"] == cb["until"] {
            break ca;
        }
        assert!(
            Instant::now() < deadline,
            "the probe failed and both nodes reopened: {ca} {cb}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        rx.received("/down").len(),
        sent + 1,
        "one half-open probe for the whole cluster (breaker now {reopened})"
    );
    drop((a, b));
    drop_postgres_database(&base, &db).await;
}
