//! Cron triggers (SPEC §7) with controlled time on SQLite and PostgreSQL: a tick fires once,
//! its run's event carries `scheduled_at`; after downtime only the latest missed tick fires;
//! ticks before the flow existed never do; the flow view shows the next firings; bad patterns
//! and time zones are refused by field. And two PostgreSQL nodes on real time: every tick of
//! a per-second schedule makes exactly one run.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;
use switchyard_core::time::{ManualClock, now_micros, to_rfc3339};
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_testkit::app::{ADMIN_KEY, Backend, Options, TestApp, assert_envelope, eventually};

use crate::process::start_with;

const HOUR: i64 = 3_600_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cron_fires_each_tick_once_and_only_the_latest_missed() {
    cron_fires_each_tick_once_and_only_the_latest_missed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cron_fires_each_tick_once_and_only_the_latest_missed() {
    cron_fires_each_tick_once_and_only_the_latest_missed(Backend::Postgres).await;
}

async fn scheduled(app: &TestApp) -> Vec<String> {
    let runs: Value = app.api_get("/v1/runs?flow=hourly").await.json().await.unwrap();
    let mut at = Vec::new();
    for r in runs["data"].as_array().unwrap() {
        let ev: Value = app
            .api_get(&format!("/v1/events/{}", r["event_id"].as_str().unwrap()))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ev["type"], "switchyard.cron");
        at.push(ev["payload"]["scheduled_at"].as_str().unwrap().to_string());
    }
    at.sort();
    at
}

async fn cron_fires_each_tick_once_and_only_the_latest_missed(backend: Backend) {
    // The next whole hour is the first tick; the clock starts just before it.
    let first = (now_micros() / HOUR + 1) * HOUR;
    let clock = ManualClock::at(first - 1_000_000);
    let opts = Options {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_with(backend, opts).await else {
        return;
    };
    for (trigger, field) in [
        (json!({"cron": "61 * * * *"}), "trigger.cron"),
        (json!({"cron": "* * *"}), "trigger.cron"),
        (
            json!({"cron": "0 * * * *", "timezone": "Mars/Olympus"}),
            "trigger.timezone",
        ),
    ] {
        let bad = app
            .api_post(
                "/v1/flows",
                &json!({"name": "bad", "trigger": trigger, "steps": [{"id": "m", "map": "."}]}),
            )
            .await;
        let err = assert_envelope(bad, 422, "validation_failed").await;
        assert_eq!(err["details"]["fields"][0]["field"], field, "{err}");
    }
    let flow = app
        .api_post(
            "/v1/flows",
            &json!({"name": "hourly", "trigger": {"cron": "0 * * * *", "timezone": "UTC"},
                    "steps": [{"id": "stamp", "map": "{at: .payload.scheduled_at}"}]}),
        )
        .await;
    assert_eq!(flow.status(), 201);
    let shown: Value = app.api_get("/v1/flows/hourly").await.json().await.unwrap();
    let next = shown["next_runs"].as_array().unwrap();
    assert_eq!(next.len(), 5);
    assert_eq!(next[0], to_rfc3339(first), "{shown}");

    clock.set(first + 500_000);
    eventually("the first tick's run", || async { scheduled(&app).await.len() == 1 }).await;
    assert_eq!(scheduled(&app).await, [to_rfc3339(first)]);
    // Three hours and a half later (as after downtime): one run, for the latest missed tick.
    clock.set(first + 3 * HOUR + HOUR / 2);
    eventually("the latest missed tick's run", || async {
        scheduled(&app).await.len() == 2
    })
    .await;
    eventually("the tick is recorded", || async {
        let f: Value = app.api_get("/v1/flows/hourly").await.json().await.unwrap();
        let id = f["id"].as_str().unwrap().to_string();
        app.store.cron_tick(&id).await.unwrap() == Some(first + 3 * HOUR)
    })
    .await;
    assert_eq!(scheduled(&app).await, [to_rfc3339(first), to_rfc3339(first + 3 * HOUR)]);
    let runs: Value = app.api_get("/v1/runs?flow=hourly").await.json().await.unwrap();
    eventually("the runs succeed", || async {
        let runs: Value = app
            .api_get("/v1/runs?flow=hourly&status=succeeded")
            .await
            .json()
            .await
            .unwrap();
        runs["data"].as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_fire_each_tick_once() {
    let Some(base) = postgres_base_url() else { return };
    switchyard::install_crypto_provider();
    let db = fresh_postgres_database(&base).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate_base64();
    let a = start_with(&db, dir.path(), &key, &[]);
    let b = start_with(&db, dir.path(), &key, &[]);
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/v1/flows", a.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "every-second", "trigger": {"cron": "* * * * * *"}, "steps": [{"id": "m", "map": "."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Both nodes see the flow (B within its 2 s refresh), then several ticks pass.
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(a);
    drop(b);
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let ticks: Vec<(String,)> =
        sqlx::query_as("SELECT convert_from(payload, 'UTF8') FROM events WHERE event_type = 'switchyard.cron'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut per_tick: HashMap<String, usize> = HashMap::new();
    for (payload,) in &ticks {
        let v: Value = serde_json::from_str(payload).unwrap();
        *per_tick
            .entry(v["scheduled_at"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let runs: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(per_tick.len() >= 2, "ticks fired: {per_tick:?}");
    assert!(per_tick.values().all(|n| *n == 1), "a tick fired twice: {per_tick:?}");
    assert_eq!(runs.0 as usize, per_tick.len(), "one run per tick");
    pool.close().await;
    drop_postgres_database(&base, &db).await;
}
