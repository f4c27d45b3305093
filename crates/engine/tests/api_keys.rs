//! API keys as authentication reads them, over a real SQLite file and a fresh PostgreSQL
//! database: a verified key is remembered for at most a second of the engine's clock, a
//! revocation through the engine is honoured at once, one made straight on the database (the
//! CLI's way) within that second, and an unknown key is never remembered as unknown. On
//! PostgreSQL another node forgets a revoked key when the revocation's notification arrives.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::apikey::{Scope, hash_key};
use switchyard_core::time::ManualClock;
use switchyard_engine::api_keys::{ApiKeys, RECHECK};
use switchyard_engine::jobs::{JobRunner, Lane, Round, Worker};
use switchyard_engine::writer_thread::Writes;
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::{ApiKeyRow, JobKind, Signal, Store, StoreOptions, connect};

/// Whether `keys` accepts the plain key `plain` now.
async fn passes(keys: &ApiKeys, plain: &str) -> bool {
    keys.verify(&hash_key(plain)).await.unwrap().is_some()
}

fn key_row(id: &str, plain: &str) -> ApiKeyRow {
    ApiKeyRow {
        id: id.into(),
        name: id.into(),
        scope: Scope::Read.as_str().into(),
        hash: hash_key(plain),
        hint: plain[..7].into(),
        created_at: 1,
        revoked_at: None,
    }
}

async fn remembers_keys_and_honours_revocations(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    let clock = ManualClock::at(1_000_000_000);
    let keys = ApiKeys::new(store.clone(), Arc::new(clock.clone()));

    // An unknown key is read every time: once inserted, it is valid at once.
    assert!(!passes(&keys, "sk_later_0000000000").await);
    store
        .insert_api_key(&key_row("key_later", "sk_later_0000000000"))
        .await
        .unwrap();
    let later = keys.verify(&hash_key("sk_later_0000000000")).await.unwrap().unwrap();
    assert_eq!(later.id, "key_later");

    // Revoked straight on the database (as `switchyard keys revoke --database` does): the key
    // remembered a moment ago still passes within the recheck time, and is refused after it.
    store
        .insert_api_key(&key_row("key_cli", "sk_cli_00000000000"))
        .await
        .unwrap();
    assert!(passes(&keys, "sk_cli_00000000000").await);
    assert!(store.revoke_api_key("key_cli", 2).await.unwrap());
    clock.advance(RECHECK - Duration::from_millis(1));
    assert!(passes(&keys, "sk_cli_00000000000").await);
    clock.advance(Duration::from_millis(1));
    assert!(!passes(&keys, "sk_cli_00000000000").await);
    clock.advance(RECHECK * 5);
    assert!(!passes(&keys, "sk_cli_00000000000").await);

    // Revoked through the engine: refused on the very next request, without waiting.
    store
        .insert_api_key(&key_row("key_api", "sk_api_00000000000"))
        .await
        .unwrap();
    assert!(passes(&keys, "sk_api_00000000000").await);
    assert!(keys.revoke("key_api", 3).await.unwrap());
    assert!(!passes(&keys, "sk_api_00000000000").await);
    assert!(!keys.revoke("key_api", 4).await.unwrap(), "already revoked");
    assert!(!keys.revoke("key_missing", 4).await.unwrap());

    // Other keys are untouched by a revocation.
    assert!(passes(&keys, "sk_later_0000000000").await);
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let store = connect(&url, &StoreOptions::default()).await.unwrap();
    remembers_keys_and_honours_revocations(store).await;
}

#[tokio::test]
async fn postgres() {
    let Some(base) = postgres_base_url() else { return };
    let url = fresh_postgres_database(&base).await.unwrap();
    let store = connect(&url, &StoreOptions::default()).await.unwrap();
    remembers_keys_and_honours_revocations(store.clone()).await;
    drop(store);
    drop_postgres_database(&base, &url).await;
}

/// A job kind with nothing to claim: it keeps the runner (and its notification relay) running.
struct Idle(Arc<Lane>);

#[async_trait::async_trait]
impl Worker for Idle {
    fn lane(&self) -> &Arc<Lane> {
        &self.0
    }
    async fn claim(&self) -> Round {
        Round::default()
    }
    async fn signal(&self, _: &Signal) {}
}

/// `keys` stops accepting `plain` (polled; the bound only guards against a hang).
async fn refused_soon(keys: &ApiKeys, plain: &str) {
    for _ in 0..300 {
        if !passes(keys, plain).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("node B never heard of the revocation");
}

#[tokio::test]
async fn postgres_nodes_forget_a_key_revoked_elsewhere() {
    let Some(base) = postgres_base_url() else { return };
    let url = fresh_postgres_database(&base).await.unwrap();
    let (a, b) = (
        connect(&url, &StoreOptions::default()).await.unwrap(),
        connect(&url, &StoreOptions::default()).await.unwrap(),
    );
    a.migrate().await.unwrap();
    // Node B's clock never moves: only the notification can make it read a key again.
    let clock = ManualClock::at(1_000_000_000);
    let (keys_a, keys_b) = (
        ApiKeys::new(a.clone(), Arc::new(clock.clone())),
        ApiKeys::new(b.clone(), Arc::new(clock.clone())),
    );
    let mut runner = JobRunner::new(b.clone(), Writes::current());
    runner.follow(keys_b.clone());
    let lane = runner.lane(JobKind::Run, 1);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = runner.start(vec![Arc::new(Idle(lane))], stopped);
    // B's subscription is up once a notification reaches it: revoke a probe key until B has
    // forgotten it (every revocation notifies, even of a key already revoked).
    a.insert_api_key(&key_row("key_probe", "sk_probe_000000000"))
        .await
        .unwrap();
    assert!(passes(&keys_b, "sk_probe_000000000").await);
    for at in 0.. {
        a.revoke_api_key("key_probe", at).await.unwrap();
        if !passes(&keys_b, "sk_probe_000000000").await {
            break;
        }
        assert!(at < 500, "node B's subscription never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for (id, plain) in [("key_api", "sk_api_00000000000"), ("key_cli", "sk_cli_00000000000")] {
        a.insert_api_key(&key_row(id, plain)).await.unwrap();
        assert!(passes(&keys_b, plain).await);
    }
    // Revoked through node A's API path, then straight on the database (the CLI's way).
    assert!(keys_a.revoke("key_api", 2).await.unwrap());
    refused_soon(&keys_b, "sk_api_00000000000").await;
    assert!(a.revoke_api_key("key_cli", 3).await.unwrap());
    refused_soon(&keys_b, "sk_cli_00000000000").await;

    stop.send(true).unwrap();
    task.await.unwrap();
    drop((a, b));
    drop_postgres_database(&base, &url).await;
}
