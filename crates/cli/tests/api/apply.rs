//! `switchyard apply` (issue 12) on SQLite and PostgreSQL: the built binary against the running
//! server, and straight against a database. A dry run shows every difference and changes
//! nothing; applying creates what the file declares (a flow may name what the same file
//! declares); a second apply has nothing to do; a changed secret is reported without its value;
//! `--prune` deletes what the file leaves out; each applied change is audited under the key; an
//! invalid file exits 2 naming file, line and column.

use std::path::Path;

use serde_json::Value;
use switchyard_core::secrets::MasterKey;
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_testkit::app::{ADMIN_KEY, TestApp};
use switchyard_testkit::backend_tests;

use crate::process::{run, start};

backend_tests!(apply_shows_applies_and_prunes_through_the_api);

const SOURCE_SECRET: &str = "shop-token-one";
const NEW_SOURCE_SECRET: &str = "shop-token-two";
const CRM_TOKEN: &str = "crm-bearer-token";

fn config(source_secret: &str, path: &str, with_alert: bool) -> String {
    let alert = if with_alert {
        "alerts:\n  - name: crm-failing\n    rule: {kind: failure_ratio, scope: {destination: crm}, threshold: 0.5, window_seconds: 300, min_count: 10}\n    channel: {kind: webhook, url: https://alerts.example.com/hook}\n"
    } else {
        ""
    };
    format!(
        r#"sources:
  - name: shop
    verify: {{scheme: token, secrets: ["{source_secret}"]}}
endpoints:
  - name: hooks
    url: https://hooks.example.com/in
    event_types: ["order.*"]
destinations:
  - name: crm
    base_url: https://crm.example.com/api
    auth: {{kind: bearer, token: "${{CRM_TOKEN}}"}}
flows:
  - name: order-to-crm
    trigger: {{source: shop}}
    steps:
      - id: contact
        http: {{destination: crm, method: POST, path: {path}, body: '{{email: .payload.email}}'}}
      - id: notify
        deliver: {{endpoint: hooks, type: order.synced}}
{alert}"#
    )
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn apply(args: Vec<String>, dir: &Path) -> Outcome {
    let dir = dir.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &[("CRM_TOKEN", CRM_TOKEN)], &dir)
    })
    .await
    .unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, text: &str) -> String {
    let file = dir.join("switchyard.yaml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn no_secret_in(text: &str) {
    for secret in [SOURCE_SECRET, NEW_SOURCE_SECRET, CRM_TOKEN, "alerts.example.com"] {
        assert!(!text.contains(secret), "a secret is shown: {text}");
    }
}

async fn names(app: &TestApp, path: &str) -> Vec<String> {
    let page: Value = app.api_get(path).await.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn apply_shows_applies_and_prunes_through_the_api(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &config(SOURCE_SECRET, "/contacts", true));
    let server = |extra: &[&str]| {
        let mut args: Vec<String> = ["apply", "-f", &file, "--url", &app.base, "--key", ADMIN_KEY]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    // A dry run shows five creations and writes nothing.
    let dry = apply(server(&["--dry-run"]), dir.path()).await;
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    for line in [
        "+ source shop",
        "+ endpoint hooks",
        "+ destination crm",
        "+ flow order-to-crm",
        "+ alert crm-failing",
        "5 to create, 0 to update, 0 to delete — dry run",
    ] {
        assert!(dry.stdout.contains(line), "{line:?} in {}", dry.stdout);
    }
    assert!(names(&app, "/v1/flows").await.is_empty(), "a dry run writes nothing");

    let applied = apply(server(&[]), dir.path()).await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(applied.stdout.contains("applied."), "{}", applied.stdout);
    assert_eq!(names(&app, "/v1/flows").await, ["order-to-crm"]);
    assert_eq!(names(&app, "/v1/destinations").await, ["crm"]);
    assert_eq!(names(&app, "/v1/alerts").await, ["crm-failing"]);

    // The same file again: nothing to do (secrets included).
    let again = apply(server(&[]), dir.path()).await;
    assert_eq!(again.code, 0);
    assert!(again.stdout.starts_with("No changes"), "{}", again.stdout);

    // A new source secret and a new path: each named, the secret without its value.
    write(dir.path(), &config(NEW_SOURCE_SECRET, "/v2/contacts", true));
    let changed = apply(server(&["--dry-run", "--json"]), dir.path()).await;
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    no_secret_in(&changed.stdout);
    let plan: Value = serde_json::from_str(&changed.stdout).unwrap();
    assert_eq!(plan["applied"], false);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan}");
    assert_eq!(changes[0]["kind"], "source");
    assert_eq!(changes[0]["fields"][0]["field"], "verify.secrets");
    assert_eq!(changes[0]["fields"][0]["secret"], true);
    assert_eq!(changes[1]["kind"], "flow");
    assert_eq!(changes[1]["fields"][0]["field"], "steps[0].http.path");
    assert_eq!(changes[1]["fields"][0]["before"], "/contacts");
    assert_eq!(changes[1]["fields"][0]["after"], "/v2/contacts");
    let human = apply(server(&[]), dir.path()).await;
    no_secret_in(&human.stdout);
    assert!(
        human.stdout.contains("verify.secrets: (secret changed)")
            && human
                .stdout
                .contains(r#"steps[0].http.path: "/contacts" → "/v2/contacts""#),
        "{}",
        human.stdout
    );
    let flow: Value = app.api_get("/v1/flows/order-to-crm").await.json().await.unwrap();
    assert_eq!(flow["version"], 2, "the changed flow is a new version");
    assert!(apply(server(&[]), dir.path()).await.stdout.starts_with("No changes"));

    // Each applied change is audited under the key, with field names and no values.
    let audit: Value = app.api_get("/v1/audit?limit=100").await.json().await.unwrap();
    let text = audit.to_string();
    no_secret_in(&text);
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource_id"] == flow["id"] && e["key_id"].is_string() && e["action"] == "update"),
        "{audit}"
    );

    // --prune: the alert left out of the file and an endpoint made through the API go.
    let made = app
        .api_post(
            "/v1/endpoints",
            &serde_json::json!({"url": "https://other.example.com/h"}),
        )
        .await;
    assert!(made.status().is_success());
    write(dir.path(), &config(NEW_SOURCE_SECRET, "/v2/contacts", false));
    let kept = apply(server(&[]), dir.path()).await;
    assert!(
        kept.stdout.starts_with("No changes"),
        "without --prune nothing is deleted: {}",
        kept.stdout
    );
    let pruned = apply(server(&["--prune"]), dir.path()).await;
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert!(pruned.stdout.contains("- alert crm-failing"), "{}", pruned.stdout);
    assert!(pruned.stdout.contains("- endpoint ep_"), "{}", pruned.stdout);
    assert!(names(&app, "/v1/alerts").await.is_empty());
    let endpoints: Value = app.api_get("/v1/endpoints").await.json().await.unwrap();
    assert_eq!(endpoints["data"].as_array().unwrap().len(), 1);

    // An invalid file: exit 2, every fault at its line and column, nothing written.
    let broken = config(NEW_SOURCE_SECRET, "/v3", false).replace("destination: crm,", "destination: erp,");
    let file = write(dir.path(), &broken);
    let refused = apply(server(&[]), dir.path()).await;
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "{file}:17:29: flows[0].steps.contact.http.destination: no destination is named \"erp\""
        )),
        "{}",
        refused.stderr
    );
    let flow: Value = app.api_get("/v1/flows/order-to-crm").await.json().await.unwrap();
    assert_eq!(flow["version"], 2);
    write(
        dir.path(),
        "flows:\n  - name: x\n    trigger: {source: shop}\n    stepz: []\n",
    );
    let unknown = apply(server(&[]), dir.path()).await;
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains(&format!("{file}:4:5:")), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("stepz"), "{}", unknown.stderr);
}

