//! The intake writer gives back burst memory once intake is quiet: after 5 s without a batch it
//! calls `Store::release_idle`, and SQLite then merges the recent dedup keys into the key table
//! (store/src/sqlite/recent_keys.rs). The quiet time is shortened here and the end state is
//! awaited, never timed.

use std::time::Duration;

use switchyard_engine::intake::{GroupCommit, IntakeWriter};
use switchyard_engine::writer_thread::Writes;
use switchyard_store::testing::keyed_event;
use switchyard_store::{IntakeOutcome, StoreOptions, connect};

const FOREVER: i64 = i64::MAX / 2;

async fn counts(url: &str) -> (i64, i64) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let recent: i64 = sqlx::query_scalar("SELECT count(*) FROM dedup_recent_digests")
        .fetch_one(&pool)
        .await
        .unwrap();
    let merged: i64 = sqlx::query_scalar("SELECT count(*) FROM dedup_digests")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    (recent, merged)
}

#[tokio::test]
async fn a_quiet_writer_merges_the_recent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = connect(&url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let quick = GroupCommit {
        idle_after: Duration::from_millis(50),
        ..GroupCommit::default()
    };
    let (writer, closer, task) = IntakeWriter::spawn(store.clone(), quick, &Writes::current());
    assert_eq!(
        writer.commit(keyed_event("e1", "k1", FOREVER)).await.unwrap(),
        IntakeOutcome::Stored
    );
    // Without the idle release the key would wait in `dedup_recent_digests` until 32,768 keys had come.
    let mut merged = counts(&url).await;
    for _ in 0..500 {
        if merged == (0, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        merged = counts(&url).await;
    }
    assert_eq!(merged, (0, 1), "merged into dedup_digests once quiet");
    assert_eq!(
        writer.commit(keyed_event("e2", "k1", FOREVER)).await.unwrap(),
        IntakeOutcome::Duplicate {
            first_event_id: "e1".into()
        },
        "the merged key is still held"
    );
    closer.close();
    drop(writer);
    task.await.unwrap();
}
