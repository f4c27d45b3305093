//! Secrets never show: one scenario with known secret values — source secrets, an API key, an
//! endpoint's signing secret and header value, a destination's token and header value (echoed
//! back into a flow run's output by the called API), a redacted payload field, the master and bootstrap
//! keys and the database password — run against the real binary with debug logging. None of the
//! values (nor signatures made with them) may appear in a log line, in any API response other
//! than the one creation answer that shows a secret once, or in any error body. `--help` never
//! prints a secret environment value either.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;
use switchyard_core::source::VerifySpec;
use switchyard_core::verify::{Outgoing, sign};
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};

use crate::process::{BIN, Server};
use switchyard_testkit::app::eventually;

pub(crate) const BOOT: &str = "boot_SECRET_admin_0123456789abcdefgh";
const DB_PASSWORD: &str = "DbPw_SECRET_7731";
const STRIPE: &str = "whsec_STRIPE_SECRET_aaaa";
const TOKEN: &str = "TOKEN_SECRET_bbbb";
const HMAC: &str = "HMAC_SECRET_cccc";
const CARD: &str = "CARD_SECRET_4242";
const HEADER_VALUE: &str = "HDR_SECRET_dddd";
const DST_TOKEN: &str = "DST_TOKEN_SECRET_eeee";
const DST_HEADER: &str = "DST_HEADER_SECRET_ffff";

/// An HTTP server that answers every request with the request itself (as debugging receivers do).
fn echo_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                let body = String::from_utf8_lossy(&got).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// The built binary at debug logging, every stdout and stderr line collected in `logs`.
pub(crate) fn start(db_url: &str, dir: &Path, master: &str, logs: Arc<Mutex<Vec<String>>>) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-destinations",
            "127.0.0.0/8",
        ])
        .env("SWITCHYARD_DATABASE_URL", db_url)
        .env("SWITCHYARD_BOOTSTRAP_KEY", BOOT)
        .env("SWITCHYARD_MASTER_KEY", master)
        .env("RUST_LOG", "debug")
        .env_remove("SWITCHYARD_CONFIG")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the switchyard binary");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_logs = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            err_logs.lock().unwrap().push(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "switchyard listening"
            {
                let _ = tx.send(v["listen"].as_str().unwrap_or_default().to_string());
            }
            logs.lock().unwrap().push(line);
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("the start-up line");
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

