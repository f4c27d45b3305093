//! `switchyard deliveries list|replay` against a running server. A replay waits for the
//! replayed deliveries to settle, drawing a progress bar when stderr is a terminal (indicatif
//! hides it otherwise) and printing a one-line summary either way.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::CmdError;
use super::events::text;
use crate::cli::DeliveriesCommand;
use crate::client::ApiClient;

pub async fn run(cmd: DeliveriesCommand) -> Result<(), CmdError> {
    match cmd {
        DeliveriesCommand::List {
            server,
            event,
            endpoint,
            status,
            limit,
            cursor,
        } => {
            let client = ApiClient::new(&server)?;
            let mut query = vec![("limit", limit.to_string())];
            let optional = [
                ("event", event),
                ("endpoint", endpoint),
                ("status", status),
                ("cursor", cursor),
            ];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let page = client.get("/v1/deliveries", &query).await?;
            if server.json {
                println!("{page}");
                return Ok(());
            }
            println!(
                "{:<30}  {:<30}  {:<30}  {:<9}  {:>8}  LAST",
                "ID", "EVENT", "ENDPOINT", "STATUS", "ATTEMPTS"
            );
            for d in page["data"].as_array().into_iter().flatten() {
                println!(
                    "{:<30}  {:<30}  {:<30}  {:<9}  {:>8}  {}",
                    text(&d["id"]),
                    text(&d["event_id"]),
                    text(&d["endpoint_id"]),
                    text(&d["status"]),
                    text(&d["attempts"]),
                    text(&d["last_error"]),
                );
            }
            if let Some(next) = page["next_cursor"].as_str() {
                eprintln!("more: --cursor {next}");
            }
            Ok(())
        }
        DeliveriesCommand::Replay {
            id,
            event,
            endpoint,
            since,
            wait: crate::cli::ReplayWait { no_wait, wait_seconds },
            server,
        } => {
            let client = ApiClient::new(&server)?;
            let (answer, watch) = match (id, event, endpoint) {
                (Some(id), _, _) => (
                    client
                        .post(&format!("/v1/deliveries/{id}/replay"), &Value::Null)
                        .await?,
                    Watch::Delivery(id),
                ),
                (None, Some(ev), _) => (
                    client.post(&format!("/v1/events/{ev}/replay"), &Value::Null).await?,
                    Watch::Filter(("event", ev)),
                ),
                (None, None, Some(ep)) => (
                    client
                        .post(&format!("/v1/endpoints/{ep}/replay"), &json!({ "since": since }))
                        .await?,
                    Watch::Filter(("endpoint", ep)),
                ),
                (None, None, None) => {
                    return Err(CmdError::Message("give a delivery id, --event or --endpoint".into()));
                }
            };
            let replayed = answer["replayed"].as_u64().unwrap_or(0);
            if no_wait || replayed == 0 {
                if server.json {
                    println!("{answer}");
                } else {
                    println!("replayed {replayed}");
                }
                return Ok(());
            }
            let left = wait(&client, &watch, replayed, Duration::from_secs(wait_seconds)).await?;
            if server.json {
                println!("{}", json!({"replayed": replayed, "still_pending": left}));
            } else {
                println!(
                    "replayed {replayed}: {} settled, {left} still pending",
                    replayed.saturating_sub(left)
                );
            }
            Ok(())
        }
    }
}

/// What to poll to see the replayed deliveries settle.
enum Watch {
    Delivery(String),
    Filter((&'static str, String)),
}

/// Polls until nothing watched is pending (or `limit` passes); returns how many still are.
async fn wait(client: &ApiClient, watch: &Watch, total: u64, limit: Duration) -> Result<u64, CmdError> {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} replaying [{bar:30}] {pos}/{len} settled ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    loop {
        let pending = match watch {
            Watch::Delivery(id) => {
                let d = client.get(&format!("/v1/deliveries/{id}"), &[]).await?;
                u64::from(d["status"] == "pending")
            }
            Watch::Filter((key, value)) => {
                let query = [
                    (*key, value.clone()),
                    ("status", "pending".to_string()),
                    ("limit", "1000".to_string()),
                ];
                let page = client.get("/v1/deliveries", &query).await?;
                page["data"].as_array().map_or(0, |a| a.len() as u64)
            }
        };
        let left = pending.min(total);
        bar.set_position(total - left);
        if left == 0 || started.elapsed() >= limit {
            bar.finish_and_clear();
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
