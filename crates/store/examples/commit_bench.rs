//! Storage-only intake benchmark: how fast `commit_intake` stores batches, with no HTTP in the way.
//! Separates the database's cost from the server's when reading the end-to-end numbers.
//!
//! `cargo run --release -p switchyard-store --example commit_bench -- sqlite:///tmp/b.db 25 20000 [KEYS]`
//!
//! KEYS: `ordered` (default: dedup keys that follow time, like sequential provider ids), `random`
//! (keys spread over the whole index, like body hashes), or `none` (no dedup).

use std::time::Instant;

use switchyard_store::{DedupKey, IntakeWrite, NewEvent, StoreOptions, connect};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite:///tmp/switchyard-commit-bench.db".into());
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(25);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let keys = args.next().unwrap_or_else(|| "ordered".into());
    let store = connect(&url, &StoreOptions::default()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let pad = "x".repeat(180);
    let started = Instant::now();
    let mut commits = Vec::new();
    let mut n = 0;
    while n < total {
        let writes: Vec<IntakeWrite> = (0..batch)
            .map(|i: usize| {
                let id = format!("evt_{}", ulid::Ulid::new());
                let _ = i;
                IntakeWrite::Event(NewEvent {
                    id: id.clone(),
                    source_id: Some("src_bench".into()),
                    source_name: Some("bench".into()),
                    event_type: Some("bench.event".into()),
                    status: "received".into(),
                    received_at: switchyard_core::time::now_micros(),
                    content_type: Some("application/json".into()),
                    headers: r#"{"content-type":"application/json","host":"127.0.0.1:8080","content-length":"256"}"#
                        .into(),
                    payload: format!(r#"{{"type":"bench.event","id":"{id}","pad":"{pad}"}}"#).into_bytes(),
                    request_id: format!("req_{id}"),
                    dedup: match keys.as_str() {
                        "none" => None,
                        "random" => Some(format!("sha256:{:032x}", rand::random::<u128>())),
                        _ => Some(format!("sha256:{id}")),
                    }
                    .map(|key| DedupKey {
                        key,
                        expires_at: switchyard_core::time::now_micros() + 7 * 86_400_000_000,
                    }),
                    validation_errors: None,
                    deliveries: Vec::new(),
                    runs: Vec::new(),
                })
            })
            .collect();
        let t = Instant::now();
        store.commit_intake(&writes).await.expect("commit");
        commits.push(t.elapsed().as_micros() as u64);
        n += batch;
    }
    let secs = started.elapsed().as_secs_f64();
    commits.sort_unstable();
    let avg = commits.iter().sum::<u64>() as f64 / commits.len() as f64;
    println!(
        "{} events in {} commits of {batch}: {:.0} events/s; commit µs avg {avg:.0} p50 {} p99 {}",
        n,
        commits.len(),
        n as f64 / secs,
        commits[commits.len() / 2],
        commits[commits.len() * 99 / 100]
    );
}
