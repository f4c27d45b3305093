//! Alert rules (SPEC §5): what must hold for an operator to be told, and where the telling goes.
//! A rule is pure data here; the engine evaluates it against the store and moves its state
//! (`ok` ↔ `firing`) exactly once across nodes. Channel URLs may carry tokens (Slack's incoming
//! webhooks do), so views mask them and the store seals them.

use serde::{Deserialize, Serialize};

use crate::endpoint::normalize_url;
use crate::names::named_enum;
use crate::source::FieldError;

/// How long a rule stays quiet after it notified, unless configured.
pub const DEFAULT_COOLDOWN_SECONDS: u64 = 300;
/// The window of a failure ratio when none is given.
pub const DEFAULT_WINDOW_SECONDS: u64 = 300;
/// Outcomes a failure ratio needs before it may hold, when none is given.
pub const DEFAULT_MIN_COUNT: u64 = 10;
/// Rejections (401/403) in a row that make a credentials streak; one refused token refresh is enough.
pub const CREDENTIAL_STREAK: i64 = 3;
/// How far back a credentials streak is looked for.
pub const CREDENTIAL_WINDOW_SECONDS: u64 = 300;
/// What a masked channel URL reads as.
pub const MASK: &str = "********";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    pub name: String,
    pub rule: AlertRule,
    pub channel: AlertChannel,
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: u64,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_cooldown() -> u64 {
    DEFAULT_COOLDOWN_SECONDS
}
fn default_true() -> bool {
    true
}
fn default_window() -> u64 {
    DEFAULT_WINDOW_SECONDS
}
fn default_min_count() -> u64 {
    DEFAULT_MIN_COUNT
}

/// What a health sample counts: the kinds of things a failure ratio can watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Requests to `/in/{source}` (a rejection is a failure; a signature failure is also "rejected").
    Source,
    /// Delivery attempts (a 401/403 is also "rejected").
    Endpoint,
    /// Flow runs that ended (failed or dead is a failure).
    Flow,
    /// Flow calls to a destination (a 401/403 or a refused token is also "rejected").
    Destination,
}

named_enum!(ScopeKind, "scope kind", [
    Source => "source",
    Endpoint => "endpoint",
    Flow => "flow",
    Destination => "destination",
]);

/// `{"endpoint": "billing"}`: one thing, by name or id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertScope {
    Source(String),
    Endpoint(String),
    Flow(String),
    Destination(String),
}

impl AlertScope {
    pub fn kind(&self) -> ScopeKind {
        match self {
            AlertScope::Source(_) => ScopeKind::Source,
            AlertScope::Endpoint(_) => ScopeKind::Endpoint,
            AlertScope::Flow(_) => ScopeKind::Flow,
            AlertScope::Destination(_) => ScopeKind::Destination,
        }
    }

    pub fn target(&self) -> &str {
        match self {
            AlertScope::Source(s) | AlertScope::Endpoint(s) | AlertScope::Flow(s) | AlertScope::Destination(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertRule {
    /// Failures over outcomes in the window reach `threshold`, with at least `min_count`
    /// outcomes. Without a scope, every source, endpoint, flow and destination is watched
    /// on its own and the rule holds while any of them does.
    FailureRatio {
        #[serde(default)]
        scope: Option<AlertScope>,
        threshold: f64,
        #[serde(default = "default_window")]
        window_seconds: u64,
        #[serde(default = "default_min_count")]
        min_count: u64,
    },
    /// The oldest due job of any kind has waited longer than `seconds`.
    QueueAge { seconds: u64 },
    /// An endpoint was disabled by Switchyard (gone, or failing too long), not by an operator.
    EndpointDisabled,
    /// An endpoint's circuit breaker is open.
    CircuitOpen,
    /// An endpoint or destination rejects our credentials: a streak of 401/403 with no
    /// success in between, or a refused OAuth2 token request.
    CredentialsRejected,
    /// Events wait in quarantine for review.
    Quarantined,
    /// At least `count` requests failed signature verification within the window.
    SignatureFailures { count: u64, window_seconds: u64 },
}

impl AlertRule {
    pub fn kind(&self) -> &'static str {
        match self {
            AlertRule::FailureRatio { .. } => "failure_ratio",
            AlertRule::QueueAge { .. } => "queue_age",
            AlertRule::EndpointDisabled => "endpoint_disabled",
            AlertRule::CircuitOpen => "circuit_open",
            AlertRule::CredentialsRejected => "credentials_rejected",
            AlertRule::Quarantined => "quarantined",
            AlertRule::SignatureFailures { .. } => "signature_failures",
        }
    }
}

/// Where notifications go. Every URL is a secret (Slack's carry the token in the path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertChannel {
    /// A JSON `POST` of the notification.
    Webhook { url: String },
    /// A Slack-compatible incoming webhook: `{"text": …}`.
    Slack { url: String },
    /// A plain-text mail through the configured SMTP server.
    Email { to: Vec<String> },
}

impl AlertChannel {
    pub fn kind(&self) -> &'static str {
        match self {
            AlertChannel::Webhook { .. } => "webhook",
            AlertChannel::Slack { .. } => "slack",
            AlertChannel::Email { .. } => "email",
        }
    }

    /// The channel as views show it: URLs masked, addresses kept.
    pub fn masked(&self) -> AlertChannel {
        match self {
            AlertChannel::Webhook { .. } => AlertChannel::Webhook { url: MASK.into() },
            AlertChannel::Slack { .. } => AlertChannel::Slack { url: MASK.into() },
            AlertChannel::Email { to } => AlertChannel::Email { to: to.clone() },
        }
    }

    /// A masked URL stands for "keep the stored one": an update that echoes a view back must
    /// not overwrite the secret with the mask.
    pub fn keeps_url_of(&mut self, stored: &AlertChannel) {
        match (self, stored) {
            (AlertChannel::Webhook { url }, AlertChannel::Webhook { url: old })
            | (AlertChannel::Slack { url }, AlertChannel::Slack { url: old })
                if url == MASK =>
            {
                *url = old.clone();
            }
            _ => {}
        }
    }
}

/// A rule's state, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Ok,
    Firing,
}

