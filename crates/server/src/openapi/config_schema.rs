//! The JSON Schema of the config file (`docs/switchyard-config.schema.json`, printed by
//! `switchyard config-schema`): built from the same core definitions the API documents, so an
//! editor checks a file against exactly what the server accepts. `${NAME}` references are
//! strings, as they are before substitution.

use serde_json::{Value, json};

/// Points `#/components/schemas/X` at `#/$defs/X`, everywhere.
fn rebase(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref"
                    && let Some(r) = child.as_str()
                {
                    *child = Value::String(r.replace("#/components/schemas/", "#/$defs/"));
                } else {
                    rebase(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rebase),
        _ => {}
    }
}

/// The names of the definitions `v` points at.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child.as_str()) {
                    ("$ref", Some(r)) => out.extend(r.strip_prefix("#/$defs/").map(str::to_string)),
                    _ => refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

/// Only the definitions the file's parts reach (the API's views are not part of it).
fn reachable(defs: &Value, roots: &[&str]) -> serde_json::Map<String, Value> {
    let mut kept = serde_json::Map::new();
    let mut todo: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
    while let Some(name) = todo.pop() {
        if kept.contains_key(&name) {
            continue;
        }
        let def = defs[&name].clone();
        refs(&def, &mut todo);
        kept.insert(name, def);
    }
    kept
}

pub fn config_schema() -> Value {
    let doc: Value = serde_json::from_slice(super::document()).unwrap_or(Value::Null);
    let mut defs = doc["components"]["schemas"].clone();
    rebase(&mut defs);
    // An endpoint in the file may carry its signing secret (`whsec_…`), which the API's
    // definition takes as a separate field.
    let mut declared = defs["EndpointSpec"].clone();
    if let Some(props) = declared["properties"].as_object_mut() {
        props.insert(
            "secret".into(),
            json!({"type": ["string", "null"], "description": "The signing secret (whsec_…); generated when absent"}),
        );
    }
    defs["DeclaredEndpoint"] = declared;
    let defs = reachable(
        &defs,
        &[
            "SourceSpec",
            "DeclaredEndpoint",
            "DestinationSpec",
            "FlowSpec",
            "AlertSpec",
        ],
    );
    let list = |def: &str, what: &str| json!({"type": "array", "description": what, "items": {"$ref": format!("#/$defs/{def}")}});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Switchyard config file",
        "description": "Sources, endpoints, destinations, flows and alerts applied at start-up, found by name. `${NAME}` in a string is replaced by the environment variable NAME.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "sources": list("SourceSpec", "Where webhooks arrive (`/in/{name}`) and how they are verified"),
            "endpoints": list("DeclaredEndpoint", "Outbound webhook subscribers, by unique name"),
            "destinations": list("DestinationSpec", "APIs flows call, with their credentials"),
            "flows": list("FlowSpec", "Flows: a trigger and steps"),
            "alerts": list("AlertSpec", "Alert rules and where they notify"),
            "smtp": {
                "type": "object",
                "description": "The SMTP server alert mail goes through",
                "additionalProperties": false,
                "required": ["url", "from"],
                "properties": {
                    "url": {"type": "string", "description": "smtp://host:port, smtp://host:587?tls=required or smtps://host:465"},
                    "from": {"type": "string", "description": "The sender address"}
                }
            }
        },
        "$defs": defs,
    })
}
