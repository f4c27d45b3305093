//! What every jq expression of a run sees (SPEC §7):
//! `{"event": {"id","type","source","received_at"}, "payload": …, "headers": {…}, "steps":
//! {"<id>": {"output": …}}, "item": …, "index": …}` — headers as stored (secret ones already
//! redacted at intake), `item`/`index` only inside a `foreach`.

use serde_json::{Map, Value, json};
use switchyard_core::time::to_rfc3339;
use switchyard_store::EventRecord;

use crate::intake::payload_view;

/// The run's input before any step ran.
pub(crate) fn initial(event: &EventRecord) -> Value {
    let payload = payload_view(event.content_type.as_deref(), &event.payload).unwrap_or(Value::Null);
    let headers: Value = serde_json::from_str(&event.headers).unwrap_or_else(|_| json!({}));
    json!({
        "event": {
            "id": event.id,
            "type": event.event_type,
            "source": event.source_name,
            "received_at": to_rfc3339(event.received_at),
        },
        "payload": payload,
        "headers": headers,
        "steps": {},
    })
}

/// Records a step's output where later expressions find it (`.steps.<id>.output`).
pub(crate) fn set_output(scope: &mut Value, step_id: &str, output: Value) {
    if !scope["steps"].is_object() {
        scope["steps"] = Value::Object(Map::new());
    }
    scope["steps"][step_id] = json!({ "output": output });
}

/// The scope of one `foreach` item: everything outside, plus `item` and `index`.
pub(crate) fn for_item(scope: &Value, item: Value, index: usize) -> Value {
    let mut s = scope.clone();
    s["item"] = item;
    s["index"] = json!(index);
    s
}
