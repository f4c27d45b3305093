//! API keys as authentication reads them, over a real SQLite file and a fresh PostgreSQL
//! database: a verified key is remembered for at most a second of the engine's clock, a
//! revocation through the engine is honoured at once, one made straight on the database (the
//! CLI's way) within that second, and an unknown key is never remembered as unknown.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::apikey::{Scope, hash_key};
use switchyard_core::time::ManualClock;
use switchyard_engine::api_keys::{ApiKeys, RECHECK};
use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::{ApiKeyRow, Store, StoreOptions, connect};

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
    assert!(keys.verify(&hash_key("sk_later_0000000000")).await.unwrap().is_none());
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
    assert!(keys.verify(&hash_key("sk_cli_00000000000")).await.unwrap().is_some());
    assert!(store.revoke_api_key("key_cli", 2).await.unwrap());
    clock.advance(RECHECK - Duration::from_millis(1));
    assert!(keys.verify(&hash_key("sk_cli_00000000000")).await.unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert!(keys.verify(&hash_key("sk_cli_00000000000")).await.unwrap().is_none());
    clock.advance(RECHECK * 5);
    assert!(keys.verify(&hash_key("sk_cli_00000000000")).await.unwrap().is_none());

    // Revoked through the engine: refused on the very next request, without waiting.
    store
        .insert_api_key(&key_row("key_api", "sk_api_00000000000"))
        .await
        .unwrap();
    assert!(keys.verify(&hash_key("sk_api_00000000000")).await.unwrap().is_some());
    assert!(keys.revoke("key_api", 3).await.unwrap());
    assert!(keys.verify(&hash_key("sk_api_00000000000")).await.unwrap().is_none());
    assert!(!keys.revoke("key_api", 4).await.unwrap(), "already revoked");
    assert!(!keys.revoke("key_missing", 4).await.unwrap());

    // Other keys are untouched by a revocation.
    assert!(keys.verify(&hash_key("sk_later_0000000000")).await.unwrap().is_some());
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
