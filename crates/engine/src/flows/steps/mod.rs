//! The step kinds. `mod.rs` holds the ones that only evaluate (filter, map, validate, delay,
//! the branch choice and the foreach items) and the ones that publish (emit, deliver);
//! `http.rs` calls destinations. Every jq expression runs in the bounded pool; an expression that
//! fails, overruns, or yields no value or several where one is needed fails its step with an
//! error naming the step.

pub mod http;

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_core::flow::Action;
use switchyard_core::flow::spec::{Arm, Step};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::{now_micros, parse_rfc3339};
use switchyard_jq::JqError;
use switchyard_store::StepRow;

use super::execute::Walk;
use crate::delivery::Publication;
use crate::fanout::Origin;

/// What one execution of a step came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(Value),
    /// A filter said no; the output is what it yielded.
    Filtered(Value),
    /// Not finished: come back at `until` (µs) with this state recorded.
    Wait {
        until: i64,
        state: Value,
    },
    /// Permanent: no retry can help.
    Fail {
        class: String,
        message: String,
    },
    /// Worth another attempt per the step's schedule.
    Retry {
        class: String,
        message: String,
        retry_after_seconds: Option<u64>,
        /// The destination's schedule, when the step names none.
        schedule: Option<Vec<u64>>,
    },
}

pub(crate) fn fail(class: &str, message: impl Into<String>) -> Outcome {
    Outcome::Fail {
        class: class.to_string(),
        message: message.into(),
    }
}

/// Runs one step that is not a branch or a foreach.
pub(crate) async fn run(walk: &Walk, step: &Step, scope: &Value, path: &str, record: Option<&StepRow>) -> Outcome {
    match &step.action {
        Action::Filter(code) => match one(walk, step, "filter", code, scope).await {
            Ok(Value::Bool(true)) => Outcome::Done(Value::Bool(true)),
            Ok(other) => Outcome::Filtered(other),
            Err(e) => e,
        },
        Action::Map(code) => match one(walk, step, "map", code, scope).await {
            Ok(v) => Outcome::Done(v),
            Err(e) => e,
        },
        Action::Validate { value, schema } => {
            let instance = match value {
                Some(code) => match one(walk, step, "validate.value", code, scope).await {
                    Ok(v) => v,
                    Err(e) => return e,
                },
                None => scope.clone(),
            };
            let compiled = match crate::sources::CompiledSchema::compile(schema) {
                Ok(c) => c,
                Err(e) => {
                    return fail(
                        "invalid_schema",
                        format!("step {}: the schema does not compile: {e}", step.id),
                    );
                }
            };
            let violations = compiled.violations(&instance, &[]);
            if violations.is_empty() {
                Outcome::Done(instance)
            } else {
                fail(
                    "validation_failed",
                    format!("step {}: {}", step.id, violations.join("; ")),
                )
            }
        }
        Action::Delay { seconds, until } => match &walk.rehearsal {
            // A what-if walk shows the wait and goes on.
            Some(r) => {
                let until = match (seconds, until) {
                    (Some(s), _) => json!(format!("{s} s after the step starts")),
                    (None, Some(code)) => match one(walk, step, "delay.until", code, scope).await {
                        Ok(v) => v,
                        Err(e) => return e,
                    },
                    (None, None) => Value::Null,
                };
                r.delay(path, until.clone());
                Outcome::Done(json!({ "until": until, "waited": false }))
            }
            None => delay(walk, step, scope, record, *seconds, until.as_deref()).await,
        },
        Action::Http(call) => http::call(walk, step, call, scope, path).await,
        Action::Emit { event_type, payload } => {
            let payload = match payload {
                Some(code) => match one(walk, step, "emit.payload", code, scope).await {
                    Ok(v) => v,
                    Err(e) => return e,
                },
                None => scope["payload"].clone(),
            };
            if let Some(r) = &walk.rehearsal {
                let request = json!({"type": event_type, "payload": payload});
                return Outcome::Done(r.act(path, "emit", request, unpublished()));
            }
            publish(walk, path, event_type, &payload, Origin::Published, "emit").await
        }
        Action::Deliver {
            endpoint,
            event_type,
            payload,
        } => {
            let payload = match payload {
                Some(code) => match one(walk, step, "deliver.payload", code, scope).await {
                    Ok(v) => v,
                    Err(e) => return e,
                },
                None => scope["payload"].clone(),
            };
            let ep = match walk.deps.endpoints.get(endpoint).await {
                Ok(ep) => ep,
                Err(e) => {
                    return fail(
                        "endpoint_missing",
                        format!("step {}: endpoint {endpoint:?}: {e}", step.id),
                    );
                }
            };
            let ty = event_type
                .clone()
                .unwrap_or_else(|| format!("flow.{}.{}", walk.spec.name, step.id));
            if let Some(r) = &walk.rehearsal {
                let request = json!({"endpoint": endpoint, "endpoint_id": ep.id, "type": ty, "payload": payload});
                return Outcome::Done(r.act(path, "deliver", request, unpublished()));
            }
            publish(
                walk,
                path,
                &ty,
                &payload,
                Origin::Direct { endpoint_id: &ep.id },
                "deliver",
            )
            .await
        }
        Action::Branch(_) | Action::Foreach { .. } => fail("internal", "compound steps are walked, not run"),
    }
}

