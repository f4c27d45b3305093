//! The audit log's vocabulary (SPEC §4): who changed what, with a diff that never holds a secret.
//! Diffs are taken over the definitions as the API shows them (masked), and every field whose
//! name marks a secret is masked again here, so a view that forgot one still cannot leak it.

use serde_json::{Map, Value};

use crate::names::named_enum;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
    Enable,
    Disable,
    Rotate,
    Replay,
    Release,
    Retry,
    Revoke,
    Start,
}

named_enum!(AuditAction, "audit action", [
    Create => "create",
    Update => "update",
    Delete => "delete",
    Enable => "enable",
    Disable => "disable",
    Rotate => "rotate",
    Replay => "replay",
    Release => "release",
    Retry => "retry",
    Revoke => "revoke",
    Start => "start",
]);

/// What it was done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditResource {
    Source,
    Endpoint,
    Destination,
    Flow,
    Key,
    Event,
    Delivery,
    Run,
    Alert,
}

named_enum!(AuditResource, "audit resource", [
    Source => "source",
    Endpoint => "endpoint",
    Destination => "destination",
    Flow => "flow",
    Key => "key",
    Event => "event",
    Delivery => "delivery",
    Run => "run",
    Alert => "alert",
]);

const MASK: &str = "********";

/// Field names whose values are secrets wherever they appear.
const SECRET_FIELDS: &[&str] = &[
    "secret",
    "secrets",
    "key",
    "token",
    "password",
    "client_secret",
    "value",
];

/// Fields holding URLs, which may carry credentials in their userinfo or query.
const URL_FIELDS: &[&str] = &["url", "base_url", "token_url"];

/// `value` with every secret-named field's value, every `headers` value and the credentials in
/// URL fields masked.
pub fn masked(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if SECRET_FIELDS.contains(&k.as_str()) && !v.is_null() {
                        Value::String(MASK.into())
                    } else if URL_FIELDS.contains(&k.as_str())
                        && let Some(url) = v.as_str()
                    {
                        // Credentials in a URL's userinfo or query, as log lines show them.
                        Value::String(crate::redact::redact_url(url))
                    } else if k == "headers" && v.is_object() {
                        Value::Object(
                            v.as_object()
                                .into_iter()
                                .flatten()
                                .map(|(h, _)| (h.clone(), Value::String(MASK.into())))
                                .collect(),
                        )
                    } else {
                        masked(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// The top-level fields that differ between two definitions, `{"field": {"from", "to"}}`,
/// secrets masked; a creation has no `before`, a deletion no `after`. Fields that only describe
/// state (`updated_at`, `version`, an endpoint's live `circuit`, `in_flight`, `paused_until`) are
/// left out.
pub fn changes(before: Option<&Value>, after: Option<&Value>) -> Value {
    let empty = Map::new();
    let (b, a) = (
        before.and_then(Value::as_object).unwrap_or(&empty),
        after.and_then(Value::as_object).unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Map::new();
    for k in keys {
        if matches!(
            k.as_str(),
            "updated_at" | "created_at" | "version" | "circuit" | "in_flight" | "paused_until"
        ) {
            continue;
        }
        let (from, to) = (b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null));
        if from != to {
            let wrap = |v: &Value| masked(&serde_json::json!({ k.as_str(): v }))[k.as_str()].clone();
            out.insert(k.clone(), serde_json::json!({"from": wrap(from), "to": wrap(to)}));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_name_changed_fields_and_never_hold_a_secret() {
        let before = json!({"name": "crm", "url": "https://a", "secret": "whsec_1", "headers": {"X-K": "v1"},
                            "auth": {"kind": "bearer", "token": "t1"}, "updated_at": "x"});
        let after = json!({"name": "crm", "url": "https://b", "secret": "whsec_2", "headers": {"X-K": "v2"},
                           "auth": {"kind": "bearer", "token": "t2"}, "updated_at": "y"});
        let diff = changes(Some(&before), Some(&after));
        assert_eq!(diff["url"], json!({"from": "https://a", "to": "https://b"}));
        assert_eq!(
            diff["secret"],
            json!({"from": MASK, "to": MASK}),
            "a rotation shows, its values do not"
        );
        assert!(diff.get("name").is_none() && diff.get("updated_at").is_none());
        let text = diff.to_string();
        for secret in ["whsec_1", "whsec_2", "t1", "t2", "v1", "v2"] {
            assert!(!text.contains(&format!("\"{secret}\"")), "{secret} in {text}");
        }
        let with_url = changes(None, Some(&json!({"url": "https://u:pw1@h.example/x?token=qt1&a=1"})));
        let text = with_url.to_string();
        assert!(
            !text.contains("pw1") && !text.contains("qt1") && text.contains("a=1"),
            "{text}"
        );
        let created = changes(None, Some(&json!({"name": "x", "secrets": ["s"]})));
        assert_eq!(created["name"], json!({"from": null, "to": "x"}));
        assert_eq!(created["secrets"]["to"], MASK);
        assert_eq!("rotate".parse::<AuditAction>().unwrap(), AuditAction::Rotate);
        assert_eq!(AuditResource::Destination.as_str(), "destination");
    }
}
