//! Flow control (SPEC §7): how a flow's runs queue per key. Each key is a jq expression over
//! `{"event", "payload"}` (as the trigger filter sees it) evaluated when the run is created; an
//! expression that fails or yields `null` puts the run under no key (it is never held back).
//! A flow takes at most one of the three: each queues runs by its own key.

use serde::{Deserialize, Serialize};

use crate::source::FieldError;

/// Most runs of one key in progress at once under `concurrency`.
pub const MAX_CONCURRENCY_LIMIT: u32 = 1000;
/// Longest reorder window and debounce period (one day).
pub const MAX_CONTROL_SECONDS: u64 = 86_400;

/// `concurrency: {key, limit}`: at most `limit` runs of a key in progress (started and not
/// ended: running, retrying or in a delay); the rest wait in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// jq over `{event, payload}`.
    pub key: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: u32,
}

/// `ordering: {key, sequence, window_seconds}`: runs of a key start in order, one at a time.
/// With `sequence` (jq yielding an integer), a run whose predecessor (sequence − 1) has not
/// started waits for it up to `window_seconds` from its own arrival, then goes ahead in sequence
/// order; the gap is recorded on the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ordering {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    #[serde(default = "default_window")]
    #[schema(maximum = 86400)]
    pub window_seconds: u64,
}

fn default_window() -> u64 {
    60
}

/// `debounce: {key, seconds}`: one run per key, with the latest event, once `seconds` pass
/// without a new event of the key; earlier runs of the key end `filtered` (superseded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Debounce {
    pub key: String,
    #[schema(minimum = 1, maximum = 86400)]
    pub seconds: u64,
}

/// The checks of a flow's control settings (`field` is the setting's name).
pub fn check(
    concurrency: Option<&Concurrency>,
    ordering: Option<&Ordering>,
    debounce: Option<&Debounce>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let err = |field: &str, message: &str| FieldError {
        field: field.into(),
        message: message.into(),
    };
    let set = [concurrency.is_some(), ordering.is_some(), debounce.is_some()];
    if set.iter().filter(|s| **s).count() > 1 {
        errors.push(err(
            "concurrency",
            "a flow takes one of concurrency, ordering and debounce (ordering already runs one at a time per key)",
        ));
    }
    if let Some(c) = concurrency {
        if c.key.trim().is_empty() {
            errors.push(err("concurrency.key", "write a jq expression"));
        }
        if !(1..=MAX_CONCURRENCY_LIMIT).contains(&c.limit) {
            errors.push(err("concurrency.limit", "must be 1 to 1000"));
        }
    }
    if let Some(o) = ordering {
        if o.key.trim().is_empty() {
            errors.push(err("ordering.key", "write a jq expression"));
        }
        if o.window_seconds > MAX_CONTROL_SECONDS {
            errors.push(err("ordering.window_seconds", "at most 86400 (one day)"));
        }
    }
    if let Some(d) = debounce {
        if d.key.trim().is_empty() {
            errors.push(err("debounce.key", "write a jq expression"));
        }
        if !(1..=MAX_CONTROL_SECONDS).contains(&d.seconds) {
            errors.push(err("debounce.seconds", "must be 1 to 86400"));
        }
    }
    errors
}
