//! The dedup part of the storage contract: which delivery of a key is first, within and across
//! batches, under concurrency, through expiry and SQLite's merges of its recent keys. Runs
//! against SQLite (a real file) and, when `SWITCHYARD_TEST_POSTGRES` is set, PostgreSQL.

use std::sync::Arc;

use switchyard_store::*;

mod common;
use common::{FOREVER, accepted, filter, keyed, rejected};

contract!(
    duplicates_are_answered_with_the_first_event,
    concurrent_duplicates_store_exactly_one_event,
    the_dedup_sweep_forgets_only_expired_keys,
    keys_stay_held_across_many_batches,
);

async fn duplicates_are_answered_with_the_first_event(store: Arc<dyn Store>) {
    let first = store
        .commit_intake(&[
            keyed("e1", "a", "id:evt_1", FOREVER),
            keyed("e2", "a", "id:evt_1", FOREVER),
            keyed("e3", "b", "id:evt_1", FOREVER),
        ])
        .await
        .unwrap();
    let dup = |id: &str| IntakeOutcome::Duplicate {
        first_event_id: id.into(),
    };
    assert_eq!(
        first,
        [IntakeOutcome::Stored, dup("e1"), IntakeOutcome::Stored],
        "keys are per source"
    );
    let later = store
        .commit_intake(&[keyed("e4", "a", "id:evt_1", FOREVER), rejected("r1", "a", 5, 401)])
        .await
        .unwrap();
    assert_eq!(later, [dup("e1"), IntakeOutcome::Recorded]);
    assert!(store.get_event("e2").await.unwrap().is_none() && store.get_event("e4").await.unwrap().is_none());
    let timeline = store.event_receipts("e1").await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .map(|r| (r.status_code, r.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(200, "duplicate"), (200, "duplicate")]
    );
    // A batch mixing keyed and unkeyed events stores the unkeyed ones and the winners, in order.
    let mixed = store
        .commit_intake(&[
            accepted("m1", "a", 10),
            keyed("m2", "a", "id:evt_1", FOREVER),
            keyed("m3", "a", "id:new", FOREVER),
            accepted("m4", "a", 11),
        ])
        .await
        .unwrap();
    assert_eq!(
        mixed,
        [
            IntakeOutcome::Stored,
            dup("e1"),
            IntakeOutcome::Stored,
            IntakeOutcome::Stored
        ]
    );
    assert!(store.get_event("m2").await.unwrap().is_none());
    let mut stored = Vec::new();
    for id in ["m1", "m3", "m4"] {
        stored.push(store.get_event(id).await.unwrap().expect("stored").seq);
    }
    assert!(stored.is_sorted(), "batch order is commit order: {stored:?}");
    // A key whose window has ended is free again.
    store.commit_intake(&[keyed("e5", "a", "id:old", 1)]).await.unwrap();
    assert_eq!(
        store
            .commit_intake(&[keyed("e6", "a", "id:old", FOREVER)])
            .await
            .unwrap(),
        [IntakeOutcome::Stored]
    );
    assert_eq!(
        store
            .commit_intake(&[keyed("e7", "a", "id:old", FOREVER)])
            .await
            .unwrap(),
        [dup("e6")]
    );
    assert_eq!(store.purge_dedup_keys(FOREVER - 1).await.unwrap(), 0);
    assert_eq!(store.purge_dedup_keys(FOREVER).await.unwrap(), 4);
}

