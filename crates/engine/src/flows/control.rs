//! Flow control at a run's creation (SPEC §7): the run's key, its limit and sequence, and when
//! it may start, from the flow's `concurrency`, `ordering` or `debounce`. The queue then keeps
//! the rule (`KEY_HAS_ROOM` in the store's claim); the runner adds the reorder window and the
//! debounce's supersession when it starts a run (`runner.rs`).

use std::sync::Arc;

use serde_json::Value;
use switchyard_core::flow::FlowSpec;
use switchyard_jq::Jq;
use switchyard_store::RunControl;

/// The control of a new run, or `None` for a flow without one, or when the key expression
/// yields nothing (that run is then held back by nothing — logged, as for a failing filter).
pub(crate) async fn run_control(jq: &Jq, spec: &FlowSpec, input: &Value, now: i64) -> Option<RunControl> {
    let (key, limit, sequence, due_at) = if let Some(c) = &spec.concurrency {
        (&c.key, i64::from(c.limit), None, now)
    } else if let Some(o) = &spec.ordering {
        (&o.key, 1, o.sequence.as_ref(), now)
    } else if let Some(d) = &spec.debounce {
        (&d.key, 1, None, now + d.seconds as i64 * 1_000_000)
    } else {
        return None;
    };
    let key = match jq.first(&Arc::from(key.as_str()), input.clone()).await {
        Ok(Some(Value::String(s))) => s,
        Ok(Some(Value::Null) | None) => return None,
        Ok(Some(other)) => other.to_string(),
        Err(e) => {
            tracing::warn!(flow = %spec.name, error = %e, "flow control key failed; the run is held back by no key");
            return None;
        }
    };
    let sequence = match sequence {
        None => None,
        Some(code) => match jq.first(&Arc::from(code.as_str()), input.clone()).await {
            Ok(Some(Value::Number(n))) => n.as_i64(),
            Ok(Some(Value::String(s))) => s.trim().parse().ok(),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(flow = %spec.name, error = %e, "ordering sequence failed; the run is ordered by arrival");
                None
            }
        },
    };
    Some(RunControl {
        key,
        limit,
        sequence,
        due_at,
    })
}

/// Whether a controlled run may start now (checked before its first step): a debounced run
/// with a later run of its key is superseded; a sequenced run whose predecessor has not started
/// waits until its reorder window ends, then goes ahead with the gap recorded on it.
pub(crate) async fn may_start(
    deps: &super::RunnerDeps,
    run: &switchyard_store::RunRow,
    job: i64,
    spec: &FlowSpec,
) -> Result<(), super::execute::Halt> {
    use super::execute::Halt;
    let Some(key) = &run.control_key else {
        return Ok(());
    };
    if spec.debounce.is_some() {
        if deps.store.newer_run_of_key(&run.flow_id, key, job).await? {
            return Err(Halt::Superseded(
                "debounced: a later event of the same key has its own run".into(),
            ));
        }
        return Ok(());
    }
    let (Some(ordering), Some(sequence)) = (&spec.ordering, run.sequence) else {
        return Ok(());
    };
    let now = switchyard_core::time::now_micros();
    let last = deps.store.last_sequence(&run.flow_id, key).await?;
    let note = match last {
        Some(last) if sequence > last + 1 => {
            let deadline = run.started_at + ordering.window_seconds as i64 * 1_000_000;
            if now < deadline {
                return Err(Halt::Wait {
                    due: deadline,
                    status: switchyard_core::flow::RunStatus::Pending,
                });
            }
            Some(serde_json::json!({"ordering": {
                "sequence": sequence,
                "gap": {"expected": last + 1, "missing": sequence - last - 1,
                        "waited_seconds": ordering.window_seconds},
            }}))
        }
        Some(last) if sequence <= last => Some(serde_json::json!({"ordering": {
            "sequence": sequence, "late": {"after": last},
        }})),
        _ => None,
    };
    deps.store.start_sequence(&run.flow_id, key, sequence, now).await?;
    if let Some(n) = note {
        deps.store.set_run_note(&run.id, &n.to_string()).await?;
    }
    Ok(())
}
