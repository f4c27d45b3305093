//! `switchyard runs list|show|retry` against a running server (SPEC §7): the run history, one
//! run step by step, and resuming a failed or dead run from its failed step.

use serde_json::Value;

use super::CmdError;
use super::events::text;
use crate::cli::RunsCommand;
use crate::client::ApiClient;

pub async fn run(cmd: RunsCommand) -> Result<(), CmdError> {
    match cmd {
        RunsCommand::List {
            server,
            flow,
            status,
            event,
            limit,
            cursor,
        } => {
            let client = ApiClient::new(&server)?;
            let mut query = vec![("limit", limit.to_string())];
            let optional = [("flow", flow), ("status", status), ("event", event), ("cursor", cursor)];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let page = client.get("/v1/runs", &query).await?;
            if server.json {
                println!("{page}");
                return Ok(());
            }
            println!(
                "{:<30}  {:<20}  {:<9}  {:<30}  {:<20}  ERROR",
                "ID", "FLOW", "STATUS", "EVENT", "FAILED STEP"
            );
            for r in page["data"].as_array().into_iter().flatten() {
                println!(
                    "{:<30}  {:<20}  {:<9}  {:<30}  {:<20}  {}",
                    text(&r["id"]),
                    text(&r["flow"]),
                    text(&r["status"]),
                    text(&r["event_id"]),
                    text(&r["failed_step"]),
                    text(&r["error"]["message"]),
                );
            }
            if let Some(next) = page["next_cursor"].as_str() {
                eprintln!("more: --cursor {next}");
            }
            Ok(())
        }
        RunsCommand::Show { id, server } => {
            let client = ApiClient::new(&server)?;
            let run = client.get(&format!("/v1/runs/{id}"), &[]).await?;
            print_run(&run, server.json);
            Ok(())
        }
        RunsCommand::Retry { id, server } => {
            let client = ApiClient::new(&server)?;
            let run = client.post(&format!("/v1/runs/{id}/retry"), &Value::Null).await?;
            print_run(&run, server.json);
            Ok(())
        }
    }
}

fn print_run(run: &Value, json: bool) {
    if json {
        println!("{run}");
        return;
    }
    println!(
        "run {}  flow {} v{}  {}  event {}",
        text(&run["id"]),
        text(&run["flow"]),
        text(&run["flow_version"]),
        text(&run["status"]),
        text(&run["event_id"]),
    );
    if !run["error"].is_null() {
        println!(
            "failed at {}: {} ({})",
            text(&run["failed_step"]),
            text(&run["error"]["message"]),
            text(&run["error"]["class"])
        );
    }
    println!("{:<30}  {:<9}  {:>8}  OUTPUT / ERROR", "STEP", "STATUS", "ATTEMPTS");
    for s in run["steps"].as_array().into_iter().flatten() {
        let detail = if s["error"].is_null() {
            text(&s["output"])
        } else {
            format!("{}: {}", text(&s["error"]["class"]), text(&s["error"]["message"]))
        };
        let detail: String = detail.chars().take(120).collect();
        println!(
            "{:<30}  {:<9}  {:>8}  {}",
            text(&s["path"]),
            text(&s["status"]),
            text(&s["attempts"]),
            detail
        );
    }
}