/// Every answer the scenario read, except the creation answers that show a secret once.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn get(&mut self, http: &reqwest::Client, url: String) -> Value {
        let text = http
            .get(url)
            .bearer_auth(BOOT)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        self.0.push(text.clone());
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn keep(&mut self, resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        self.0.push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn signed(spec: Value, secret: &str, url: &str, body: &[u8]) -> Vec<(String, String)> {
    let spec: VerifySpec = serde_json::from_value(spec).unwrap();
    let ts = switchyard_core::time::now_micros() / 1_000_000;
    let out = Outgoing {
        body,
        timestamp: ts,
        id: "msg_s",
        url,
        method: "POST",
    };
    sign(&spec, secret, &out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_a_response_or_an_error() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate_base64();
    // On PostgreSQL (trust auth ignores the password) the URL carries one; SQLite has none.
    let pg = match postgres_base_url() {
        Some(base) => {
            let url = fresh_postgres_database(&base).await.unwrap();
            Some((base, url))
        }
        None => None,
    };
    let db_url = match &pg {
        Some((_, url)) => url.replacen(
            "postgres://postgres@",
            &format!("postgres://postgres:{DB_PASSWORD}@"),
            1,
        ),
        None => format!("sqlite://{}", dir.path().join("s.db").display()),
    };
    assert!(
        pg.is_none() || db_url.contains(DB_PASSWORD),
        "the test URL carries the password"
    );
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut server = start(&db_url, dir.path(), &master, logs.clone());
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let api = |p: &str| format!("{base}{p}");
    let mut seen = Seen::default();
    let mut shown_once = Vec::new();

    // Sources and an API key: their creation answers show the secret once (kept apart).
    let create = |path: &'static str, body: Value| {
        let http = http.clone();
        let url = api(path);
        async move {
            let resp = http.post(url).bearer_auth(BOOT).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 201, "{path}");
            resp.json::<Value>().await.unwrap()
        }
    };
    shown_once.push(
        create(
            "/v1/sources",
            json!({"name": "stripe", "verify": {"scheme": "stripe", "secrets": [STRIPE]}}),
        )
        .await,
    );
    shown_once.push(
        create(
            "/v1/sources",
            json!({"name": "tok", "verify": {"scheme": "token", "header": "X-Tok", "secrets": [TOKEN]}}),
        )
        .await,
    );
    let hmac_spec = json!({"scheme": "hmac", "header": "X-Acme-Mac", "secrets": [HMAC]});
    let hmac_source = create(
        "/v1/sources",
        json!({"name": "acme", "verify": hmac_spec, "redact": ["card"],
               "schema": {"type": "object", "properties": {"card": {"type": "integer"}}}}),
    )
    .await;
    shown_once.push(hmac_source.clone());
    let key = create("/v1/keys", json!({"scope": "read", "name": "reader"})).await;
    let api_key = key["key"].as_str().unwrap().to_string();
    shown_once.push(key);
    let rx_port = echo_server();
    let endpoint = create(
        "/v1/endpoints",
        json!({"url": format!("http://127.0.0.1:{rx_port}/hook"), "event_types": ["order.*"],
               "headers": {"X-Custom": HEADER_VALUE}}),
    )
    .await;
    let endpoint_secret = endpoint["secret"].as_str().unwrap().to_string();
    let endpoint_id = endpoint["id"].as_str().unwrap().to_string();
    shown_once.push(endpoint);

    // Intake: signed, token, and a bad token (its 401 body is scanned too).
    let stripe_body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let stripe_headers = signed(json!({"scheme": "stripe"}), STRIPE, &api("/in/stripe"), stripe_body);
    let mut req = http
        .post(api("/in/stripe"))
        .header("content-type", "application/json")
        .body(stripe_body.to_vec());
    for (k, v) in &stripe_headers {
        req = req.header(k, v);
    }
    let (status, stripe_event) = seen.keep(req.send().await.unwrap()).await;
    assert_eq!(status, 202);
    let resp = http
        .post(api("/in/tok"))
        .header("x-tok", TOKEN)
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.keep(resp).await.0, 202);
    let resp = http
        .post(api("/in/tok"))
        .header("x-tok", "wrong")
        .json(&json!({"a": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.keep(resp).await.0, 401);
    let card_body = format!(r#"{{"card":"{CARD}","n":"shown"}}"#);
    let hmac_headers = signed(hmac_spec.clone(), HMAC, &api("/in/acme"), card_body.as_bytes());
    let mut req = http
        .post(api("/in/acme"))
        .header("content-type", "application/json")
        .body(card_body.clone());
    for (k, v) in &hmac_headers {
        req = req.header(k, v);
    }
    let (status, card_event) = seen.keep(req.send().await.unwrap()).await;
    assert_eq!((status, card_event["status"].as_str()), (202, Some("quarantined")));
    let card_event_id = card_event["id"].as_str().unwrap().to_string();

    // Delivery to a receiver that echoes our request back into the attempt log.
    let publish = http
        .post(api("/v1/events"))
        .bearer_auth(BOOT)
        .json(&json!({"type": "order.created", "payload": {"n": 1}}))
        .send()
        .await
        .unwrap();
    let (status, published) = seen.keep(publish).await;
    assert_eq!(status, 202);
    let published_id = published["id"].as_str().unwrap().to_string();
    let deliveries_url = api(&format!("/v1/deliveries?event={published_id}"));
    eventually("the delivery succeeds", || {
        let (http, url) = (http.clone(), deliveries_url.clone());
        async move { switchyard_testkit::app::get_json(&http, url, BOOT).await["data"][0]["status"] == "succeeded" }
    })
    .await;
    let delivery = seen.get(&http, deliveries_url.clone()).await["data"][0].clone();
    let delivery_id = delivery["id"].as_str().unwrap().to_string();
    let attempts = seen
        .get(&http, api(&format!("/v1/deliveries/{delivery_id}/attempts")))
        .await;
    assert!(
        attempts.to_string().contains("order.created") || attempts.to_string().contains("webhook-id"),
        "the echo reached the attempt log: {attempts}"
    );

    // A flow calls a destination that echoes the request — credentials included — back into
    // the step's output: the run history must show them masked.
    let dst = create(
        "/v1/destinations",
        json!({"name": "echo", "base_url": format!("http://127.0.0.1:{rx_port}/api"),
               "auth": {"kind": "bearer", "token": DST_TOKEN}, "headers": {"X-Dst": DST_HEADER}}),
    )
    .await;
    seen.0.push(dst.to_string());
    create(
        "/v1/flows",
        json!({"name": "echoing", "trigger": {"manual": true},
               "steps": [{"id": "call", "http": {"destination": "echo", "path": "/x", "body": ".payload"}}]}),
    )
    .await;
    let resp = http
        .post(api("/v1/flows/echoing/runs"))
        .bearer_auth(BOOT)
        .json(&json!({"payload": {"n": 1}}))
        .send()
        .await
        .unwrap();
    let (status, started) = seen.keep(resp).await;
    assert_eq!(status, 202, "{started}");
    let run_url = api(&format!("/v1/runs/{}", started["id"].as_str().unwrap()));
    eventually("the flow run succeeds", || {
        let (http, url) = (http.clone(), run_url.clone());
        async move { switchyard_testkit::app::get_json(&http, url, BOOT).await["status"] == "succeeded" }
    })
    .await;
    let run = seen.get(&http, run_url).await;
    let echoed = run["steps"][0]["output"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        echoed.contains("authorization: bearer ********"),
        "the echo came back masked: {run}"
    );
    seen.get(&http, api("/v1/runs")).await;
    seen.get(&http, api("/v1/destinations/echo")).await;

    // Views of everything, a conflict, then the source renamed and deleted.
    for path in [
        "/v1/sources".to_string(),
        "/v1/sources/stripe".into(),
        "/v1/sources/tok".into(),
        "/v1/sources/acme".into(),
        "/v1/endpoints".into(),
        format!("/v1/endpoints/{endpoint_id}"),
        "/v1/keys".into(),
        "/v1/events?limit=100".into(),
        "/v1/receipts?limit=100".into(),
        format!("/v1/events/{}", stripe_event["id"].as_str().unwrap()),
        format!("/v1/events/{card_event_id}"),
        format!("/v1/events/{published_id}"),
        format!("/v1/deliveries/{delivery_id}"),
    ] {
        seen.get(&http, api(&path)).await;
    }
    let resp = http
        .post(api("/v1/sources"))
        .bearer_auth(BOOT)
        .json(&json!({"name": "stripe", "verify": {"scheme": "stripe", "secrets": [STRIPE]}}))
        .send()
        .await
        .unwrap();
    let (status, conflict) = seen.keep(resp).await;
    assert_eq!(status, 409, "{conflict}");
    let hmac_id = hmac_source["id"].as_str().unwrap().to_string();
    let resp = http
        .patch(api(&format!("/v1/sources/{hmac_id}")))
        .bearer_auth(BOOT)
        .json(&json!({"name": "acme-renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.keep(resp).await.0, 200);
    let renamed = seen.get(&http, api(&format!("/v1/events/{card_event_id}"))).await;
    assert_eq!(renamed["payload"]["card"], "[redacted]", "{renamed}");
    assert_eq!(renamed["payload"]["n"], "shown");
    let resp = http
        .delete(api(&format!("/v1/sources/{hmac_id}")))
        .bearer_auth(BOOT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let deleted = seen.get(&http, api(&format!("/v1/events/{card_event_id}"))).await;
    assert_eq!(
        deleted["payload"]["card"], "[redacted]",
        "redaction outlives the source: {deleted}"
    );
    assert_eq!(deleted["headers"]["x-acme-mac"], "[redacted]", "{deleted}");
    assert!(
        deleted["validation_errors"].to_string().contains("/card"),
        "the violation is named: {deleted}"
    );
    // The read key works, and its value shows nowhere after creation.
    let resp = http.get(api("/v1/events")).bearer_auth(&api_key).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // Stop, then scan everything the scenario saw.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let _ = server.child.wait();
    let logs = logs.lock().unwrap().join("\n");
    assert!(logs.contains("switchyard listening"), "logs were captured");
    let mut secrets = vec![
        BOOT.to_string(),
        master.clone(),
        STRIPE.into(),
        TOKEN.into(),
        HMAC.into(),
        CARD.into(),
        HEADER_VALUE.into(),
        api_key.clone(),
        endpoint_secret.clone(),
        DST_TOKEN.into(),
        DST_HEADER.into(),
    ];
    if pg.is_some() {
        secrets.push(DB_PASSWORD.into());
    }
    // Signatures made with the secrets are as good as the secrets for a replay.
    for (_, v) in stripe_headers.iter().chain(hmac_headers.iter()) {
        if v.len() > 16 {
            secrets.push(v.clone());
        }
    }
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret reached the log: {s}");
        for body in &seen.0 {
            assert!(!body.contains(s.as_str()), "a secret reached a response: {s} in {body}");
        }
    }
    // The creation answers were the only place each was shown.
    let once = serde_json::to_string(&shown_once).unwrap();
    for s in [STRIPE, TOKEN, HMAC, api_key.as_str(), endpoint_secret.as_str()] {
        assert!(once.contains(s), "{s} is shown once, on creation");
    }
    if let Some((base, url)) = pg {
        drop_postgres_database(&base, &url).await;
    }
}

#[test]
fn help_never_prints_a_secret_environment_value() {
    let db = format!("postgres://u:{DB_PASSWORD}@db.example/s");
    for args in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["keys", "list", "--help"],
        &["events", "list", "--help"],
        &["send", "--help"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env("SWITCHYARD_DATABASE_URL", &db)
            .env("SWITCHYARD_KEY", TOKEN)
            .env("SWITCHYARD_SEND_SECRET", HMAC)
            .env("SWITCHYARD_MASTER_KEY", STRIPE)
            .env("SWITCHYARD_BOOTSTRAP_KEY", BOOT)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Usage"), "{text}");
        for s in [DB_PASSWORD, TOKEN, HMAC, STRIPE, BOOT] {
            assert!(!text.contains(s), "{args:?} printed {s}:\n{text}");
        }
    }
}
