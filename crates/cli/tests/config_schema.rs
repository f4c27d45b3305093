//! The config file's JSON Schema: the committed `docs/switchyard-config.schema.json` is the one
//! the binary prints (`switchyard config-schema`), every example config validates against it,
//! and it refuses what the server refuses (an unknown key, a wrong type).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn the_committed_schema_is_current_and_every_example_validates() {
    let schema = switchyard_server::openapi::config_schema::config_schema();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/switchyard-config.schema.json")).unwrap())
            .unwrap();
    assert!(
        committed == schema,
        "docs/switchyard-config.schema.json is stale: cargo run -- config-schema > docs/switchyard-config.schema.json"
    );
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut files = Vec::new();
    yaml_files(&root().join("examples"), &mut files);
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let config: Value = yaml_serde::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&config)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
    }
    let full = json!({
        "alerts": [{"name": "q", "rule": {"kind": "failure_ratio", "scope": {"endpoint": "billing"}, "threshold": 0.5},
                    "channel": {"kind": "slack", "url": "${SLACK_URL}"}, "cooldown_seconds": 60}],
        "smtp": {"url": "smtp://127.0.0.1:25", "from": "switchyard@example.com"},
        "flows": [{"name": "nightly", "trigger": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
                   "steps": [{"id": "m", "map": "."}]}],
        "endpoints": [{"name": "billing", "url": "https://billing.example.com/hook", "secret": "whsec_${SECRET}"}],
    });
    let errors: Vec<String> = validator
        .iter_errors(&full)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    for bad in [
        json!({"sourcez": []}),
        json!({"sources": [{"name": "x", "verify": {"scheme": "token", "secrets": ["s"]}, "colour": "red"}]}),
        json!({"alerts": [{"name": "q", "rule": {"kind": "quarantined"}, "channel": {"kind": "pager"}}]}),
        json!({"flows": [{"name": "f", "trigger": {"manual": true}, "steps": "nope"}]}),
    ] {
        assert!(!validator.is_valid(&bad), "accepted {bad}");
    }
}
