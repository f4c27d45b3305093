//! The harness both contract files share: a store per test on SQLite (a real file) and, when
//! `SWITCHYARD_TEST_POSTGRES` is set, on a fresh PostgreSQL database of its own.

use std::sync::Arc;

use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::*;

pub struct Db {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Db {
    pub async fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = connect(&url, &StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        Db {
            store,
            _dir: Some(dir),
            pg: None,
        }
    }

    pub async fn postgres() -> Option<Db> {
        let base = postgres_base_url()?;
        let url = fresh_postgres_database(&base).await.expect("create a test database");
        let store = connect(&url, &StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        Some(Db {
            store,
            _dir: None,
            pg: Some((base, url)),
        })
    }

    pub async fn cleanup(self) {
        drop(self.store);
        if let Some((base, url)) = self.pg {
            drop_postgres_database(&base, &url).await;
        }
    }
}

#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { let db = $crate::common::Db::sqlite().await; super::$name(db.store.clone()).await; db.cleanup().await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let Some(db) = $crate::common::Db::postgres().await else { return };
                super::$name(db.store.clone()).await;
                db.cleanup().await;
            })*
        }
    };
}
