//! What a source is: the definition a user writes (`POST /v1/sources` or YAML) and the rules it
//! must obey. A source's secrets travel separately from the rest of its definition so the store
//! can seal them and every view can mask them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Default cap on an inbound body (SPEC §2).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// The largest cap a source may ask for; bigger payloads belong in object storage, not a webhook.
pub const MAX_BODY_BYTES_LIMIT: u64 = 16 * 1024 * 1024;
/// Default dedup window: 7 days.
pub const DEFAULT_DEDUP_WINDOW_SECONDS: u64 = 7 * 24 * 3600;

/// Verification schemes named by the contract (SPEC §6); see `verify` for each one's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    #[default]
    None,
    Token,
    Basic,
    StandardWebhooks,
    Stripe,
    Github,
    Shopify,
    Slack,
    Twilio,
    Square,
    Paddle,
    Zoom,
    Meta,
    Typeform,
    Hubspot,
    Hmac,
}

impl Scheme {
    /// Schemes that can be verified before the body is read.
    pub fn header_only(self) -> bool {
        matches!(self, Scheme::None | Scheme::Token | Scheme::Basic)
    }
}

/// Which bodies a source accepts; anything else is `415`. When a source does not say, it follows
/// what its scheme's provider sends ([`Scheme::default_accept`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Accept {
    /// `application/json` or `application/*+json`.
    #[default]
    Json,
    /// JSON, or `application/x-www-form-urlencoded` (Twilio's callbacks, GitHub hooks set to
    /// form, Slack's interactivity and slash commands).
    JsonOrForm,
    /// Any content type, stored as it arrived.
    Any,
}

