//! An outbound webhook endpoint as its owner defines it (SPEC §6), and the rules it must pass.
//! The endpoint's signing secrets live beside it, sealed, not in this spec.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::delivery::schedule;
use crate::source::{FieldError, type_allowed};

/// Per-endpoint concurrency when none is configured.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 16;
/// How long an endpoint may fail continuously before it is disabled (SPEC §3: 5 days).
pub const DEFAULT_DISABLE_AFTER_SECONDS: u64 = 5 * 24 * 3600;
/// How long a rotated-out secret keeps signing beside the new one.
pub const DEFAULT_ROTATION_GRACE_SECONDS: u64 = 24 * 3600;
/// Longest a rotated-out secret may keep signing.
pub const MAX_ROTATION_GRACE_SECONDS: u64 = 30 * 24 * 3600;
/// Longest failing window before an endpoint is disabled.
pub const MAX_DISABLE_AFTER_SECONDS: u64 = 90 * 24 * 3600;

/// Headers an endpoint may not set: they carry the signature, framing or identity.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "billing-app", "url": "http://127.0.0.1:9000/hooks", "event_types": ["order.*"]}))]
pub struct EndpointSpec {
    /// Unique, optional: how config files (and flows) refer to the endpoint. `[a-z0-9_-]{1,64}`,
    /// not starting with `ep_` (that reads as an id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// An absolute `http(s)` URL, without credentials or fragment.
    #[schema(format = "uri")]
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Types delivered (`*` suffix = prefix match); `null` delivers every type.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 500)]
    pub event_types: Option<Vec<String>>,
    /// A jq expression over the payload; the event is delivered when it yields `true`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Sources (names or `src_` ids) whose inbound events this endpoint also receives, exactly as
    /// they arrived (SPEC §3, forwarding); `null` or absent: published events only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub sources: Option<Vec<String>>,
    /// Delays before each attempt (seconds); `null` uses the Standard Webhooks schedule.
    #[serde(default)]
    pub retry_schedule_seconds: Option<Vec<u64>>,
    #[serde(default)]
    pub rate_limit_per_second: Option<f64>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Extra request headers (sealed at rest: they often carry credentials).
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub disable_after_seconds: Option<u64>,
    /// A jq expression over the payload naming its FIFO key: deliveries with the same key go
    /// one at a time, in publish order; a failing one holds back only its own key.
    #[serde(default)]
    pub ordering_key: Option<String>,
    /// Days finished deliveries and their attempts are kept (never longer than their event);
    /// `None`: the server's `--retention-days`. Pending deliveries are never removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

