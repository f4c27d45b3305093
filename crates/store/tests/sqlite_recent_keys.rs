//! SQLite keeps recently won dedup keys apart from the key table until it merges them
//! (`store/src/sqlite/recent_keys.rs`). A process that stops before merging must not forget them:
//! the next start merges them before any intake.

use switchyard_store::testing::keyed_event as keyed;
use switchyard_store::*;

const FOREVER: i64 = i64::MAX / 2;

async fn open(url: &str) -> std::sync::Arc<dyn Store> {
    let store = connect(url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn keys_won_before_a_restart_are_still_held_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = open(&url).await;
    store
        .commit_intake(&[keyed("e1", "k1", FOREVER), keyed("e2", "k2", 1)])
        .await
        .unwrap();
    // Stopped without a merge: the keys are only in `dedup_recent`.
    drop(store);
    let store = open(&url).await;
    let outcomes = store
        .commit_intake(&[keyed("e3", "k1", FOREVER), keyed("e4", "k2", FOREVER)])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            IntakeOutcome::Duplicate {
                first_event_id: "e1".into()
            },
            IntakeOutcome::Stored,
        ],
        "k1 is still held; k2's window had ended, so e4 takes it"
    );
    drop(store);
    let store = open(&url).await;
    assert_eq!(
        store.commit_intake(&[keyed("e5", "k2", FOREVER)]).await.unwrap(),
        [IntakeOutcome::Duplicate {
            first_event_id: "e4".into()
        }],
        "the merge applied the take-over"
    );
    assert_eq!(store.purge_dedup_keys(FOREVER).await.unwrap(), 2);
}

#[tokio::test]
async fn a_fenced_start_merges_the_recent_keys_before_the_first_batch() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    let url = format!("sqlite://{}", file.display());
    let store = open(&url).await;
    store.commit_intake(&[keyed("e1", "k1", FOREVER)]).await.unwrap();
    drop(store);
    // Fenced with `chmod` (which the store honours even for root): start-up cannot merge, yet
    // succeeds.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&file).is_err() {
        // Without root SQLite itself opens the fenced file read-only, and the writer connection
        // stays so after the chmod back: this test needs root, as CI runs it.
        assert!(std::env::var_os("CI").is_none(), "this test needs root under CI");
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let store = open(&url).await;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        store.commit_intake(&[keyed("e2", "k1", FOREVER)]).await.unwrap(),
        [IntakeOutcome::Duplicate {
            first_event_id: "e1".into()
        }],
        "the first batch merged the key before deciding"
    );
}
