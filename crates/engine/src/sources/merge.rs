//! How a partial update (`PATCH /v1/sources/{id}`) combines with the stored definition.

use serde_json::Value;

/// Applies `patch` (top-level keys replace) to `current`. A `verify` patch that omits `secrets`
/// and keeps the scheme keeps the current secrets, so options can change without re-sending them.
pub fn merge_patch(current: &Value, patch: &Value) -> Value {
    let mut merged = current.clone();
    let (Some(target), Some(changes)) = (merged.as_object_mut(), patch.as_object()) else {
        return patch.clone();
    };
    for (k, v) in changes {
        let mut v = v.clone();
        if k == "verify" {
            let old = current.get("verify");
            let same_scheme = old.and_then(|o| o.get("scheme")) == v.get("scheme") || v.get("scheme").is_none();
            if let (Some(obj), true) = (v.as_object_mut(), same_scheme) {
                for inherited in ["secrets", "scheme"] {
                    if let (false, Some(v)) = (obj.contains_key(inherited), old.and_then(|o| o.get(inherited))) {
                        obj.insert(inherited.into(), v.clone());
                    }
                }
            }
        }
        target.insert(k.clone(), v);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_secrets_when_only_options_change() {
        let cur = json!({"name": "a", "verify": {"scheme": "token", "secrets": ["s"], "header": "X-A"}});
        let out = merge_patch(&cur, &json!({"verify": {"header": "X-B"}, "enabled": false}));
        assert_eq!(
            out,
            json!({"name": "a", "enabled": false, "verify": {"scheme": "token", "secrets": ["s"], "header": "X-B"}})
        );
    }

    #[test]
    fn a_new_scheme_needs_its_own_secrets() {
        let cur = json!({"name": "a", "verify": {"scheme": "token", "secrets": ["s"]}});
        let out = merge_patch(&cur, &json!({"verify": {"scheme": "basic"}}));
        assert_eq!(out["verify"], json!({"scheme": "basic"}));
    }

    #[test]
    fn rotation_replaces_the_secret_list() {
        let cur = json!({"name": "a", "verify": {"scheme": "token", "secrets": ["old"]}});
        let out = merge_patch(&cur, &json!({"verify": {"secrets": ["old", "new"]}}));
        assert_eq!(out["verify"]["secrets"], json!(["old", "new"]));
    }
}
