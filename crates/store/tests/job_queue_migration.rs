//! Upgrading to the job queue (SQLite migration 0010, PostgreSQL 0009) queues every pending
//! delivery with its due time and lease, and nothing else: a delivery waiting before the upgrade
//! is sent after it, one in flight stays leased until its lease ends, an ended one stays ended.

use std::borrow::Cow;

use switchyard_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_base_url};
use switchyard_store::{StoreOptions, connect};

/// Deliveries of the old shape (lease columns on the delivery): one waiting, one leased until
/// 5,000 by a node, one succeeded.
const OLD_DELIVERIES: &str = "INSERT INTO deliveries \
    (id, event_id, endpoint_id, status, attempts, next_attempt_at, lease_until, lease_owner, ordering_key, created_at, updated_at) VALUES \
    ('dlv_wait', 'evt_1', 'ep_a', 'pending', 0, 10, NULL, NULL, NULL, 1, 1), \
    ('dlv_leased', 'evt_1', 'ep_b', 'pending', 1, 20, 5000, 'n0', 'k', 1, 1), \
    ('dlv_done', 'evt_1', 'ep_a', 'succeeded', 1, NULL, NULL, NULL, NULL, 1, 1)";

async fn check_upgraded(store: &dyn switchyard_store::Store) {
    let first = store.claim_deliveries("n1", 100, 10_000, 10, None).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|c| c.delivery.id.as_str()).collect();
    assert_eq!(
        ids,
        ["dlv_wait"],
        "the leased one waits for its lease; the ended one is not queued"
    );
    let mut due = store.due_endpoints().await.unwrap();
    due.sort();
    assert_eq!(due, [("ep_a".to_string(), 10), ("ep_b".to_string(), 20)]);
    let later = store.claim_deliveries("n1", 5000, 9000, 10, None).await.unwrap();
    let ids: Vec<&str> = later.iter().map(|c| c.delivery.id.as_str()).collect();
    assert_eq!(ids, ["dlv_leased"], "taken over once the old lease ended");
    assert_eq!(later[0].delivery.attempts, 1);
}

#[tokio::test]
async fn sqlite_pending_deliveries_are_queued_by_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let all = sqlx::migrate!("./migrations/sqlite");
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(all.migrations.iter().filter(|m| m.version < 10).cloned().collect()),
        ..all
    };
    before.run(&pool).await.unwrap();
    sqlx::raw_sql(OLD_DELIVERIES).execute(&pool).await.unwrap();
    pool.close().await;
    let store = connect(&url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    check_upgraded(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_pending_deliveries_are_queued_by_the_upgrade() {
    let Some(base) = postgres_base_url() else {
        return;
    };
    let url = fresh_postgres_database(&base).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let all = sqlx::migrate!("./migrations/postgres");
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(all.migrations.iter().filter(|m| m.version < 9).cloned().collect()),
        ..all
    };
    before.run(&pool).await.unwrap();
    sqlx::raw_sql(OLD_DELIVERIES).execute(&pool).await.unwrap();
    pool.close().await;
    let store = connect(&url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    check_upgraded(store.as_ref()).await;
    drop(store);
    drop_postgres_database(&base, &url).await;
}
