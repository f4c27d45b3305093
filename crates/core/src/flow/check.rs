//! The structural rules a flow definition must pass before it is stored: names and step ids,
//! exactly one trigger, well-formed step options, and `.steps.<id>` references that name a step
//! of the flow. What needs the engine — compiling every jq expression within the bounds, and the
//! destinations and endpoints the steps name — is listed here ([`expressions`], [`References`])
//! and checked there.

use std::collections::HashSet;

use super::spec::{Action, FlowSpec, Step, TriggerKind};
use crate::source::FieldError;

/// Longest chain of nested branch/foreach steps.
pub const MAX_DEPTH: usize = 8;
/// Most steps in one flow, nested ones included.
pub const MAX_STEPS: usize = 200;
pub const MAX_FOREACH_CONCURRENCY: u32 = 64;
/// Headers of an `http` step that Switchyard sets itself (the idempotency key is derived from the
/// run; the transport owns the rest).
const RESERVED_HEADERS: [&str; 5] = [
    "idempotency-key",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
];
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// `[a-z0-9_-]{1,64}`: flow names and step ids.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// The field name of a step's option: `steps.<id>.<option>`.
pub fn step_field(step: &Step, option: &str) -> String {
    if option.is_empty() {
        format!("steps.{}", step.id)
    } else {
        format!("steps.{}.{option}", step.id)
    }
}

/// Every jq expression of the definition with the field it sits in.
pub fn expressions<'a>(flow: &'a FlowSpec) -> Vec<(String, &'a str)> {
    let mut out = Vec::new();
    if let Some(f) = &flow.trigger.filter {
        out.push(("trigger.filter".to_string(), f.as_str()));
    }
    if let Some(c) = &flow.concurrency {
        out.push(("concurrency.key".to_string(), c.key.as_str()));
    }
    if let Some(o) = &flow.ordering {
        out.push(("ordering.key".to_string(), o.key.as_str()));
        if let Some(s) = &o.sequence {
            out.push(("ordering.sequence".to_string(), s.as_str()));
        }
    }
    if let Some(d) = &flow.debounce {
        out.push(("debounce.key".to_string(), d.key.as_str()));
    }
    for step in flow.all_steps() {
        let mut add = |option: &str, code: &'a str| out.push((step_field(step, option), code));
        match &step.action {
            Action::Filter(code) => add("filter", code),
            Action::Map(code) => add("map", code),
            Action::Validate { value, .. } => {
                if let Some(v) = value {
                    add("validate.value", v)
                }
            }
            Action::Http(call) => {
                for (k, v) in &call.query {
                    add(&format!("http.query.{k}"), v);
                }
                for (k, v) in &call.headers {
                    add(&format!("http.headers.{k}"), v);
                }
                if let Some(b) = &call.body {
                    add("http.body", b);
                }
            }
            Action::Deliver { payload, .. } | Action::Emit { payload, .. } => {
                if let Some(p) = payload {
                    add("payload", p)
                }
            }
            Action::Branch(arms) => {
                for (i, arm) in arms.iter().enumerate() {
                    if let Some(w) = &arm.when {
                        add(&format!("branch[{i}].when"), w);
                    }
                }
            }
            Action::Foreach { items, .. } => add("foreach.items", items),
            Action::Delay { until, .. } => {
                if let Some(u) = until {
                    add("delay.until", u)
                }
            }
        }
    }
    out
}

/// What the steps name outside the flow.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References<'a> {
    /// `(field, destination name)`.
    pub destinations: Vec<(String, &'a str)>,
    /// `(field, endpoint name or id)`.
    pub endpoints: Vec<(String, &'a str)>,
}

pub fn references(flow: &FlowSpec) -> References<'_> {
    let mut refs = References::default();
    for step in flow.all_steps() {
        match &step.action {
            Action::Http(call) => refs
                .destinations
                .push((step_field(step, "http.destination"), &call.destination)),
            Action::Deliver { endpoint, .. } => refs.endpoints.push((step_field(step, "deliver.endpoint"), endpoint)),
            _ => {}
        }
    }
    refs
}