/// The output a what-if `emit`/`deliver` gets when the real run recorded none: nothing published.
fn unpublished() -> Value {
    json!({"event_id": null, "deliveries": 0, "runs": 0})
}

/// Publishes through the one fan-out, once per run and step path however often the step runs.
async fn publish(
    walk: &Walk,
    path: &str,
    event_type: &str,
    payload: &Value,
    origin: Origin<'_>,
    what: &str,
) -> Outcome {
    let key = format!("{what}:{}:{path}", walk.run.id);
    let request_id = new_id(IdKind::Request);
    match walk
        .deps
        .publisher
        .publish_event(Publication {
            event_type,
            payload,
            request_id: &request_id,
            origin,
            dedup_key: Some(&key),
        })
        .await
    {
        Ok(p) => Outcome::Done(json!({
            "event_id": p.event_id,
            "deliveries": p.deliveries,
            "runs": p.runs.len(),
        })),
        Err(e) => Outcome::Retry {
            class: "store_unavailable".into(),
            message: format!("publishing the event failed: {e}"),
            retry_after_seconds: None,
            schedule: None,
        },
    }
}

async fn delay(
    walk: &Walk,
    step: &Step,
    scope: &Value,
    record: Option<&StepRow>,
    seconds: Option<u64>,
    until: Option<&str>,
) -> Outcome {
    let now = now_micros();
    // A delay that already started keeps its end (recorded), whatever the clock says now.
    let recorded = record
        .and_then(|r| r.output.as_deref())
        .and_then(|o| serde_json::from_str::<Value>(o).ok())
        .and_then(|o| o["until_micros"].as_i64());
    let end = match (recorded, seconds, until) {
        (Some(end), _, _) => end,
        (None, Some(s), _) => now + (s as i64) * 1_000_000,
        (None, None, Some(code)) => match one(walk, step, "delay.until", code, scope).await {
            Ok(Value::String(s)) => match parse_rfc3339(&s) {
                Some(t) => t,
                None => {
                    return fail(
                        "invalid_time",
                        format!("step {}: delay.until yielded {s:?}, not an RFC 3339 time", step.id),
                    );
                }
            },
            Ok(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or(0) * 1_000_000,
            Ok(other) => {
                return fail(
                    "invalid_time",
                    format!("step {}: delay.until yielded {other}, not a time", step.id),
                );
            }
            Err(e) => return e,
        },
        (None, None, None) => now,
    };
    if end <= now {
        Outcome::Done(json!({ "until": switchyard_core::time::to_rfc3339(end) }))
    } else {
        Outcome::Wait {
            until: end,
            state: json!({ "until": switchyard_core::time::to_rfc3339(end), "until_micros": end }),
        }
    }
}

/// The first arm whose `when` yields `true` (or the `else`), or none.
pub(crate) async fn choose_arm(
    walk: &Walk,
    step: &Step,
    arms: &[Arm],
    scope: &Value,
) -> Result<Option<usize>, (String, String)> {
    for (i, arm) in arms.iter().enumerate() {
        if arm.otherwise {
            return Ok(Some(i));
        }
        if let Some(code) = &arm.when {
            match one(walk, step, &format!("branch[{i}].when"), code, scope).await {
                Ok(Value::Bool(true)) => return Ok(Some(i)),
                Ok(_) => {}
                Err(Outcome::Fail { class, message }) => return Err((class, message)),
                Err(_) => return Err(("jq_failed".into(), format!("step {}: branch[{i}].when failed", step.id))),
            }
        }
    }
    Ok(None)
}

/// A foreach's items: its expression's one result, which must be an array.
pub(crate) async fn items(walk: &Walk, step: &Step, code: &str, scope: &Value) -> Result<Vec<Value>, (String, String)> {
    match one(walk, step, "foreach.items", code, scope).await {
        Ok(Value::Array(items)) => Ok(items),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(other) => Err((
            "jq_failed".into(),
            format!(
                "step {}: foreach.items yielded {}, not an array",
                step.id,
                kind_of(&other)
            ),
        )),
        Err(Outcome::Fail { class, message }) => Err((class, message)),
        Err(_) => Err(("jq_failed".into(), format!("step {}: foreach.items failed", step.id))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The one value an expression yields; anything else fails the step, naming it and the field.
pub(crate) async fn one(walk: &Walk, step: &Step, field: &str, code: &str, scope: &Value) -> Result<Value, Outcome> {
    let code: Arc<str> = Arc::from(code);
    match walk.deps.jq.run(&code, scope.clone(), 2).await {
        Ok(mut values) if values.len() == 1 => Ok(values.pop().unwrap_or(Value::Null)),
        Ok(values) if values.is_empty() => Err(fail(
            "jq_no_value",
            format!("step {}: {field} yielded no value", step.id),
        )),
        Ok(_) => Err(fail(
            "jq_many_values",
            format!("step {}: {field} yielded more than one value", step.id),
        )),
        // Every worker stuck on overrunning expressions: another attempt may find one free.
        Err(JqError::Busy) => Err(Outcome::Retry {
            class: "jq_busy".into(),
            message: format!("step {}: no jq worker was free for {field}", step.id),
            retry_after_seconds: None,
            schedule: None,
        }),
        Err(JqError::Timeout) => Err(fail(
            "jq_timeout",
            format!("step {}: {field} exceeded its time budget", step.id),
        )),
        Err(e) => Err(fail("jq_failed", format!("step {}: {field}: {e}", step.id))),
    }
}
