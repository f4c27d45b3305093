//! The CLI commands and the config file against a running `switchyard` binary: keys, events,
//! `send`, release of quarantined events, and endpoints declared in the config file.

use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;

use crate::process::{run, start, start_config, terminate};
use switchyard_testkit::app::{ADMIN_KEY, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keys_and_events_work_against_a_running_server() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let master = MasterKey::generate_base64();
    let env = [
        ("SWITCHYARD_DATABASE_URL", db.as_str()),
        ("SWITCHYARD_MASTER_KEY", master.as_str()),
    ];
    let out = run(&["keys", "create", "--scope", "read", "--name", "ci"], &env, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read_key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(read_key.starts_with("sy_"));

    let mut server = start(&db, dir.path(), &master);
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/in/crash", server.base))
        .json(&json!({"type": "cli.test", "v": 42}))
        .send()
        .await
        .unwrap();
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let out = run(
        &["events", "list", "--json", "--url", &server.base, "--key", &read_key],
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["data"][0]["id"], id.as_str());

    let out = run(
        &["events", "list", "--url", &server.base, "--source", "crash"],
        &[("SWITCHYARD_KEY", &read_key)],
        dir.path(),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&id) && table.contains("cli.test"), "{table}");

    let out = run(
        &[
            "events",
            "show",
            &id,
            "--json",
            "--url",
            &server.base,
            "--key",
            &read_key,
        ],
        &[],
        dir.path(),
    );
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["payload"], json!({"type": "cli.test", "v": 42}));

    let out = run(
        &[
            "events",
            "show",
            "evt_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "--url",
            &server.base,
            "--key",
            "wrong",
        ],
        &[],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_api_key"));

    let out = run(&["keys", "list", "--json"], &env, dir.path());
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 2, "the CLI key and the bootstrap key");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&read_key),
        "key values are never listed"
    );
    let ci_id = keys.as_array().unwrap().iter().find(|k| k["name"] == "ci").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(run(&["keys", "revoke", &ci_id], &env, dir.path()).status.success());
    // Revoked on the database behind the running server's back: the server trusts the key it
    // verified a moment ago for at most a second more (through the API it is refused at once;
    // `auth.rs` covers that).
    eventually("the key revoked on the database is refused", || async {
        let out = run(
            &["events", "list", "--url", &server.base, "--key", &read_key],
            &[],
            dir.path(),
        );
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("invalid_api_key")
    })
    .await;
    // Keys made and revoked on the database directly are audited, by no key.
    let store = switchyard_store::connect(&db, &switchyard_store::StoreOptions::default())
        .await
        .unwrap();
    let filter = switchyard_store::AuditFilter {
        resource_id: Some(ci_id.clone()),
        limit: 10,
        ..Default::default()
    };
    let entries = store.list_audit(&filter).await.unwrap().items;
    let actions: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.key_id.as_deref()))
        .collect();
    assert_eq!(actions, [("revoke", None), ("create", None)]);
    assert!(!entries.iter().any(|e| e.changes.contains(&read_key)));
    assert!(terminate(&mut server).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_for_a_source_that_verifies() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("send.db").display());
    let mut server = start(&db, dir.path(), &MasterKey::generate_base64());
    let http = reqwest::Client::new();
    for (name, verify) in [
        ("st", json!({"scheme": "stripe", "secrets": ["whsec_send_test"]})),
        (
            "gl",
            json!({"scheme": "token", "header": "X-Gitlab-Token", "secrets": ["whsec_send_test"]}),
        ),
    ] {
        let resp = http
            .post(format!("{}/v1/sources", server.base))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"name": name, "verify": verify}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let url = format!("{}/in/st", server.base);
    let out = run(
        &[
            "send",
            "--scheme",
            "stripe",
            "--secret",
            "whsec_send_test",
            "--url",
            &url,
            "--json",
        ],
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], 202);
    assert!(
        report["signed_headers"]["stripe-signature"]
            .as_str()
            .unwrap()
            .starts_with("t=")
    );

    let out = run(
        &["send", "--scheme", "stripe", "--secret", "whsec_wrong", "--url", &url],
        &[],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("401"));

    let gl = format!("{}/in/gl", server.base);
    let body = dir.path().join("push.json");
    std::fs::write(&body, r#"{"object_kind":"push"}"#).unwrap();
    let data = format!("@{}", body.display());
    let args = [
        "send",
        "--scheme",
        "token",
        "--option",
        "header=X-Gitlab-Token",
        "--secret",
        "whsec_send_test",
        "--url",
        &gl,
        "--data",
        &data,
    ];
    let out = run(&args, &[], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(terminate(&mut server).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_releases_quarantined_events() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("q.db").display());
    let mut server = start(&db, dir.path(), &MasterKey::generate_base64());
    let http = reqwest::Client::new();
    let schema = json!({"type": "object", "required": ["ok"]});
    let resp = http
        .post(format!("{}/v1/sources", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "strict", "schema": schema}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let q: Value = http
        .post(format!("{}/in/strict", server.base))
        .json(&json!({"no": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(q["status"], "quarantined");
    let id = q["id"].as_str().unwrap().to_string();
    let out = run(
        &["events", "release", &id, "--url", &server.base, "--key", ADMIN_KEY],
        &[],
        dir.path(),
    );
    assert!(!out.status.success(), "still invalid");
    assert!(String::from_utf8_lossy(&out.stderr).contains("still_invalid"));
    http.patch(format!("{}/v1/sources/strict", server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"schema": null}))
        .send()
        .await
        .unwrap();
    let out = run(
        &[
            "events",
            "release",
            "--source",
            "strict",
            "--url",
            &server.base,
            "--key",
            ADMIN_KEY,
        ],
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "released 1, still invalid 0"
    );
    assert!(terminate(&mut server).success());
}

/// Endpoints declared in the config file by name: created at the first start, and a second start
/// with the same file changes nothing (same id, same secret, same `updated_at`); a changed file
/// updates the endpoint in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_in_the_config_file_apply_idempotently() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("e.db").display());
    let key = MasterKey::generate_base64();
    let file = |types: &str| {
        format!(
            "endpoints:\n  - name: billing\n    url: HTTPS://Billing.Example/hooks\n    event_types: [\"{types}\"]\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n    headers: {{X-Api-Key: k-1}}\n"
        )
    };
    let http = reqwest::Client::new();
    let show = |base: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("{base}/v1/endpoints/billing"))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let mut first = start_config(&url, dir.path(), &key, &[], &file("order.*"));
    let created = show(first.base.clone()).await;
    assert_eq!(created["url"], "https://billing.example/hooks", "stored normalised");
    assert_eq!(created["headers"]["X-Api-Key"], "[redacted]");
    assert!(terminate(&mut first).success());
    let mut second = start_config(&url, dir.path(), &key, &[], &file("order.*"));
    let again = show(second.base.clone()).await;
    assert_eq!(again, created, "a second start with the same file changes nothing");
    let list = switchyard_testkit::app::get_json(&http, format!("{}/v1/endpoints", second.base), ADMIN_KEY).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // The name is unique through the API too.
    let taken = http
        .post(format!("{}/v1/endpoints", second.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "billing", "url": "https://other.example/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 409);
    assert_eq!(
        taken.json::<Value>().await.unwrap()["error"]["code"],
        "endpoint_name_taken"
    );
    assert!(terminate(&mut second).success());
    let mut third = start_config(&url, dir.path(), &key, &[], &file("invoice.*"));
    let changed = show(third.base.clone()).await;
    assert_eq!(changed["id"], created["id"], "updated in place");
    assert_eq!(changed["event_types"], json!(["invoice.*"]));
    assert_ne!(changed["updated_at"], created["updated_at"]);
    assert!(terminate(&mut third).success());
}
