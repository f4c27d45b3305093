//! Storage outages: while storage cannot take writes, intake answers 503 (never a 2xx) and
//! `/readyz` answers 503; both recover by themselves, without a restart, when storage returns.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};

use switchyard_testkit::app::{Backend, Options, TestApp, assert_envelope};

async fn wait_for_status(app: &TestApp, source: &str, want: u16) -> reqwest::Response {
    for _ in 0..100 {
        let resp = app.send(source, &json!({"probe": true})).await;
        if resp.status() == want {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("intake never answered {want}");
}

async fn ready_status(app: &TestApp) -> u16 {
    app.http.get(app.url("/readyz")).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_file_gives_503_then_recovers() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.create_source(json!({"name": "o"})).await;
    assert_eq!(app.send("o", &json!({"before": 1})).await.status(), 202);
    let path = app.db_path.clone().unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();

    let resp = app.send("o", &json!({"during": 1})).await;
    let err = assert_envelope(resp, 503, "storage_unavailable").await;
    assert!(
        !err["message"].as_str().unwrap().contains(path.to_str().unwrap()),
        "no internals leak"
    );
    assert_eq!(ready_status(&app).await, 503);
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_envelope(resp, 503, "storage_unavailable").await;
    // Management writes are refused too, not half-applied.
    let resp = app.api_post("/v1/sources", &json!({"name": "during"})).await;
    assert_envelope(resp, 503, "storage_unavailable").await;

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let resp = wait_for_status(&app, "o", 202).await;
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(ready_status(&app).await, 200);
    assert_eq!(app.api_get(&format!("/v1/events/{id}")).await.status(), 200);
    let page: Value = app.api_get("/v1/events?source=o").await.json().await.unwrap();
    let payloads: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(payloads.len(), 2, "the refused event was not stored");
    app.stop().await;
}

/// SQLite's own write error, not the permission pre-check: another process holds the database's
/// write lock, so the writer's `BEGIN IMMEDIATE` fails with SQLITE_BUSY once its busy timeout
/// passes. Intake answers 503 — never a 2xx — and recovers when the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_lock_held_elsewhere_gives_503_then_recovers() {
    use sqlx::Connection;
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.create_source(json!({"name": "o"})).await;
    assert_eq!(app.send("o", &json!({"before": 1})).await.status(), 202);
    let path = app.db_path.clone().unwrap();
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut other).await.unwrap();
    // The file is writable: only SQLite itself can refuse this write.
    assert!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o200 != 0);
    let resp = app.send("o", &json!({"during": 1})).await;
    let err = assert_envelope(resp, 503, "storage_unavailable").await;
    assert!(
        !err["message"].as_str().unwrap().contains("locked"),
        "no database message leaks: {err}"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    let resp = wait_for_status(&app, "o", 202).await;
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(app.api_get(&format!("/v1/events/{id}")).await.status(), 200);
    let page: Value = app.api_get("/v1/events?source=o").await.json().await.unwrap();
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        2,
        "the refused event was not stored"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_refused_gives_503_then_recovers() {
    let Some(app) = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            pg_proxy: true,
            ..Options::default()
        },
    )
    .await
    else {
        return;
    };
    app.create_source(json!({"name": "o"})).await;
    assert_eq!(app.send("o", &json!({"before": 1})).await.status(), 202);
    let proxy = app.proxy.as_ref().unwrap();
    proxy.cut();

    let resp = wait_for_status(&app, "o", 503).await;
    assert_envelope(resp, 503, "storage_unavailable").await;
    assert_eq!(ready_status(&app).await, 503);
    // Not a single 2xx while the database is away.
    for i in 0..5 {
        assert_eq!(app.send("o", &json!({"during": i})).await.status(), 503);
    }

    proxy.restore().await;
    wait_for_status(&app, "o", 202).await;
    assert_eq!(ready_status(&app).await, 200);
    let page: Value = app.api_get("/v1/events?source=o").await.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}