impl Scheme {
    /// What the provider behind the scheme actually sends, from its documentation: Twilio posts
    /// forms (JSON only for some products), GitHub lets each hook choose JSON or a form with the
    /// JSON in `payload`, Slack sends JSON events but forms for interactivity and slash commands.
    /// Every other provider sends JSON; the generic schemes default to JSON too.
    pub fn default_accept(self) -> Accept {
        match self {
            Scheme::Twilio | Scheme::Github | Scheme::Slack => Accept::JsonOrForm,
            _ => Accept::Json,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct VerifySpec {
    #[serde(default)]
    pub scheme: Scheme,
    /// Active secrets; any one of them verifies (rotation). For `basic` each is `user:password`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<u64>,
    /// Scheme options, e.g. `header` for `token`.
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

impl VerifySpec {
    /// The header a `token` source reads (lower-case); `authorization` unless configured.
    pub fn token_header(&self) -> String {
        self.options
            .get("header")
            .and_then(Value::as_str)
            .unwrap_or("authorization")
            .to_ascii_lowercase()
    }

    /// Headers this source's options name that carry a credential or signature (lower-case):
    /// the `token` scheme's token header and the `hmac` scheme's signature header. They are
    /// never stored or shown, like the built-in secret headers.
    pub fn secret_headers(&self) -> Vec<String> {
        match self.scheme {
            Scheme::Token => vec![self.token_header()],
            Scheme::Hmac => self
                .options
                .get("header")
                .and_then(Value::as_str)
                .map(|h| vec![h.to_ascii_lowercase()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DedupSpec {
    /// On by default (SPEC §2). Off only for sources whose deliveries can never repeat, or to
    /// measure intake without the cost of the dedup index.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default = "default_window")]
    pub window_seconds: u64,
}

impl Default for DedupSpec {
    fn default() -> Self {
        DedupSpec {
            enabled: true,
            key: None,
            window_seconds: DEFAULT_DEDUP_WINDOW_SECONDS,
        }
    }
}

fn default_window() -> u64 {
    DEFAULT_DEDUP_WINDOW_SECONDS
}
fn default_max_body() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}
fn yes() -> bool {
    true
}

/// A source as its owner defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "stripe", "verify": {"scheme": "stripe", "secrets": ["whsec_c2VjcmV0"]}}))]
pub struct SourceSpec {
    /// Unique; the path segment of `/in/{name}`. Not starting with `src_`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    #[serde(default)]
    pub verify: VerifySpec,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub dedup: DedupSpec,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// `None`: the scheme's default ([`SourceSpec::accepts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Event types to accept (`*` at the end matches a prefix); others get a receipt and a 200
    /// "ignored" answer, and no event. `null` accepts every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Intake rate limit per node; over it, `429` with `Retry-After`.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// JSON paths hidden in every view of this source's payloads (see `redact`); the stored raw
    /// payload keeps them for flows and replays.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
    /// Days an event (raw payload included) and the source's receipts are kept; older ones are
    /// deleted in small batches by housekeeping. `None`: the server's `--retention-days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// CIDR blocks allowed to deliver (empty: anyone); others get `403`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ips: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed when finding the client address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
}

/// Default retention of everything stored (`--retention-days`): 30 days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// The longest retention anything may ask for.
pub const MAX_RETENTION_DAYS: u32 = 3650;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: f64,
    /// Requests allowed at once above the steady rate (default: one second's worth).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// True when `event_type` is allowed by `patterns` (exact, or prefix with a trailing `*`).
pub fn type_allowed(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => p == event_type,
    })
}

/// One reason a definition was refused, aimed at the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// `field: message; field: message`, for start-up errors and logs.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// True for `[a-z0-9_-]{1,64}`, the names that can be a path segment of `/in/{name}`.
/// `src_…` is reserved: it would read as a source id wherever a name-or-id is accepted.
pub fn is_valid_source_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with("src_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl SourceSpec {
    /// The bodies this source takes: its own `accept`, else its scheme's default.
    pub fn accepts(&self) -> Accept {
        self.accept.unwrap_or(self.verify.scheme.default_accept())
    }

    /// Checks every rule and reports all violations at once.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        if !is_valid_source_name(&self.name) {
            errs.push(err("name", "must match [a-z0-9_-]{1,64} and not start with src_"));
        }
        errs.extend(crate::verify::check_spec(&self.verify));
        if self
            .schema
            .as_ref()
            .is_some_and(|s| !s.is_object() && !s.is_boolean() && !s.is_null())
        {
            errs.push(err("schema", "a JSON Schema is an object (or true/false)"));
        }
        if let Some(code) = &self.dedup.key
            && let Err(e) = switchyard_jq::validate(code)
        {
            errs.push(err("dedup.key", e.to_string()));
        }
        if self.dedup.window_seconds == 0 || self.dedup.window_seconds > 366 * 24 * 3600 {
            errs.push(err("dedup.window_seconds", "must be between 1 second and 366 days"));
        }
        if let Some(types) = &self.event_types {
            if types.is_empty() || types.len() > 500 {
                errs.push(err(
                    "event_types",
                    "list 1 to 500 types, or use null to accept every type",
                ));
            }
            if types
                .iter()
                .any(|t| t.is_empty() || t.len() > 200 || t.trim_end_matches('*').contains('*'))
            {
                errs.push(err(
                    "event_types",
                    "each type is 1 to 200 characters, with * allowed only at the end",
                ));
            }
        }
        for (field, list) in [
            ("allow_ips", &self.allow_ips),
            ("trusted_proxies", &self.trusted_proxies),
        ] {
            if list.len() > 200 {
                errs.push(err(field, "at most 200 blocks"));
            }
            for (i, b) in list.iter().enumerate() {
                if let Err(why) = crate::network::Cidr::parse(b) {
                    errs.push(err(&format!("{field}[{i}]"), why));
                }
            }
        }
        if self
            .retention_days
            .is_some_and(|d| !(1..=MAX_RETENTION_DAYS).contains(&d))
        {
            errs.push(err(
                "retention_days",
                "must be between 1 and 3650, or omitted for the server default",
            ));
        }
        if self.redact.len() > crate::redact::MAX_PATHS {
            errs.push(err("redact", format!("at most {} paths", crate::redact::MAX_PATHS)));
        }
        for (i, p) in self.redact.iter().enumerate() {
            if let Err(why) = crate::redact::check_path(p) {
                errs.push(err(&format!("redact[{i}]"), why));
            }
        }
        if let Some(r) = &self.rate_limit
            && !(r.per_second.is_finite() && r.per_second > 0.0 && r.per_second <= 1_000_000.0)
        {
            errs.push(err(
                "rate_limit.per_second",
                "must be a number above 0 and at most 1,000,000",
            ));
        }
        if self.max_body_bytes == 0 || self.max_body_bytes > MAX_BODY_BYTES_LIMIT {
            errs.push(err(
                "max_body_bytes",
                format!("must be between 1 and {MAX_BODY_BYTES_LIMIT}"),
            ));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// Splits the secrets off so the rest can be stored (and shown) as plain JSON.
    pub fn take_secrets(mut self) -> (SourceSpec, Vec<String>) {
        let secrets = std::mem::take(&mut self.verify.secrets);
        (self, secrets)
    }

    /// The definition as an API response shows it: secrets replaced by a mask of equal count.
    pub fn masked(&self, secret_count: usize) -> SourceSpec {
        let mut s = self.clone();
        s.verify.secrets = vec!["********".to_string(); secret_count];
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> SourceSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = spec(json!({"name": "demo"}));
        assert_eq!(s.verify.scheme, Scheme::None);
        assert_eq!(s.max_body_bytes, 1_048_576);
        assert_eq!(s.dedup.window_seconds, 604_800);
        assert!(s.enabled);
        assert_eq!(s.accepts(), Accept::Json);
        let h = spec(json!({"name": "h", "verify": {"scheme": "hmac", "header": "X-Acme-Mac", "secrets": ["k"]}}));
        assert_eq!(h.verify.secret_headers(), ["x-acme-mac"]);
        let tw = spec(json!({"name": "tw", "verify": {"scheme": "twilio", "secrets": ["t"]}}));
        assert_eq!(tw.accepts(), Accept::JsonOrForm);
        let forced = spec(json!({"name": "tw", "accept": "json", "verify": {"scheme": "twilio", "secrets": ["t"]}}));
        assert_eq!(forced.accepts(), Accept::Json);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn type_patterns() {
        let p = vec!["charge.succeeded".to_string(), "customer.*".to_string()];
        assert!(type_allowed(&p, "charge.succeeded"));
        assert!(type_allowed(&p, "customer.created"));
        assert!(!type_allowed(&p, "charge.failed"));
        let bad = spec(json!({"name": "s", "event_types": ["a*b"], "rate_limit": {"per_second": 0}}));
        let fields: Vec<_> = bad.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["event_types", "rate_limit.per_second"]);
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "Stripe", "a b", "x/y", "src_01", &"a".repeat(65)] {
            assert!(!is_valid_source_name(bad), "{bad}");
        }
        assert!(is_valid_source_name("stripe_prod-2"));
    }

    #[test]
    fn reports_every_violation() {
        let s = spec(json!({"name": "Bad Name", "verify": {"scheme": "token"}, "max_body_bytes": 0}));
        let errs = s.validate().unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "verify.secrets", "max_body_bytes"]);
    }

    #[test]
    fn scheme_settings_are_checked() {
        let s =
            spec(json!({"name": "s", "verify": {"scheme": "stripe", "secrets": ["whsec_x"], "tolerance_seconds": 60}}));
        assert!(s.validate().is_ok());
        let s = spec(json!({"name": "s", "verify": {"scheme": "twilio", "secrets": ["t"]}}));
        assert_eq!(s.validate().unwrap_err()[0].field, "verify.url");
        let s = spec(json!({"name": "s", "verify": {"scheme": "standard-webhooks", "secrets": ["whsec_!!"]}}));
        assert_eq!(s.validate().unwrap_err()[0].field, "verify.secrets[0]");
        let s = spec(json!({"name": "s", "verify": {"scheme": "github", "secrets": ["x"], "tolerance_seconds": 60}}));
        assert_eq!(s.validate().unwrap_err()[0].field, "verify.tolerance_seconds");
        let s = spec(
            json!({"name": "s", "verify": {"scheme": "hmac", "secrets": ["x"], "header": "X-Sig", "template": "{nope}"}}),
        );
        assert_eq!(s.validate().unwrap_err()[0].field, "verify");
        let s = spec(json!({"name": "s", "verify": {"scheme": "basic", "secrets": ["nocolon"]}}));
        assert_eq!(s.validate().unwrap_err()[0].field, "verify.secrets[0]");
        let s = spec(json!({"name": "s", "verify": {"scheme": "token", "secrets": ["t"], "hedaer": "x"}}));
        assert_eq!(s.validate().unwrap_err()[0].field, "verify.hedaer");
        assert!(serde_json::from_value::<SourceSpec>(json!({"name": "s", "nmae": 1})).is_err());
    }

    #[test]
    fn secrets_split_and_mask() {
        let s = spec(json!({"name": "s", "verify": {"scheme": "token", "secrets": ["a", "b"], "header": "X-Token"}}));
        assert_eq!(s.verify.token_header(), "x-token");
        let (rest, secrets) = s.take_secrets();
        assert_eq!(secrets, ["a", "b"]);
        assert!(rest.verify.secrets.is_empty());
        let shown = serde_json::to_string(&rest.masked(2)).unwrap();
        assert!(!shown.contains("\"a\"") && shown.contains("********"));
    }
}
