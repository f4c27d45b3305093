//! What every operation shares, added to the generated document in one pass rather than
//! repeated on each route: bearer auth on `/v1`, `X-Request-Id` on requests and responses, the
//! error answers any route can give (each as the error envelope), links from where an id is
//! returned to the operations that take it, and request bodies that extend a core definition.

use serde_json::{Map, Value, json};

/// Request bodies written as a core definition plus a few fields (`#[serde(flatten)]`), which
/// utoipa renders as `allOf`. The core definitions refuse unknown fields, so `allOf` would
/// refuse the added ones: these are merged into one object instead.
const EXTENDED: &[&str] = &["NewEndpoint"];

/// `PATCH` bodies: any of a core definition's fields, each replacing the stored one. Described as
/// the definition with nothing required (`{Definition}Patch`), so it stays in step with core.
const PATCHES: &[(&str, &str)] = &[
    ("/v1/sources/{id}", "SourceSpec"),
    ("/v1/endpoints/{id}", "EndpointSpec"),
    ("/v1/destinations/{id}", "DestinationSpec"),
    ("/v1/flows/{id}", "FlowSpec"),
];

/// Operations that answer with an id of another collection: `(method, path, status, collection)`.
const CROSS_LINKS: &[(&str, &str, &str, &str)] = &[("post", "/v1/flows/{id}/runs", "202", "/v1/runs")];