/// A source name, or a source id (`src_` and letters and digits).
fn is_source_reference(s: &str) -> bool {
    crate::source::is_valid_source_name(s)
        || s.strip_prefix("src_")
            .is_some_and(|rest| (1..=60).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn yes() -> bool {
    true
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// The URL an endpoint is called at, in the normalised form it is stored and shown in (lower-case
/// scheme and host, IDNA, default port dropped, path percent-encoded), so what the operator sees is
/// exactly what is called. Input the WHATWG parser would silently repair — control characters or
/// spaces (it strips them), backslashes (read as `/`), an empty authority (`http:///x` would become
/// `http://x/`) — is refused instead of guessed at.
pub fn normalize_url(raw: &str) -> Result<String, String> {
    if raw.len() > 2048 {
        return Err("at most 2048 characters".into());
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    if raw.contains('\\') {
        return Err("must not contain backslashes".into());
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err("must be an http:// or https:// URL with a host".into());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err("the URL has no host".into());
    }
    let u = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if u.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in the URL are not allowed; use headers".into());
    }
    if u.fragment().is_some() {
        return Err("a fragment (#…) is never sent; remove it".into());
    }
    Ok(u.to_string())
}

/// The limits every outbound target (endpoint, destination) shares: retry schedule, rate and
/// concurrency.
pub(crate) fn check_call_limits(
    errs: &mut Vec<FieldError>,
    retry_schedule_seconds: Option<&[u64]>,
    rate_limit_per_second: Option<f64>,
    max_concurrency: Option<u32>,
) {
    if let Some(s) = retry_schedule_seconds
        && let Err(e) = schedule::check(s)
    {
        errs.push(err("retry_schedule_seconds", e));
    }
    if let Some(r) = rate_limit_per_second
        && !(r > 0.0 && r <= 100_000.0)
    {
        errs.push(err(
            "rate_limit_per_second",
            "between 0 (exclusive) and 100000, or null",
        ));
    }
    if max_concurrency.is_some_and(|c| c == 0 || c > 1024) {
        errs.push(err("max_concurrency", "between 1 and 1024"));
    }
}

/// Headers an owner adds to outbound calls: valid names, none of `reserved`, string values
/// without control characters, at most 50.
pub(crate) fn check_custom_headers(errs: &mut Vec<FieldError>, headers: &Map<String, Value>, reserved: &[&str]) {
    if headers.len() > 50 {
        errs.push(err("headers", "at most 50 headers"));
    }
    for (name, value) in headers {
        if !crate::headers::is_header_name(name) {
            errs.push(err("headers", format!("{name:?} is not a valid header name")));
        } else if reserved.contains(&name.to_ascii_lowercase().as_str()) {
            errs.push(err("headers", format!("{name} is set by Switchyard")));
        }
        match value.as_str() {
            Some(v) if !v.chars().any(|c| c.is_control() && c != '\t') && v.len() <= 8192 => {}
            _ => errs.push(err(
                "headers",
                format!("{name}: the value must be a string without control characters"),
            )),
        }
    }
}

impl EndpointSpec {
    /// Validates the definition and puts its URL in the normalised form it is stored in.
    pub fn normalized(mut self) -> Result<Self, Vec<FieldError>> {
        self.validate()?;
        if let Ok(url) = normalize_url(&self.url) {
            self.url = url;
        }
        Ok(self)
    }

    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        if let Some(name) = &self.name
            && !(name.len() <= 64 && !name.starts_with("ep_") && crate::source::is_valid_source_name(name))
        {
            errs.push(err("name", "must match [a-z0-9_-]{1,64} and not start with ep_"));
        }
        if let Err(e) = normalize_url(&self.url) {
            errs.push(err("url", e));
        }
        if self.url.len() > 2048 {
            errs.push(err("url", "at most 2048 characters"));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 1024) {
            errs.push(err("description", "at most 1024 characters"));
        }
        if let Some(types) = &self.event_types
            && (types.is_empty() || types.len() > 500 || types.iter().any(|t| t.is_empty() || t.len() > 256))
        {
            errs.push(err(
                "event_types",
                "list 1 to 500 non-empty types, or null for every type",
            ));
        }
        if let Some(code) = &self.filter
            && let Err(e) = switchyard_jq::validate(code)
        {
            errs.push(err("filter", e.to_string()));
        }
        if let Some(sources) = &self.sources
            && (sources.is_empty() || sources.len() > 100 || !sources.iter().all(|s| is_source_reference(s)))
        {
            errs.push(err(
                "sources",
                "list 1 to 100 source names or ids ([a-z0-9_-]{1,64}), or null for published events only",
            ));
        }
        if let Some(code) = &self.ordering_key
            && let Err(e) = switchyard_jq::validate(code)
        {
            errs.push(err("ordering_key", e.to_string()));
        }
        check_call_limits(
            &mut errs,
            self.retry_schedule_seconds.as_deref(),
            self.rate_limit_per_second,
            self.max_concurrency,
        );
        if self
            .disable_after_seconds
            .is_some_and(|s| !(60..=MAX_DISABLE_AFTER_SECONDS).contains(&s))
        {
            errs.push(err(
                "disable_after_seconds",
                format!("between 60 and {MAX_DISABLE_AFTER_SECONDS} (90 days)"),
            ));
        }
        if self
            .retention_days
            .is_some_and(|d| !(1..=crate::source::MAX_RETENTION_DAYS).contains(&d))
        {
            errs.push(err(
                "retention_days",
                "must be between 1 and 3650, or omitted for the server default",
            ));
        }
        check_custom_headers(&mut errs, &self.headers, RESERVED_HEADERS);
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// Whether inbound events of this source (by id or current name) are forwarded here.
    pub fn forwards_source(&self, source_id: &str, source_name: &str) -> bool {
        self.sources
            .as_ref()
            .is_some_and(|list| list.iter().any(|s| s == source_id || s == source_name))
    }

    /// True when this endpoint subscribes to `event_type` (an untyped event matches only `null`).
    pub fn wants_type(&self, event_type: Option<&str>) -> bool {
        match (&self.event_types, event_type) {
            (None, _) => true,
            (Some(patterns), Some(t)) => type_allowed(patterns, t),
            (Some(_), None) => false,
        }
    }

    pub fn schedule(&self) -> &[u64] {
        self.retry_schedule_seconds
            .as_deref()
            .unwrap_or(schedule::DEFAULT_SCHEDULE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> EndpointSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepts_the_spec_shape() {
        let s = spec(json!({
            "url": "https://example.com/hooks", "event_types": ["order.*"], "retry_schedule_seconds": [0, 5],
            "rate_limit_per_second": 10.0, "headers": {"Authorization": "Bearer x"}, "enabled": true,
            "filter": ".amount > 100"
        }));
        assert_eq!(s.validate(), Ok(()));
        assert!(s.wants_type(Some("order.created")));
        assert!(!s.wants_type(Some("user.created")));
        assert!(!s.wants_type(None));
        assert_eq!(s.schedule(), &[0, 5]);
    }

    #[test]
    fn urls_are_stored_as_they_will_be_called() {
        for (given, stored) in [
            ("HTTPS://Example.COM:443/hooks", "https://example.com/hooks"),
            ("http://example.com", "http://example.com/"),
            ("http://example.com:80/a/../b?x=1", "http://example.com/b?x=1"),
            ("https://bücher.example/é", "https://xn--bcher-kva.example/%C3%A9"),
        ] {
            let s = spec(json!({ "url": given })).normalized().unwrap();
            assert_eq!(s.url, stored, "{given}");
        }
    }

    #[test]
    fn refuses_bad_definitions() {
        for (v, field) in [
            (json!({"url": "ftp://x"}), "url"),
            (json!({"url": "http:///x"}), "url"),
            (json!({"url": "https://exa mple.com/"}), "url"),
            (json!({"url": "https://example.com/a\tb"}), "url"),
            (json!({"url": "https://example.com/\u{0}"}), "url"),
            (json!({"url": " https://example.com/"}), "url"),
            (json!({"url": "https:\\\\example.com/"}), "url"),
            (json!({"url": "https://example.com/#frag"}), "url"),
            (json!({"url": "https://"}), "url"),
            (json!({"url": "https://u:p@example.com"}), "url"),
            (json!({"url": "https://x", "event_types": []}), "event_types"),
            (json!({"url": "https://x", "filter": "def f: f; f"}), "filter"),
            (
                json!({"url": "https://x", "retry_schedule_seconds": []}),
                "retry_schedule_seconds",
            ),
            (
                json!({"url": "https://x", "rate_limit_per_second": 0}),
                "rate_limit_per_second",
            ),
            (
                json!({"url": "https://x", "headers": {"webhook-signature": "x"}}),
                "headers",
            ),
            (json!({"url": "https://x", "headers": {"x-a": "a\nb"}}), "headers"),
            (json!({"url": "https://x", "max_concurrency": 0}), "max_concurrency"),
        ] {
            let errs = spec(v.clone()).validate().unwrap_err();
            assert_eq!(errs[0].field, field, "{v}");
        }
    }
}
