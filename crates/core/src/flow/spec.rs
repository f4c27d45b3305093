//! A flow definition as written in the config file or sent to `POST /v1/flows` (SPEC §7). Every
//! string that is evaluated is jq; the engine compiles each one before the definition is stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Delays before each attempt of a step when it names none: at once, then 1 s, 5 s, 30 s, 2 m,
/// 10 m — a flow is usually waited on, so it retries sooner than a webhook delivery.
pub const DEFAULT_STEP_SCHEDULE: &[u64] = &[0, 1, 5, 30, 120, 600];
/// How long a step keeps retrying when it names no maximum age (one day).
pub const DEFAULT_STEP_MAX_AGE_SECONDS: u64 = 86_400;
/// Items of one `foreach` run at once when it names no concurrency.
pub const DEFAULT_FOREACH_CONCURRENCY: u32 = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "notify-crm", "trigger": {"manual": true}, "steps": [{"id": "shape", "map": "{email: .payload.email}"}]}))]
pub struct FlowSpec {
    /// Unique.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    pub trigger: Trigger,
    #[schema(min_items = 1)]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// At most `limit` runs per key in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<super::control::Concurrency>,
    /// Runs of one key start in order, one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<super::control::Ordering>,
    /// One run per key, with the latest event, after a quiet period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<super::control::Debounce>,
}

/// Exactly one of `source`, `event_types`, `cron` and `manual` is set ([`Trigger::kind`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Inbound events of this source (by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// With `source`: type patterns (exact, or a prefix ending in `*`); none means every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Published events and events emitted by flows, by type pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Runs only through `POST /v1/flows/{name}/runs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
    /// jq predicate over the run's input; anything but `true` creates no run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// What starts a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind<'a> {
    Source { source: &'a str, types: &'a [String] },
    EventTypes(&'a [String]),
    Cron { cron: &'a str, timezone: Option<&'a str> },
    Manual,
}

impl Trigger {
    /// The one trigger set, or why there is not exactly one.
    pub fn kind(&self) -> Result<TriggerKind<'_>, &'static str> {
        let mut kinds = Vec::with_capacity(1);
        if let Some(source) = &self.source {
            kinds.push(TriggerKind::Source {
                source,
                types: &self.types,
            });
        }
        if let Some(types) = &self.event_types {
            kinds.push(TriggerKind::EventTypes(types));
        }
        if let Some(cron) = &self.cron {
            kinds.push(TriggerKind::Cron {
                cron,
                timezone: self.timezone.as_deref(),
            });
        }
        if self.manual {
            kinds.push(TriggerKind::Manual);
        }
        match kinds.as_slice() {
            [one] => Ok(*one),
            [] => Err("set one of source, event_types, cron or manual"),
            _ => Err("set only one of source, event_types, cron or manual"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
}

/// What a step does; written as the step's one action key (`http: {…}`, `map: '…'`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// jq predicate: anything but `true` ends the run as `filtered`.
    Filter(String),
    /// jq: its one result is the step's output.
    Map(String),
    /// JSON Schema over a jq-selected value (the whole input when `value` is absent).
    Validate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        schema: Value,
    },
    Http(HttpCall),
    /// A webhook to an endpoint through the delivery engine (signed, retried, replayable): an
    /// event of `type` (default `flow.<flow>.<step>`) with the `payload` (jq; default the run's
    /// payload), delivered to this endpoint only.
    Deliver {
        endpoint: String,
        #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
        event_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
    },
    /// Publishes an event that endpoints and `event_types` flows can take.
    Emit {
        #[serde(rename = "type")]
        event_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
    },
    // Steps nest (branch arms, foreach bodies): the schema refers back to `Step` rather than
    // expanding it forever.
    #[schema(no_recursion)]
    Branch(Vec<Arm>),
    Foreach {
        items: String,
        #[serde(default = "default_concurrency")]
        concurrency: u32,
        #[schema(no_recursion)]
        steps: Vec<Step>,
    },
    /// Durable: the run waits in the queue, holding no worker.
    Delay {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u64>,
        /// jq: an RFC 3339 timestamp or unix seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
}

fn default_concurrency() -> u32 {
    DEFAULT_FOREACH_CONCURRENCY
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Filter(_) => "filter",
            Action::Map(_) => "map",
            Action::Validate { .. } => "validate",
            Action::Http(_) => "http",
            Action::Deliver { .. } => "deliver",
            Action::Emit { .. } => "emit",
            Action::Branch(_) => "branch",
            Action::Foreach { .. } => "foreach",
            Action::Delay { .. } => "delay",
        }
    }

    /// True for steps that act on the world (a call, a publication). The others compute from the
    /// run's recorded state alone, so repeating one after a crash changes nothing anyone saw.
    pub fn acts_outside(&self) -> bool {
        matches!(self, Action::Http(_) | Action::Deliver { .. } | Action::Emit { .. })
    }
}

/// One way of a `branch`: the first arm whose `when` yields `true` runs; `else: true` always
/// matches (it must be last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, rename = "else", skip_serializing_if = "std::ops::Not::not")]
    pub otherwise: bool,
    #[schema(no_recursion)]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCall {
    /// A destination's name.
    pub destination: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Joined to the destination's `base_url` with exactly one `/`; empty calls `base_url`.
    /// jq string interpolation `\(…)` computes parts of it, e.g.
    /// `/lists/abc/members/\(.payload.email | ascii_downcase | md5)`.
    #[serde(default)]
    pub path: String,
    /// Query parameters; each value is jq.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Extra request headers; each value is jq.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// jq; its JSON result is the request body. None sends no body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}

impl HttpCall {
    /// The path as a jq string expression when it interpolates (`\(…)`), else `None` (used
    /// as written). Quotes are escaped so the path stays one string literal.
    pub fn path_template(&self) -> Option<String> {
        self.path
            .contains("\\(")
            .then(|| format!("\"{}\"", self.path.replace('"', "\\\"")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Delay before each attempt; the first entry is the first attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_seconds: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// What happens when a run dies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    /// Publishes an event of this type with `{"run_id","flow","event_id","failed_step","error"}`.
    pub emit: String,
}

impl Step {
    pub fn schedule(&self) -> &[u64] {
        self.retry
            .as_ref()
            .and_then(|r| r.schedule_seconds.as_deref())
            .unwrap_or(DEFAULT_STEP_SCHEDULE)
    }

    pub fn max_age_seconds(&self) -> u64 {
        self.retry
            .as_ref()
            .and_then(|r| r.max_age_seconds)
            .unwrap_or(DEFAULT_STEP_MAX_AGE_SECONDS)
    }

    /// The steps nested in this one (branch arms, foreach body), in order.
    pub fn children(&self) -> Vec<&Step> {
        match &self.action {
            Action::Branch(arms) => arms.iter().flat_map(|a| a.steps.iter()).collect(),
            Action::Foreach { steps, .. } => steps.iter().collect(),
            _ => Vec::new(),
        }
    }
}

impl FlowSpec {
    /// Every step, nested ones included, in document order.
    pub fn all_steps(&self) -> Vec<&Step> {
        fn walk<'a>(steps: impl IntoIterator<Item = &'a Step>, out: &mut Vec<&'a Step>) {
            for s in steps {
                out.push(s);
                walk(s.children(), out);
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }
}
