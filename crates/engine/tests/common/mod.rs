//! What the engine's store-backed tests share: a migrated SQLite store in a temporary directory
//! (dropped with the returned guard) and a fresh master key.

use std::sync::Arc;

use switchyard_core::secrets::MasterKey;
use switchyard_store::{Store, StoreOptions, connect};

pub async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

pub fn master_key() -> MasterKey {
    MasterKey::from_base64(&MasterKey::generate_base64()).unwrap()
}
