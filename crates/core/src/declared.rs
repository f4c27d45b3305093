//! Configuration as code: the definitions a file declares (sources, endpoints, destinations,
//! flows, alerts — each found by its unique name) and the plan that reconciles a server with
//! them. A plan names every field that changes; a secret's change is stated, its value never.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alert::AlertSpec;
use crate::destination::DestinationSpec;
use crate::endpoint::EndpointSpec;
use crate::flow::FlowSpec;
use crate::source::SourceSpec;

/// Everything a config file declares. Order within a list does not matter; names are unique.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    #[serde(default)]
    pub endpoints: Vec<DeclaredEndpoint>,
    #[serde(default)]
    pub destinations: Vec<DestinationSpec>,
    #[serde(default)]
    pub flows: Vec<FlowSpec>,
    #[serde(default)]
    pub alerts: Vec<AlertSpec>,
}

/// An endpoint as a file declares it: its definition plus, optionally, its signing `secret`
/// (without one, a new endpoint gets a generated secret and an existing one keeps its own).
#[derive(Debug, Clone)]
pub struct DeclaredEndpoint {
    pub spec: EndpointSpec,
    pub secret: Option<String>,
}

impl<'de> Deserialize<'de> for DeclaredEndpoint {
    /// `secret` is split off first; the rest must be exactly an `EndpointSpec` (unknown keys are
    /// errors there, which `#[serde(flatten)]` would not keep).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = Map::<String, Value>::deserialize(d)?;
        let secret = match map.remove("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(D::Error::custom("secret must be a string")),
        };
        let spec: EndpointSpec = serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?;
        if spec.name.is_none() {
            return Err(D::Error::custom("a declared endpoint needs a name"));
        }
        Ok(DeclaredEndpoint { spec, secret })
    }
}

impl Serialize for DeclaredEndpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut value = serde_json::to_value(&self.spec).map_err(S::Error::custom)?;
        if let (Some(map), Some(secret)) = (value.as_object_mut(), &self.secret) {
            map.insert("secret".into(), Value::String(secret.clone()));
        }
        value.serialize(s)
    }
}

/// The kinds of definition a file declares, in the order they are created (a flow names
/// sources, destinations and endpoints; an alert may name any of them). Deletion runs in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Source,
    Endpoint,
    Destination,
    Flow,
    Alert,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Source => "source",
            ResourceKind::Endpoint => "endpoint",
            ResourceKind::Destination => "destination",
            ResourceKind::Flow => "flow",
            ResourceKind::Alert => "alert",
        }
    }

    /// The file's section of this kind (`flows`), for error paths.
    pub fn section(self) -> &'static str {
        match self {
            ResourceKind::Source => "sources",
            ResourceKind::Endpoint => "endpoints",
            ResourceKind::Destination => "destinations",
            ResourceKind::Flow => "flows",
            ResourceKind::Alert => "alerts",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    Update,
    Delete,
}

/// One field that differs. `before`/`after` are absent for secrets (and for a side that lacks
/// the field); `secret: true` says only that the value changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(default)]
    pub secret: bool,
}

/// One definition to create, change or delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ResourceKind,
    pub name: String,
    pub action: ChangeAction,
    /// For an update: every field that differs.
    #[serde(default)]
    pub fields: Vec<FieldChange>,
}

/// What reconciling a server with a file does (`applied: false` for a dry run). No changes
/// means the server already matches the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub applied: bool,
}

/// The fields in which two public (secret-free) definitions differ: objects are compared key by
/// key, arrays of equal length item by item (`steps[2].http.path`), anything else as a whole.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn walk(at: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))).collect();
            keys.sort();
            for key in keys {
                walk(&join(at, key), b.get(key), a.get(key), out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) if b.len() == a.len() => {
            for (i, (bi, ai)) in b.iter().zip(a).enumerate() {
                walk(&format!("{at}[{i}]"), Some(bi), Some(ai), out);
            }
        }
        (b, a) if b == a => {}
        // A missing field and an explicit null say the same.
        (None, Some(Value::Null)) | (Some(Value::Null), None) => {}
        (b, a) => out.push(FieldChange {
            field: at.to_string(),
            before: b.cloned(),
            after: a.cloned(),
            secret: false,
        }),
    }
}

/// A change of a secret field, stated without its values.
pub fn secret_changed(field: &str) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before: None,
        after: None,
        secret: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_each_changed_leaf() {
        let before = json!({"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": true, "n": null});
        let after = json!({"a": 1, "b": {"c": [1, 3], "d": "y"}, "new": 5});
        let fields: Vec<_> = diff(&before, &after).into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["b.c[1]", "b.d", "gone", "new"]);
    }

    #[test]
    fn arrays_of_other_length_change_whole() {
        let changes = diff(&json!({"s": [1]}), &json!({"s": [1, 2]}));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "s");
        assert_eq!(changes[0].after, Some(json!([1, 2])));
    }

    #[test]
    fn equal_values_have_no_diff() {
        let v = json!({"x": [{"y": 1}], "z": "q"});
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn declared_endpoint_round_trips_its_secret() {
        let e: DeclaredEndpoint =
            serde_json::from_value(json!({"name": "a", "url": "https://x.example/h", "secret": "whsec_abc"})).unwrap();
        assert_eq!(e.secret.as_deref(), Some("whsec_abc"));
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["secret"], "whsec_abc");
        assert!(serde_json::from_value::<DeclaredEndpoint>(json!({"url": "https://x.example/h"})).is_err());
    }
}