async fn concurrent_duplicates_store_exactly_one_event(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .commit_intake(&[keyed(&format!("c{i:02}"), "a", "id:same", FOREVER)])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut firsts = std::collections::HashSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap().remove(0) {
            IntakeOutcome::Stored => stored.push(format!("c{i:02}")),
            IntakeOutcome::Duplicate { first_event_id } => {
                firsts.insert(first_event_id);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored.len(), 1, "exactly one delivery wins");
    assert_eq!(
        firsts.into_iter().collect::<Vec<_>>(),
        stored,
        "every duplicate names the winner"
    );
    let page = store.list_events(&filter(100)).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

/// More keys than one sweep step reads, expired and live interleaved in key order and across
/// two sources: every expired key is forgotten, every live one kept.
async fn the_dedup_sweep_forgets_only_expired_keys(store: Arc<dyn Store>) {
    let writes: Vec<IntakeWrite> = (0..6_000)
        .map(|i| {
            let source = if i % 3 == 0 { "a" } else { "b" };
            let expires = if i % 2 == 0 { 100 } else { FOREVER };
            keyed(&format!("evt_{i:05}"), source, &format!("k{i:05}"), expires)
        })
        .collect();
    store.commit_intake(&writes).await.unwrap();
    assert_eq!(store.purge_dedup_keys(99).await.unwrap(), 0, "nothing has expired yet");
    assert_eq!(store.purge_dedup_keys(100).await.unwrap(), 3_000);
    assert_eq!(store.purge_dedup_keys(100).await.unwrap(), 0);
    let again = store
        .commit_intake(&[
            keyed("new_0", "a", "k00000", FOREVER),
            keyed("new_1", "b", "k00001", FOREVER),
            keyed("new_5998", "b", "k05998", FOREVER),
            keyed("new_5999", "b", "k05999", FOREVER),
        ])
        .await
        .unwrap();
    let dup = |id: &str| IntakeOutcome::Duplicate {
        first_event_id: id.into(),
    };
    assert_eq!(
        again,
        [
            IntakeOutcome::Stored,
            dup("evt_00001"),
            IntakeOutcome::Stored,
            dup("evt_05999")
        ]
    );
}

/// More keys than SQLite holds apart before merging them into the key table (32,768): keys won
/// before and after the merge are still held, in later batches and within one.
async fn keys_stay_held_across_many_batches(store: Arc<dyn Store>) {
    const KEYS: usize = 40_000;
    let writes: Vec<IntakeWrite> = (0..KEYS)
        .map(|i| {
            keyed(
                &format!("k{i:05}"),
                "a",
                &format!("key-{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                FOREVER,
            )
        })
        .collect();
    for chunk in writes.chunks(2000) {
        let outcomes = store.commit_intake(chunk).await.unwrap();
        assert!(outcomes.iter().all(|o| *o == IntakeOutcome::Stored));
    }
    let again: Vec<IntakeWrite> = [0, 1, 20_000, 32_767, 32_768, KEYS - 1]
        .iter()
        .map(|&i| {
            keyed(
                &format!("again{i}"),
                "a",
                &format!("key-{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                FOREVER,
            )
        })
        .chain([
            keyed("fresh", "a", "key-fresh", FOREVER),
            keyed("fresh2", "a", "key-fresh", FOREVER),
        ])
        .collect();
    let outcomes = store.commit_intake(&again).await.unwrap();
    let firsts: Vec<Option<String>> = outcomes
        .iter()
        .map(|o| match o {
            IntakeOutcome::Duplicate { first_event_id } => Some(first_event_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        firsts,
        [
            Some("k00000".to_string()),
            Some("k00001".into()),
            Some("k20000".into()),
            Some("k32767".into()),
            Some("k32768".into()),
            Some("k39999".into()),
            None,
            Some("fresh".into()),
        ]
    );
    // Later small batches still see a key that SQLite has merged into the key table.
    for b in 0..20 {
        let more: Vec<IntakeWrite> = (0..10)
            .map(|i| keyed(&format!("more{b}_{i}"), "a", &format!("more-{b}-{i}"), FOREVER))
            .collect();
        store.commit_intake(&more).await.unwrap();
    }
    assert_eq!(
        store
            .commit_intake(&[keyed("late", "a", &format!("key-{:016x}", 0u64), FOREVER)])
            .await
            .unwrap(),
        [IntakeOutcome::Duplicate {
            first_event_id: "k00000".into()
        }]
    );
    assert_eq!(store.purge_dedup_keys(FOREVER).await.unwrap(), KEYS as u64 + 1 + 200);
}

/// PostgreSQL's migration 0008 converts the keys of `dedup_keys` with a digest computed in SQL;
/// run on a table of the old shape, it must give the digests intake computes in Rust, so every
/// key held before the upgrade is still held after it (non-ASCII keys included).
#[tokio::test]
async fn postgres_keys_from_before_digests_are_still_held_after_the_conversion() {
    let Some(base) = switchyard_store::testing::postgres_base_url() else {
        return;
    };
    let url = switchyard_store::testing::fresh_postgres_database(&base).await.unwrap();
    let store = connect(&url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    // Back to the old shape, with keys in it, then the migration's own SQL.
    sqlx::raw_sql(
        "DROP TABLE dedup_digests; \
         CREATE TABLE dedup_keys (source_id TEXT NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL, \
           expires_at BIGINT NOT NULL, PRIMARY KEY (source_id, key)); \
         INSERT INTO dedup_keys VALUES ('src_a', 'id:evt_1', 'e1', 4611686018427387903), \
           ('src_a', 'clé-ü-✓', 'e2', 4611686018427387903), ('src_b', 'id:evt_1', 'e3', 4611686018427387903);",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(include_str!("../migrations/postgres/0008_dedup_digests.sql"))
        .execute(&pool)
        .await
        .unwrap();
    let outcomes = store
        .commit_intake(&[
            keyed("n1", "a", "id:evt_1", FOREVER),
            keyed("n2", "a", "clé-ü-✓", FOREVER),
            keyed("n3", "b", "id:evt_1", FOREVER),
            keyed("n4", "a", "new", FOREVER),
        ])
        .await
        .unwrap();
    let dup = |id: &str| IntakeOutcome::Duplicate {
        first_event_id: id.into(),
    };
    assert_eq!(outcomes, [dup("e1"), dup("e2"), dup("e3"), IntakeOutcome::Stored]);
    pool.close().await;
    drop(store);
    switchyard_store::testing::drop_postgres_database(&base, &url).await;
}