named_enum!(AlertState, "alert state", [Ok => "ok", Firing => "firing"]);

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// A plausible mail address: one `@` with text on both sides, no spaces or angle brackets.
fn is_mail_address(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && a.len() <= 254
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

impl AlertSpec {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        if !crate::source::is_valid_source_name(&self.name) {
            errs.push(err("name", "must match [a-z0-9_-]{1,64}"));
        }
        match &self.rule {
            AlertRule::FailureRatio {
                scope,
                threshold,
                window_seconds,
                min_count,
            } => {
                if !(threshold.is_finite() && *threshold > 0.0 && *threshold <= 1.0) {
                    errs.push(err("rule.threshold", "must be a ratio in (0, 1]"));
                }
                if !(10..=86_400).contains(window_seconds) {
                    errs.push(err("rule.window_seconds", "must be between 10 and 86400"));
                }
                if *min_count == 0 {
                    errs.push(err("rule.min_count", "must be at least 1"));
                }
                if scope
                    .as_ref()
                    .is_some_and(|s| s.target().is_empty() || s.target().len() > 128)
                {
                    errs.push(err("rule.scope", "must name one source, endpoint, flow or destination"));
                }
            }
            AlertRule::QueueAge { seconds } if *seconds == 0 => {
                errs.push(err("rule.seconds", "must be at least 1"));
            }
            AlertRule::SignatureFailures { count, window_seconds } => {
                if *count == 0 {
                    errs.push(err("rule.count", "must be at least 1"));
                }
                if !(10..=86_400).contains(window_seconds) {
                    errs.push(err("rule.window_seconds", "must be between 10 and 86400"));
                }
            }
            _ => {}
        }
        match &self.channel {
            AlertChannel::Webhook { url } | AlertChannel::Slack { url } => {
                if let Err(m) = normalize_url(url) {
                    errs.push(err("channel.url", m));
                }
            }
            AlertChannel::Email { to } => {
                if to.is_empty() || to.len() > 20 {
                    errs.push(err("channel.to", "must list 1 to 20 addresses"));
                }
                if let Some(bad) = to.iter().find(|a| !is_mail_address(a)) {
                    errs.push(err("channel.to", format!("{bad:?} is not a mail address")));
                }
            }
        }
        if self.cooldown_seconds > 7 * 86_400 {
            errs.push(err("cooldown_seconds", "must be at most 604800 (a week)"));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> AlertSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn spec_shapes_parse_with_defaults() {
        let a = parse(
            json!({"name":"billing-failing","rule":{"kind":"failure_ratio","scope":{"endpoint":"billing"},"threshold":0.5},"channel":{"kind":"slack","url":"https://hooks.example.com/T/B/x"}}),
        );
        assert_eq!(a.cooldown_seconds, DEFAULT_COOLDOWN_SECONDS);
        assert_eq!(
            a.rule,
            AlertRule::FailureRatio {
                scope: Some(AlertScope::Endpoint("billing".into())),
                threshold: 0.5,
                window_seconds: DEFAULT_WINDOW_SECONDS,
                min_count: DEFAULT_MIN_COUNT
            }
        );
        assert!(a.validate().is_ok());
        let q = parse(
            json!({"name":"q","rule":{"kind":"quarantined"},"channel":{"kind":"email","to":["ops@example.com"]},"cooldown_seconds":0}),
        );
        assert_eq!(q.rule.kind(), "quarantined");
        assert!(q.validate().is_ok());
        assert!(
            serde_json::from_value::<AlertSpec>(
                json!({"name":"x","rule":{"kind":"nope"},"channel":{"kind":"email","to":["a@b"]}})
            )
            .is_err()
        );
    }

    #[test]
    fn validation_names_each_bad_field() {
        let a = parse(
            json!({"name":"Bad Name","rule":{"kind":"failure_ratio","threshold":1.5,"window_seconds":1,"min_count":0},"channel":{"kind":"email","to":["not an address"]}}),
        );
        let fields: Vec<_> = a.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        for f in [
            "name",
            "rule.threshold",
            "rule.window_seconds",
            "rule.min_count",
            "channel.to",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} missing from {fields:?}");
        }
        let w = parse(json!({"name":"w","rule":{"kind":"circuit_open"},"channel":{"kind":"webhook","url":"ftp://x"}}));
        assert_eq!(w.validate().unwrap_err()[0].field, "channel.url");
    }

    #[test]
    fn masked_channels_hide_urls_and_an_echoed_mask_keeps_the_secret() {
        let stored = AlertChannel::Slack {
            url: "https://hooks.example.com/services/T/B/secret".into(),
        };
        let mut echoed = stored.masked();
        assert_eq!(echoed, AlertChannel::Slack { url: MASK.into() });
        echoed.keeps_url_of(&stored);
        assert_eq!(echoed, stored);
        let mail = AlertChannel::Email {
            to: vec!["a@b.c".into()],
        };
        assert_eq!(mail.masked(), mail);
    }
}
