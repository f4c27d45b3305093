//! `switchyard keys rotate-master` (SPEC §1) against the built binary, with a server running the
//! whole time: every sealed value (a source's secret, an endpoint's signing secret, a
//! destination's token) moves to the new key, the running server keeps verifying webhooks and
//! calling the destination with the right credential, and afterwards the old key opens nothing.
//! PostgreSQL with keys in the environment (new + previous, then previous dropped); SQLite with
//! the generated key file, rewritten under the running server.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;
use switchyard_core::source::VerifySpec;
use switchyard_core::verify::{Outgoing, sign};
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::{SealedKind, StoreOptions};
use switchyard_testkit::app::{ADMIN_KEY, get_json};
use switchyard_testkit::receiver::Receiver;

use crate::process::{BIN, Server, start_config_env};

const HMAC: &str = "rotate_HMAC_secret_0001";
const TOKEN: &str = "rotate_TOKEN_secret_0002";

fn config(rx: &Receiver) -> String {
    format!(
        r#"
sources:
  - name: acme
    verify: {{scheme: hmac, header: X-Acme-Mac, secrets: ["{HMAC}"]}}
destinations:
  - name: api
    base_url: {base}
    auth: {{kind: bearer, token: "{TOKEN}"}}
flows:
  - name: call
    trigger: {{manual: true}}
    steps:
      - id: send
        http: {{destination: api, path: /called, body: '.payload'}}
"#,
        base = rx.url("")
    )
}

const ARGS: [&str; 2] = ["--allow-destinations", "127.0.0.0/8"];

fn rotate(db_url: &str, dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(["keys", "rotate-master", "--json", "--database", db_url])
        .env_remove("SWITCHYARD_MASTER_KEY")
        .env_remove("SWITCHYARD_MASTER_KEY_PREVIOUS")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A signed webhook is accepted and a manual run calls the destination with the token: the
/// server can still open every secret it needs. `n` tells this check's call apart.
async fn secrets_work(http: &reqwest::Client, server: &Server, rx: &Receiver, n: usize) {
    let body = json!({"n": n}).to_string();
    let url = format!("{}/in/acme", server.base);
    let spec: VerifySpec = serde_json::from_value(json!({"scheme": "hmac", "header": "X-Acme-Mac"})).unwrap();
    let out = Outgoing {
        body: body.as_bytes(),
        timestamp: switchyard_core::time::now_micros() / 1_000_000,
        id: "msg",
        url: &url,
        method: "POST",
    };
    let mut req = http
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone());
    for (k, v) in sign(&spec, HMAC, &out).unwrap() {
        req = req.header(k, v);
    }
    assert_eq!(
        req.send().await.unwrap().status(),
        202,
        "the source secret still verifies"
    );
    let run = http
        .post(format!("{}/v1/flows/call/runs", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"payload": {"n": n}}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);
    let calls = rx.wait_for("/called", n, Duration::from_secs(20)).await;
    assert_eq!(calls[n - 1].headers["authorization"], format!("Bearer {TOKEN}"));
}

/// Every sealed value in the database opens with `key` alone: none was left behind.
async fn all_open_with(db_url: &str, key: &str) -> bool {
    let store = switchyard_store::connect(db_url, &StoreOptions::default())
        .await
        .unwrap();
    let key = MasterKey::from_base64(key).unwrap();
    let mut seen = 0;
    for kind in SealedKind::ALL {
        for v in store.sealed_values(kind, None, 1000).await.unwrap() {
            seen += 1;
            if key.open(&v.sealed).is_err() {
                return false;
            }
        }
    }
    assert!(seen >= 3, "a source, an endpoint and a destination hold sealed values");
    true
}

