//! `switchyard flows test NAME (--event evt_… | --data @file) [-f FILE] [--compare N]`: what-if
//! runs through `POST /v1/flows/{name}/test` and `/compare`. Nothing is sent: every request the
//! flow would send is printed, with what answered it (the event's recorded response, or the
//! stub). A changed definition comes from a config file, found by the flow's name.

use serde_json::{Value, json};

use super::CmdError;
use super::events::text;
use crate::cli::FlowTestArgs;
use crate::client::ApiClient;
use crate::config::ConfigFile;

pub async fn run(args: FlowTestArgs) -> Result<(), CmdError> {
    let client = ApiClient::new(&args.server)?;
    let definition = match &args.file {
        Some(path) => Some(changed_definition(path, &args.name)?),
        None => None,
    };
    if let Some(last) = args.compare {
        let body = json!({"definition": definition, "last": last});
        let result = client.post(&format!("/v1/flows/{}/compare", args.name), &body).await?;
        if args.server.json {
            println!("{result}");
        } else {
            print!("{}", render_comparison(&result));
        }
        return Ok(());
    }
    let mut body = json!({});
    if let Some(d) = definition {
        body["definition"] = d;
    }
    match (&args.event, &args.data) {
        (Some(id), _) => body["event_id"] = json!(id),
        (None, Some(data)) => {
            body["payload"] = payload(data)?;
            body["type"] = json!(args.event_type);
        }
        (None, None) => return Err(CmdError::Message("give --event or --data".into())),
    }
    let report = client.post(&format!("/v1/flows/{}/test", args.name), &body).await?;
    if args.server.json {
        println!("{report}");
    } else {
        print!("{}", render_report(&report));
    }
    Ok(())
}

/// The flow named `name` in the config file at `path`.
fn changed_definition(path: &std::path::Path, name: &str) -> Result<Value, CmdError> {
    let config = ConfigFile::load(path).map_err(|e| CmdError::InvalidFile(e.to_string()))?;
    let flow = config
        .flows
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| CmdError::InvalidFile(format!("{}: no flow is named {name:?}", path.display())))?;
    serde_json::to_value(flow).map_err(|e| CmdError::Message(e.to_string()))
}

fn payload(data: &str) -> Result<Value, CmdError> {
    let text = match data.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).map_err(|e| CmdError::Message(format!("--data {data}: {e}")))?,
        None => data.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| CmdError::Message(format!("--data is not JSON: {e}")))
}

/// The report for people: the outcome, each request in order (with what answered it), the steps.
pub fn render_report(r: &Value) -> String {
    let mut out = format!(
        "What-if run of {} ({}) on {}: {}\n",
        text(&r["flow"]),
        match r["version"].as_i64() {
            Some(v) => format!("version {v}"),
            None => "changed definition".into(),
        },
        text(&r["event_id"]),
        text(&r["status"]),
    );
    if let Some(c) = r["control"].as_object() {
        let field = |k: &str| text(&c.get(k).cloned().unwrap_or(Value::Null));
        out.push_str(&format!(
            "  flow control: key {}, at most {} at a time, sequence {}, waits {} s first\n",
            field("key"),
            field("limit"),
            field("sequence"),
            field("waits_seconds")
        ));
    }
    if r["filtered_by_trigger"] == true {
        out.push_str("  the trigger's filter turns this event away: no run would start\n");
    }
    if let Some(e) = r["error"].as_object() {
        out.push_str(&format!(
            "  error at {}: {} ({})\n",
            text(&e.get("step").cloned().unwrap_or(Value::Null)),
            text(&e.get("message").cloned().unwrap_or(Value::Null)),
            text(&e.get("class").cloned().unwrap_or(Value::Null)),
        ));
    }
    let requests = r["requests"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("Requests it would send ({}, none sent):\n", requests.len()));
    for q in &requests {
        out.push_str(&request_lines(q));
    }
    out.push_str("Steps:\n");
    for s in r["steps"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {:<24} {}\n", text(&s["path"]), text(&s["status"])));
    }
    out
}

fn request_lines(q: &Value) -> String {
    let req = &q["request"];
    let answered = match q["answered_by"].as_str() {
        Some("recorded") => "  [answered by the recorded response]",
        Some("stub") => "  [answered by the stub: 200, empty body]",
        _ => "",
    };
    let mut out = match q["kind"].as_str() {
        Some("http") => format!(
            "  {:<16} {} {}{answered}\n",
            text(&q["step"]),
            text(&req["method"]),
            text(&req["url"])
        ),
        Some("deliver") => format!(
            "  {:<16} deliver {} to endpoint {}\n",
            text(&q["step"]),
            text(&req["type"]),
            text(&req["endpoint"])
        ),
        Some("emit") => format!("  {:<16} emit {}\n", text(&q["step"]), text(&req["type"])),
        Some("delay") => format!("  {:<16} wait until {}\n", text(&q["step"]), text(&req["until"])),
        _ => format!("  {:<16} {}\n", text(&q["step"]), req),
    };
    for h in req["headers"].as_array().into_iter().flatten() {
        out.push_str(&format!("      {}: {}\n", text(&h[0]), text(&h[1])));
    }
    for part in ["body", "payload"] {
        if !req[part].is_null() {
            out.push_str(&format!("      {part}: {}\n", req[part]));
        }
    }
    out
}

pub fn render_comparison(c: &Value) -> String {
    let mut out = format!(
        "Compared version {} of {} with the changed definition over {} events: {} differ (nothing sent).\n",
        text(&c["version"]),
        text(&c["flow"]),
        text(&c["compared"]),
        text(&c["differing"]),
    );
    for e in c["events"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} ({} → {})\n",
            text(&e["event_id"]),
            text(&e["active_status"]),
            text(&e["changed_status"])
        ));
        for d in e["differences"].as_array().into_iter().flatten() {
            let field = match d["field"].as_str() {
                Some("") | None => "request".to_string(),
                Some(f) => f.to_string(),
            };
            out.push_str(&format!(
                "      {} {}: {} → {}\n",
                text(&d["step"]),
                field,
                d["active"],
                d["changed"]
            ));
        }
    }
    out
}
