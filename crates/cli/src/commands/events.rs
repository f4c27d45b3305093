//! `switchyard events list|show` against a running server.

use serde_json::Value;

use super::CmdError;
use crate::cli::EventsCommand;
use crate::client::ApiClient;

pub async fn run(cmd: EventsCommand) -> Result<(), CmdError> {
    match cmd {
        EventsCommand::List {
            server,
            source,
            status,
            event_type,
            since,
            until,
            limit,
            cursor,
        } => {
            let client = ApiClient::new(&server)?;
            let mut query = vec![("limit", limit.to_string())];
            let optional = [
                ("source", source),
                ("status", status),
                ("type", event_type),
                ("since", since),
                ("until", until),
                ("cursor", cursor),
            ];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let page = client.get("/v1/events", &query).await?;
            if server.json {
                println!("{page}");
                return Ok(());
            }
            println!(
                "{:<30}  {:<16}  {:<24}  {:<11}  RECEIVED",
                "ID", "SOURCE", "TYPE", "STATUS"
            );
            for e in page["data"].as_array().into_iter().flatten() {
                println!(
                    "{:<30}  {:<16}  {:<24}  {:<11}  {}",
                    text(&e["id"]),
                    text(&e["source"]),
                    text(&e["type"]),
                    text(&e["status"]),
                    text(&e["received_at"])
                );
            }
            if let Some(next) = page["next_cursor"].as_str() {
                eprintln!("more: --cursor {next}");
            }
            Ok(())
        }
        // One replay path: the deliveries command's, scoped to the event.
        EventsCommand::Replay { id, wait, server } => {
            super::deliveries::run(crate::cli::DeliveriesCommand::Replay {
                id: None,
                event: Some(id),
                endpoint: None,
                since: None,
                wait,
                server,
            })
            .await
        }
        EventsCommand::Release { id, source, server } => {
            let client = ApiClient::new(&server)?;
            let answer = match (id, source) {
                (Some(id), _) => client.post(&format!("/v1/events/{id}/release"), &Value::Null).await?,
                (None, Some(source)) => {
                    client
                        .post("/v1/events/release", &serde_json::json!({"source": source}))
                        .await?
                }
                (None, None) => return Err(CmdError::Message("give an event id or --source".into())),
            };
            if server.json {
                println!("{answer}");
            } else if let Some(released) = answer["released"].as_array() {
                let still = answer["still_invalid"].as_array().map(Vec::len).unwrap_or(0);
                println!("released {}, still invalid {still}", released.len());
            } else {
                println!("{} {}", text(&answer["id"]), text(&answer["status"]));
            }
            Ok(())
        }
        EventsCommand::Tail {
            source,
            event_type,
            no_runs,
            server,
        } => {
            let client = ApiClient::new(&server)?;
            let mut query: Vec<(&str, String)> = [("source", source), ("type", event_type)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            if no_runs {
                query.push(("runs", "false".into()));
            }
            use std::io::Write;
            client
                .follow("/v1/events/stream", &query, |kind, data| {
                    let line = if server.json {
                        format!(r#"{{"kind":{},"data":{data}}}"#, Value::from(kind))
                    } else {
                        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                        match kind {
                            "run" => format!(
                                "{}  run    {:<30}  {:<16}  {:<10}  {}",
                                text(&v["finished_at"]),
                                text(&v["id"]),
                                text(&v["flow"]),
                                text(&v["status"]),
                                text(&v["failed_step"])
                            ),
                            _ => format!(
                                "{}  event  {:<30}  {:<16}  {:<24}  {}",
                                text(&v["received_at"]),
                                text(&v["id"]),
                                text(&v["source"]),
                                text(&v["type"]),
                                text(&v["status"])
                            ),
                        }
                    };
                    // A closed pipe (`| head`) ends the tail.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
                })
                .await?;
            Ok(())
        }
        EventsCommand::Show { id, server } => {
            let client = ApiClient::new(&server)?;
            let e = client.get(&format!("/v1/events/{id}"), &[]).await?;
            if server.json {
                println!("{e}");
                return Ok(());
            }
            println!("id:          {}", text(&e["id"]));
            println!("source:      {}", text(&e["source"]));
            println!("type:        {}", text(&e["type"]));
            println!("status:      {}", text(&e["status"]));
            println!("received at: {}", text(&e["received_at"]));
            println!("request id:  {}", text(&e["request_id"]));
            println!("timeline:");
            for t in e["timeline"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {}  ({})",
                    text(&t["at"]),
                    text(&t["state"]),
                    text(&t["status_code"])
                );
            }
            println!("headers:");
            for (k, v) in e["headers"].as_object().into_iter().flatten() {
                println!("  {k}: {}", text(v));
            }
            println!("payload ({}):", text(&e["payload_encoding"]));
            println!("{}", serde_json::to_string_pretty(&e["payload"]).unwrap_or_default());
            Ok(())
        }
    }
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