async fn create_endpoint(http: &reqwest::Client, server: &Server, rx: &Receiver) {
    let resp = http
        .post(format!("{}/v1/endpoints", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"url": rx.url("/ep"), "sources": ["acme"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rotation_with_keys_in_the_environment() {
    let Some(pg) = postgres_base_url() else { return };
    switchyard::install_crypto_provider();
    let db = fresh_postgres_database(&pg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (MasterKey::generate_base64(), MasterKey::generate_base64());
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let http = reqwest::Client::new();
    let server = start_config_env(&db, dir.path(), &old, &ARGS, &cfg, &[]);
    create_endpoint(&http, &server, &rx).await;
    secrets_work(&http, &server, &rx, 1).await;
    drop(server);

    // The rolling restart: every node gets the new key and keeps the old one as previous.
    let previous = [("SWITCHYARD_MASTER_KEY_PREVIOUS", old.clone())];
    let server = start_config_env(&db, dir.path(), &new, &ARGS, &cfg, &previous);
    secrets_work(&http, &server, &rx, 2).await;
    assert!(!all_open_with(&db, &new).await, "nothing moved yet");

    // A key that opens nothing changes nothing and says which values it could not open.
    let stranger = MasterKey::generate_base64();
    let refused = rotate(&db, dir.path(), &[("SWITCHYARD_MASTER_KEY", &stranger)]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("open with none of the keys") && stderr.contains("destinations dst_"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&old) && !stderr.contains(&stranger),
        "no key in the output"
    );

    let out = rotate(
        &db,
        dir.path(),
        &[
            ("SWITCHYARD_MASTER_KEY", &new),
            ("SWITCHYARD_MASTER_KEY_PREVIOUS", &old),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(
        report["moved_total"], 3,
        "a source, an endpoint, a destination: {report}"
    );
    assert!(all_open_with(&db, &new).await, "every value under the new key");
    secrets_work(&http, &server, &rx, 3).await;
    let again = rotate(
        &db,
        dir.path(),
        &[
            ("SWITCHYARD_MASTER_KEY", &new),
            ("SWITCHYARD_MASTER_KEY_PREVIOUS", &old),
        ],
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["moved_total"], 0, "a second run finds nothing to move: {again}");
    drop(server);

    // The old key is dropped: a node with only the new one opens everything.
    let server = start_config_env(&db, dir.path(), &new, &ARGS, &cfg, &[]);
    secrets_work(&http, &server, &rx, 4).await;
    drop(server);
    drop_postgres_database(&pg, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rotation_rewrites_the_key_file_under_a_running_server() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotate.db");
    let db = format!("sqlite://{}", path.display());
    let key_file = dir.path().join("rotate.db.master-key");
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let http = reqwest::Client::new();
    // No SWITCHYARD_MASTER_KEY: the server generates the key file.
    let server = start_config_env(&db, dir.path(), "", &ARGS, &cfg, &[]);
    create_endpoint(&http, &server, &rx).await;
    secrets_work(&http, &server, &rx, 1).await;
    let old = std::fs::read_to_string(&key_file).unwrap().trim().to_string();
    assert!(all_open_with(&db, &old).await);

    let out = rotate(&db, dir.path(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], true, "{report}");
    let new = std::fs::read_to_string(&key_file).unwrap().trim().to_string();
    assert_ne!(new, old);
    assert_eq!(new.lines().count(), 1, "only the new key is left in the file");
    assert!(all_open_with(&db, &new).await, "every value under the new key");

    // The running server picked the new key up: its secrets still open, and what it seals now
    // (a new destination) is under the new key.
    secrets_work(&http, &server, &rx, 2).await;
    let created = http
        .post(format!("{}/v1/destinations", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "later", "base_url": rx.url(""), "auth": {"kind": "bearer", "token": "later-token"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(all_open_with(&db, &new).await);
    let page = get_json(&http, format!("{}/v1/destinations", server.base), ADMIN_KEY).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    drop(server);

    let server = start_config_env(&db, dir.path(), "", &ARGS, &cfg, &[]);
    secrets_work(&http, &server, &rx, 3).await;
}