/// The structural checks; every problem is reported, each aimed at its field.
pub fn check(flow: &FlowSpec) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if !is_valid_name(&flow.name) {
        errors.push(err("name", "must match [a-z0-9_-]{1,64}"));
    }
    match flow.trigger.kind() {
        Err(m) => errors.push(err("trigger", m)),
        Ok(TriggerKind::Source { source: "", .. }) => errors.push(err("trigger.source", "name a source")),
        Ok(TriggerKind::EventTypes(types)) if types.is_empty() || types.iter().any(|t| t.is_empty()) => {
            errors.push(err("trigger.event_types", "list at least one non-empty type pattern"))
        }
        Ok(TriggerKind::Cron { cron, timezone }) => {
            if let Err(e) = super::schedule::Schedule::parse(cron, timezone) {
                errors.push(err(e.field(), e.to_string()));
            }
        }
        Ok(_) => {}
    }
    if !flow.trigger.types.is_empty() && flow.trigger.source.is_none() {
        errors.push(err(
            "trigger.types",
            "types narrows a source trigger; use event_types for published events",
        ));
    }
    if flow.steps.is_empty() {
        errors.push(err("steps", "list at least one step"));
    }
    let all = flow.all_steps();
    if all.len() > MAX_STEPS {
        errors.push(err("steps", format!("at most {MAX_STEPS} steps, nested ones included")));
    }
    let mut seen = HashSet::new();
    for step in &all {
        if !is_valid_name(&step.id) {
            errors.push(err(step_field(step, "id"), "must match [a-z0-9_-]{1,64}"));
        } else if !seen.insert(step.id.as_str()) {
            errors.push(err(step_field(step, "id"), "step ids must be unique in the flow"));
        }
        check_step(step, &mut errors);
    }
    if depth(&flow.steps) > MAX_DEPTH {
        errors.push(err(
            "steps",
            format!("branch and foreach nest at most {MAX_DEPTH} deep"),
        ));
    }
    for (field, code) in expressions(flow) {
        for name in step_references(code) {
            if !seen.contains(name) {
                errors.push(err(
                    field.clone(),
                    format!("refers to .steps.{name}, which is not a step of this flow"),
                ));
            }
        }
    }
    if let Some(f) = &flow.on_failure
        && f.emit.is_empty()
    {
        errors.push(err("on_failure.emit", "name the event type to emit"));
    }
    errors.extend(super::control::check(
        flow.concurrency.as_ref(),
        flow.ordering.as_ref(),
        flow.debounce.as_ref(),
    ));
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn check_step(step: &Step, errors: &mut Vec<FieldError>) {
    if let Some(retry) = &step.retry
        && let Some(schedule) = &retry.schedule_seconds
        && let Err(m) = crate::delivery::schedule::check(schedule)
    {
        errors.push(err(step_field(step, "retry.schedule_seconds"), m));
    }
    match &step.action {
        Action::Validate { schema, .. } if !schema.is_object() && !schema.is_boolean() => {
            errors.push(err(step_field(step, "validate.schema"), "must be a JSON Schema object"));
        }
        Action::Http(call) => {
            if !METHODS.contains(&call.method.as_str()) {
                errors.push(err(
                    step_field(step, "http.method"),
                    format!("one of {}", METHODS.join(", ")),
                ));
            }
            if call.path.contains("://") || call.path.contains(['?', '#']) {
                errors.push(err(
                    step_field(step, "http.path"),
                    "a path under the destination's base_url, without query or fragment (use query)",
                ));
            }
            for name in call.headers.keys() {
                if !crate::headers::is_header_name(name) {
                    errors.push(err(
                        step_field(step, "http.headers"),
                        format!("{name:?} is not a valid header name"),
                    ));
                } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    errors.push(err(
                        step_field(step, "http.headers"),
                        format!("{name} is set by Switchyard"),
                    ));
                }
            }
        }
        Action::Emit { event_type, .. } if event_type.is_empty() => {
            errors.push(err(step_field(step, "emit.type"), "name the event type"))
        }
        Action::Branch(arms) => {
            if arms.is_empty() {
                errors.push(err(step_field(step, "branch"), "list at least one arm"));
            }
            for (i, arm) in arms.iter().enumerate() {
                let field = step_field(step, &format!("branch[{i}]"));
                match (&arm.when, arm.otherwise) {
                    (Some(_), false) => {}
                    (None, true) if i + 1 == arms.len() => {}
                    (None, true) => errors.push(err(field, "else must be the last arm")),
                    _ => errors.push(err(field, "set exactly one of when or else")),
                }
                if arm.steps.is_empty() {
                    errors.push(err(
                        step_field(step, &format!("branch[{i}].steps")),
                        "list at least one step",
                    ));
                }
            }
        }
        Action::Foreach { concurrency, steps, .. } => {
            if !(1..=MAX_FOREACH_CONCURRENCY).contains(concurrency) {
                errors.push(err(
                    step_field(step, "foreach.concurrency"),
                    format!("from 1 to {MAX_FOREACH_CONCURRENCY}"),
                ));
            }
            if steps.is_empty() {
                errors.push(err(step_field(step, "foreach.steps"), "list at least one step"));
            }
        }
        Action::Delay { seconds, until } => match (seconds, until) {
            (Some(s), None) if *s <= crate::delivery::schedule::MAX_DELAY_SECONDS * 4 => {}
            (Some(_), None) => errors.push(err(step_field(step, "delay.seconds"), "at most 28 days")),
            (None, Some(_)) => {}
            _ => errors.push(err(step_field(step, "delay"), "set exactly one of seconds or until")),
        },
        _ => {}
    }
}

