//! Recording the audit log (SPEC §4): one entry per change, with a diff of the masked
//! definitions (`switchyard_core::audit::changes`). The change itself is already stored when its
//! entry is written; an entry that cannot be written is logged at ERROR (someone must look) and
//! does not undo the change.

use serde_json::Value;
use switchyard_core::audit::{AuditAction, AuditResource, changes};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{AuditRow, Store};

/// Who made a change: an API key, or the config file (`None`).
pub async fn record(
    store: &dyn Store,
    key_id: Option<&str>,
    action: AuditAction,
    resource: AuditResource,
    resource_id: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) {
    let row = AuditRow {
        seq: 0,
        id: new_id(IdKind::Audit),
        at: now_micros(),
        key_id: key_id.map(str::to_string),
        action: action.as_str().to_string(),
        resource: resource.as_str().to_string(),
        resource_id: resource_id.to_string(),
        changes: changes(before, after).to_string(),
    };
    if let Err(e) = store.insert_audit(&row).await {
        tracing::error!(error = %e, action = %action, resource = %resource, resource_id, "an audit entry could not be stored");
    }
}
