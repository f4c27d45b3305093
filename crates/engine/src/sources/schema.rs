//! JSON Schema checks for sources (draft 2020-12 unless the schema says otherwise). Compiled once
//! per source version and shared; remote `$ref`s are never fetched (the crate's network resolver
//! is compiled out), so a schema cannot make Switchyard call out.

use std::sync::Arc;

use serde_json::Value;

/// Most validation messages kept per event.
const MAX_ERRORS: usize = 20;

#[derive(Clone)]
pub struct CompiledSchema(Arc<jsonschema::Validator>);

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema(..)")
    }
}

impl CompiledSchema {
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::validator_for(schema)
            .map(|v| CompiledSchema(Arc::new(v)))
            .map_err(|e| e.to_string())
    }

    /// Every violation (up to [`MAX_ERRORS`]) as `"<instance path>: <message>"`; empty when valid.
    /// A violation at, under or above a `redact` path says which rule failed but not the value:
    /// validator messages quote the instance, and `validation_errors` are shown in views.
    pub fn violations(&self, instance: &Value, redact: &[String]) -> Vec<String> {
        self.0
            .iter_errors(instance)
            .take(MAX_ERRORS)
            .map(|e| {
                let path = e.instance_path().to_string();
                let shown = if path.is_empty() { "/" } else { &path };
                if switchyard_core::redact::touches_redacted(&path, redact) {
                    let schema_path = e.schema_path().to_string();
                    let rule = schema_path.rsplit('/').next().unwrap_or("schema");
                    format!("{shown}: fails the schema's {rule:?} rule (at {schema_path}); the value is redacted")
                } else {
                    format!("{shown}: {e}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_each_violation_with_its_path() {
        let s = CompiledSchema::compile(&json!({
            "type": "object", "required": ["id", "amount"],
            "properties": {"id": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}}
        }))
        .unwrap();
        assert!(s.violations(&json!({"id": "a", "amount": 3}), &[]).is_empty());
        let v = s.violations(&json!({"id": 5, "amount": -1}), &[]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().any(|m| m.starts_with("/id:")) && v.iter().any(|m| m.starts_with("/amount:")));
        assert!(CompiledSchema::compile(&json!({"type": "nonsense"})).is_err());
    }

    #[test]
    fn violations_never_echo_redacted_values() {
        let s = CompiledSchema::compile(&json!({
            "type": "object",
            "properties": {"card": {"type": "integer"}, "n": {"type": "integer"}},
            "additionalProperties": false
        }))
        .unwrap();
        let v = s.violations(
            &json!({"card": "4242424242424242", "n": "plain-value", "extra": 1}),
            &["card".to_string()],
        );
        let all = v.join("\n");
        assert!(!all.contains("4242424242424242"), "{all}");
        assert!(all.contains("plain-value"), "other paths keep their detail: {all}");
        assert!(all.contains("/card: fails the schema's \"type\" rule"), "{all}");
    }

    #[test]
    fn remote_refs_are_not_fetched() {
        let s = CompiledSchema::compile(&json!({"$ref": "https://example.com/schema.json"}));
        assert!(s.is_err(), "no network resolver is compiled in");
    }
}