fn depth(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| {
            let children: Vec<Step> = s.children().into_iter().cloned().collect();
            if children.is_empty() { 1 } else { 1 + depth(&children) }
        })
        .max()
        .unwrap_or(0)
}

/// Step ids named as `.steps.<id>` in a jq expression (identifier syntax; `.steps["x"]` is not
/// followed — the run fails at that step instead).
pub fn step_references(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(".steps.") {
        let tail = &rest[at + ".steps.".len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(tail.len());
        if end > 0 {
            out.push(&tail[..end]);
        }
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(v: serde_json::Value) -> FlowSpec {
        serde_json::from_value(v).unwrap()
    }

    fn fields(r: Result<(), Vec<FieldError>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_good_flow_passes_and_round_trips() {
        let f = flow(json!({
            "name": "lead-to-crm",
            "trigger": {"source": "forms", "types": ["form.*"], "filter": ".payload.email != null"},
            "steps": [
                {"id": "contact", "http": {"destination": "crm", "path": "/contacts", "body": "{email: .payload.email}"},
                 "retry": {"schedule_seconds": [0, 5], "max_age_seconds": 60}},
                {"id": "route", "branch": [
                    {"when": ".steps.contact.output.status == 201", "steps": [{"id": "notify", "map": "."}]},
                    {"else": true, "steps": [{"id": "noop", "map": "null"}]}]},
                {"id": "each", "foreach": {"items": ".payload.items", "steps": [{"id": "one", "map": ".item"}]}},
                {"id": "wait", "delay": {"seconds": 5}}
            ],
            "on_failure": {"emit": "flow.failed"}
        }));
        assert_eq!(check(&f), Ok(()));
        assert_eq!(
            f.all_steps().iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["contact", "route", "notify", "noop", "each", "one", "wait"]
        );
        let back: FlowSpec = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(
            references(&f).destinations,
            vec![("steps.contact.http.destination".to_string(), "crm")]
        );
        assert_eq!(expressions(&f).len(), 7);
    }

    #[test]
    fn every_problem_is_reported_at_its_field() {
        let f = flow(json!({
            "name": "Bad",
            "trigger": {"source": "a", "manual": true},
            "steps": [
                {"id": "x", "map": ".steps.nope.output"},
                {"id": "x", "http": {"destination": "d", "method": "FETCH", "path": "/a?b=1"}},
                {"id": "b", "branch": [{"else": true, "steps": [{"id": "c", "map": "."}]}, {"when": "true", "steps": []}]},
                {"id": "f", "foreach": {"items": ".", "concurrency": 0, "steps": [{"id": "g", "map": "."}]}},
                {"id": "d", "delay": {}}
            ]
        }));
        let got = fields(check(&f));
        for want in [
            "name",
            "trigger",
            "steps.x.map",
            "steps.x.id",
            "steps.x.http.method",
            "steps.x.http.path",
            "steps.b.branch[0]",
            "steps.b.branch[1].steps",
            "steps.f.foreach.concurrency",
            "steps.d.delay",
        ] {
            assert!(got.contains(&want.to_string()), "{want} missing from {got:?}");
        }
    }

    #[test]
    fn step_references_are_found() {
        assert_eq!(step_references(".steps.a.output + .steps.b-2.x | .steps"), ["a", "b-2"]);
        assert!(step_references(".payload.steps").is_empty());
    }
}