pub(super) fn finish(doc: &mut Value) {
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`. Scopes are ordered admin ⊇ write ⊇ read; `switchyard keys create --scope …` or `POST /v1/keys` mints one, and `SWITCHYARD_BOOTSTRAP_KEY` makes an admin key at start-up."
    });
    doc["components"]["headers"]["X-Request-Id"] = json!({
        "description": "The request's id: the caller's `X-Request-Id` when well formed, else a new `req_…`.",
        "schema": {"type": "string"}
    });
    doc["components"]["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0}
    });
    for name in EXTENDED {
        merge_extension(doc, name);
    }
    for (path, definition) in PATCHES {
        patch_body(doc, path, definition);
    }
    link_ids(doc);
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for op in item.values_mut() {
            common_parts(path, op);
        }
    }
}

/// Paths outside `/v1` and the reference itself need no API key.
fn public(path: &str) -> bool {
    !path.starts_with("/v1/") || path == "/v1/openapi.json"
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    })
}

fn common_parts(path: &str, op: &mut Value) {
    let api = !public(path);
    let has_body = op.get("requestBody").is_some();
    if api {
        op["security"] = json!([{"bearer": []}]);
    }
    let mut params = op["parameters"].as_array().cloned().unwrap_or_default();
    params.push(json!({
        "name": "X-Request-Id", "in": "header", "required": false,
        "description": "Your id for this request (1–128 of `A-Za-z0-9-_.:`), echoed in the response and logs; any other value is replaced.",
        "schema": {"type": "string"}
    }));
    for p in params.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
        // What `idempotency.rs` accepts: 1 to 255 visible ASCII characters.
        p["schema"] = json!({"type": "string", "pattern": "^[!-~]{1,255}$"});
    }
    op["parameters"] = Value::Array(params);
    let mut responses: Map<String, Value> = op["responses"].as_object().cloned().unwrap_or_default();
    let mut add = |code: &str, r: Value| {
        responses.entry(code.to_string()).or_insert(r);
    };
    if api {
        add(
            "400",
            error(
                "A malformed query string or parameter (`invalid_query`, `invalid_parameter`, `invalid_cursor`), or malformed JSON (`invalid_json`)",
            ),
        );
        add(
            "401",
            error("No API key, or one that is not valid (`missing_api_key`, `invalid_api_key`)"),
        );
        add(
            "403",
            error("The key lacks the scope this operation needs (`insufficient_scope`)"),
        );
        if has_body {
            add("413", error("The body is larger than 2 MiB (`payload_too_large`)"));
            add(
                "415",
                error("The body is not sent as `application/json` (`unsupported_media_type`)"),
            );
            add(
                "422",
                error("The body does not have the expected shape (`validation_failed`)"),
            );
        }
    }
    add(
        "500",
        error("An internal error (`internal_error`); the server log has the cause"),
    );
    add(
        "503",
        error("Storage is unavailable, or the request ran past 60 s; retry after `Retry-After` seconds"),
    );
    add("default", error("Any other error, in the same envelope"));
    for (status, r) in responses.iter_mut() {
        r["headers"]["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
        if status == "429" || status == "503" {
            r["headers"]["Retry-After"] = json!({"$ref": "#/components/headers/Retry-After"});
        }
    }
    op["responses"] = Value::Object(responses);
}

/// Replaces `allOf: [{$ref: Core}, {properties: extra}]` by Core's object with `extra` added.
fn merge_extension(doc: &mut Value, name: &str) {
    let schemas = &doc["components"]["schemas"];
    let parts = schemas[name]["allOf"].as_array().cloned().unwrap_or_default();
    let mut merged = Value::Null;
    for part in &parts {
        if let Some(r) = part["$ref"].as_str() {
            merged = schemas[r.trim_start_matches("#/components/schemas/")].clone();
        }
    }
    if !merged.is_object() {
        return;
    }
    for part in &parts {
        if let Some(props) = part["properties"].as_object() {
            for (k, v) in props {
                merged["properties"][k] = v.clone();
            }
        }
    }
    if let Some(description) = doc["components"]["schemas"][name].get("description").cloned() {
        merged["description"] = description;
    }
    merged.as_object_mut().map(|m| m.remove("example"));
    doc["components"]["schemas"][name] = merged;
}

fn patch_body(doc: &mut Value, path: &str, definition: &str) {
    let mut patch = doc["components"]["schemas"][definition].clone();
    let Some(fields) = patch.as_object_mut() else { return };
    fields.remove("required");
    fields.remove("example");
    fields.insert(
        "description".into(),
        json!(format!("Any fields of {definition}; each one given replaces the stored one, and the result must be valid as a whole.")),
    );
    let name = format!("{}Patch", definition.trim_end_matches("Spec"));
    doc["components"]["schemas"][&name] = patch;
    doc["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({"$ref": format!("#/components/schemas/{name}")});
}

/// OpenAPI links from the answers that carry an id to the operations on `{collection}/{id}…`:
/// a creation (`$response.body#/id`) and a list (`$response.body#/data/0/id`). Clients and
/// stateful fuzzers follow them.
fn link_ids(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object() else { return };
    // Operation ids under each collection's `{id}` paths.
    let under = |collection: &str| -> Vec<String> {
        let prefix = format!("{collection}/{{id}}");
        paths
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .flat_map(|(_, item)| item.as_object().into_iter().flat_map(|m| m.values()))
            .filter_map(|op| op["operationId"].as_str().map(str::to_string))
            .collect()
    };
    let mut plan: Vec<(String, String, String, Vec<String>, &str)> = Vec::new();
    for (path, item) in paths {
        if path.contains('{') || !path.starts_with("/v1/") {
            continue;
        }
        let targets = under(path);
        if targets.is_empty() {
            continue;
        }
        for (method, status, from) in [
            ("post", "201", "$response.body#/id"),
            ("post", "202", "$response.body#/id"),
            ("get", "200", "$response.body#/data/0/id"),
        ] {
            if item[method]["responses"].get(status).is_some() {
                plan.push((path.clone(), method.into(), status.into(), targets.clone(), from));
            }
        }
    }
    for (method, path, status, collection) in CROSS_LINKS {
        plan.push((
            path.to_string(),
            method.to_string(),
            status.to_string(),
            under(collection),
            "$response.body#/id",
        ));
    }
    for (path, method, status, targets, from) in plan {
        let response = &mut doc["paths"][&path][&method]["responses"][&status];
        for target in targets {
            response["links"][&target] = json!({"operationId": target, "parameters": {"id": from}});
        }
    }
}