/// `--database`: the same reconciliation with no server; a server started on that database
/// afterwards serves what was applied.
async fn apply_straight_to(db: &str, dir: &Path) {
    switchyard::install_crypto_provider();
    let key = MasterKey::generate_base64();
    let file = write(dir, &config(SOURCE_SECRET, "/contacts", true));
    let direct = |extra: &[&str]| {
        let mut args: Vec<String> = ["apply", "-f", &file, "--database", db]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let with_key = |args: Vec<String>| {
        let (dir, key) = (dir.to_path_buf(), key.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run(
                    &args,
                    &[("CRM_TOKEN", CRM_TOKEN), ("SWITCHYARD_MASTER_KEY", key.as_str())],
                    &dir,
                )
            })
            .await
            .unwrap()
        }
    };
    let first = with_key(direct(&[])).await;
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("5 to create"), "{stdout}");
    let second = with_key(direct(&[])).await;
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("No changes"));

    let server = start(db, dir, &key);
    let http = reqwest::Client::new();
    let flow =
        switchyard_testkit::app::get_json(&http, format!("{}/v1/flows/order-to-crm", server.base), ADMIN_KEY).await;
    assert_eq!(flow["version"], 1);
    let dest =
        switchyard_testkit::app::get_json(&http, format!("{}/v1/destinations/crm", server.base), ADMIN_KEY).await;
    assert_eq!(
        dest["auth"]["token"], "********",
        "the credential was sealed with the master key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_straight_to_a_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("direct.db").display());
    apply_straight_to(&db, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_straight_to_a_postgres_database() {
    let Some(base) = postgres_base_url() else { return };
    let db = fresh_postgres_database(&base).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    apply_straight_to(&db, dir.path()).await;
    drop_postgres_database(&base, &db).await;
}
