//! Every case in `tests/vectors/*.json` — signatures made (and verdicts confirmed) by the
//! providers' own libraries where they exist, by their documentation otherwise; see
//! `tests/vectors/README.md` and the generator scripts beside it — must get the same verdict here.

use serde_json::{Value, json};
use switchyard_core::source::VerifySpec;
use switchyard_core::verify::{SignedRequest, verify};

fn run_case(scheme: &str, case: &Value) -> bool {
    let mut spec = json!({"scheme": scheme, "secrets": case["secrets"]});
    if let Some(t) = case["tolerance_seconds"].as_u64() {
        spec["tolerance_seconds"] = json!(t);
    }
    if matches!(scheme, "twilio" | "square" | "hubspot") {
        spec["url"] = case["url"].clone();
    }
    let spec: VerifySpec = serde_json::from_value(spec).unwrap();
    let headers: Vec<(String, String)> = case["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let lookup = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let body = case["body"].as_str().unwrap().as_bytes();
    let req = SignedRequest {
        method: case["method"].as_str().unwrap_or("POST"),
        url: case["url"].as_str(),
        body,
        now: case["now"].as_i64().unwrap(),
        header: &lookup,
    };
    verify(&spec, &spec.secrets, &req).is_ok()
}

#[test]
fn every_provider_vector_gets_the_libraries_verdict() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert_eq!(files.len(), 12, "one file per provider scheme");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let scheme = doc["scheme"].as_str().unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let expected = case["expect"] == "ok";
            if run_case(scheme, case) != expected {
                wrong.push(format!("{scheme}/{name}: expected {}", case["expect"]));
            }
            checked += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "verdicts differ from the providers' libraries:\n{}",
        wrong.join("\n")
    );
    assert_eq!(checked, 133, "every committed case is checked");
}
