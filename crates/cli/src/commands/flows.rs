//! `switchyard flows list|show|versions|activate` against a running server (SPEC §7): what
//! flows exist, one flow's definition, its version history, and making an earlier version
//! current again (a rollback, stored as a new version).

use serde_json::{Value, json};

use super::CmdError;
use super::events::text;
use crate::cli::FlowsCommand;
use crate::client::ApiClient;

pub async fn run(cmd: FlowsCommand) -> Result<(), CmdError> {
    match cmd {
        FlowsCommand::Test(args) => super::flow_test::run(args).await,
        FlowsCommand::List { server, limit, cursor } => {
            let client = ApiClient::new(&server)?;
            let mut query = vec![("limit", limit.to_string())];
            query.extend(cursor.map(|c| ("cursor", c)));
            let page = client.get("/v1/flows", &query).await?;
            if server.json {
                println!("{page}");
                return Ok(());
            }
            println!("{:<24}  {:>7}  {:<30}  UPDATED", "NAME", "VERSION", "TRIGGER");
            for f in page["data"].as_array().into_iter().flatten() {
                println!(
                    "{:<24}  {:>7}  {:<30}  {}",
                    text(&f["name"]),
                    text(&f["version"]),
                    trigger(&f["trigger"]),
                    text(&f["updated_at"]),
                );
            }
            if let Some(next) = page["next_cursor"].as_str() {
                eprintln!("more: --cursor {next}");
            }
            Ok(())
        }
        FlowsCommand::Show { name, server } => {
            let client = ApiClient::new(&server)?;
            let flow = client.get(&format!("/v1/flows/{name}"), &[]).await?;
            if server.json {
                println!("{flow}");
            } else {
                println!(
                    "flow {}  v{}  {}",
                    text(&flow["name"]),
                    text(&flow["version"]),
                    trigger(&flow["trigger"])
                );
                for at in flow["next_runs"].as_array().into_iter().flatten() {
                    println!("next run {}", text(at));
                }
                println!("{}", serde_json::to_string_pretty(&flow["steps"]).unwrap_or_default());
            }
            Ok(())
        }
        FlowsCommand::Versions { name, server } => {
            let client = ApiClient::new(&server)?;
            let versions = client.get(&format!("/v1/flows/{name}/versions"), &[]).await?;
            if server.json {
                println!("{versions}");
                return Ok(());
            }
            println!("{:>7}  {:<32}  STEPS", "VERSION", "CREATED");
            for v in versions["data"].as_array().into_iter().flatten() {
                let steps: Vec<String> = v["definition"]["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| text(&s["id"]))
                    .collect();
                println!(
                    "{:>7}  {:<32}  {}",
                    text(&v["version"]),
                    text(&v["created_at"]),
                    steps.join(" → ")
                );
            }
            Ok(())
        }
        FlowsCommand::Activate { name, version, server } => {
            let client = ApiClient::new(&server)?;
            let flow = client
                .post(&format!("/v1/flows/{name}/versions/{version}/activate"), &json!({}))
                .await?;
            if server.json {
                println!("{flow}");
            } else {
                println!(
                    "flow {} is now version {} (the definition of version {version})",
                    text(&flow["name"]),
                    text(&flow["version"])
                );
            }
            Ok(())
        }
    }
}

/// A trigger in a few words.
fn trigger(t: &Value) -> String {
    if let Some(s) = t["source"].as_str() {
        format!("source {s}")
    } else if let Some(types) = t["event_types"].as_array() {
        format!("events {}", types.iter().map(text).collect::<Vec<_>>().join(","))
    } else if let Some(c) = t["cron"].as_str() {
        format!("cron {c} {}", t["timezone"].as_str().unwrap_or("UTC"))
    } else {
        "manual".into()
    }
}
