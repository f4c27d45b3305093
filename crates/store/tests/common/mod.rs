//! The harness both contract files share: a store per test on SQLite (a real file) and, when
//! `SWITCHYARD_TEST_POSTGRES` is set, on a fresh PostgreSQL database of its own.

use std::sync::Arc;

use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::*;

/// A published event with one pending delivery per endpoint (`dlv_<event>_<endpoint>`).
/// Not every contract file uses every helper.
#[allow(dead_code)]
pub fn published(id: &str, endpoints: &[&str], at: i64) -> NewEvent {
    NewEvent {
        id: id.into(),
        source_id: None,
        source_name: None,
        event_type: Some("order.created".into()),
        status: "received".into(),
        received_at: at,
        content_type: Some("application/json".into()),
        headers: "{}".into(),
        payload: format!("{{\"n\":\"{id}\"}}").into_bytes(),
        request_id: format!("req_{id}"),
        dedup: None,
        validation_errors: None,
        deliveries: endpoints
            .iter()
            .map(|ep| NewDelivery {
                id: format!("dlv_{id}_{ep}"),
                event_id: id.into(),
                endpoint_id: (*ep).into(),
                next_attempt_at: at,
                created_at: at,
                ordering_key: None,
            })
            .collect(),
        runs: Vec::new(),
    }
}

/// Helpers both contract files use to build intake writes (not every file uses each).
#[allow(dead_code)]
pub fn event(id: &str, source: &str, at: i64, payload: &[u8]) -> NewEvent {
    NewEvent {
        id: id.into(),
        source_id: Some(format!("src_{source}")),
        source_name: Some(source.into()),
        event_type: Some(format!("{source}.happened")),
        status: "received".into(),
        received_at: at,
        content_type: Some("application/json".into()),
        headers: r#"{"x-a":"1"}"#.into(),
        payload: payload.to_vec(),
        request_id: format!("req_{id}"),
        dedup: None,
        validation_errors: None,
        deliveries: Vec::new(),
        runs: Vec::new(),
    }
}

#[allow(dead_code)]
pub fn keyed(id: &str, source: &str, key: &str, expires_at: i64) -> IntakeWrite {
    let mut e = event(id, source, 1, b"{}");
    e.dedup = Some(DedupKey {
        key: key.into(),
        expires_at,
    });
    IntakeWrite::Event(e)
}

#[allow(dead_code)]
pub const FOREVER: i64 = i64::MAX / 2;

#[allow(dead_code)]
pub fn receipt(id: &str, source: &str, status: i32, event_id: Option<&str>) -> Receipt {
    Receipt {
        id: id.into(),
        at: 1,
        source_name: source.into(),
        source_id: None,
        request_id: format!("req_{id}"),
        status_code: status,
        outcome: if event_id.is_some() {
            "received".into()
        } else {
            "rejected".into()
        },
        reason: event_id.is_none().then(|| "bad".to_string()),
        event_id: event_id.map(str::to_string),
    }
}

#[allow(dead_code)]
pub fn accepted(id: &str, source: &str, at: i64) -> IntakeWrite {
    IntakeWrite::Event(event(id, source, at, format!("{{\"id\":\"{id}\"}}").as_bytes()))
}

#[allow(dead_code)]
pub fn rejected(id: &str, source: &str, at: i64, status: i32) -> IntakeWrite {
    IntakeWrite::Receipt(Receipt {
        at,
        ..receipt(id, source, status, None)
    })
}

#[allow(dead_code)]
pub fn filter(limit: i64) -> EventFilter {
    EventFilter {
        limit,
        ..EventFilter::default()
    }
}

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
