//! Which settings each scheme takes, checked when a source is defined so a mistake is reported
//! then, with the field to fix, rather than as 401s once the provider starts sending.

use serde_json::Value;

use super::generic;
use crate::source::{FieldError, Scheme, VerifySpec};

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Options each scheme accepts besides `scheme`, `secrets` and `tolerance_seconds`.
fn allowed_options(scheme: Scheme) -> &'static [&'static str] {
    match scheme {
        Scheme::Token => &["header"],
        Scheme::Twilio | Scheme::Square | Scheme::Hubspot => &["url"],
        Scheme::Meta => &["verify_token"],
        Scheme::Hmac => &[
            "header",
            "algorithm",
            "encoding",
            "prefix",
            "template",
            "timestamp_header",
            "id_header",
            "url",
        ],
        _ => &[],
    }
}

/// Whether the scheme signs a timestamp (so `tolerance_seconds` means something).
fn has_timestamp(spec: &VerifySpec) -> bool {
    match spec.scheme {
        Scheme::StandardWebhooks | Scheme::Stripe | Scheme::Slack | Scheme::Zoom | Scheme::Paddle | Scheme::Hubspot => {
            true
        }
        Scheme::Hmac => spec.options.contains_key("timestamp_header"),
        _ => false,
    }
}

/// Every problem with a source's `verify` block.
pub fn check(v: &VerifySpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if v.scheme != Scheme::None && v.secrets.is_empty() {
        errs.push(err("verify.secrets", "at least one secret is required for this scheme"));
    }
    if v.scheme == Scheme::None && !v.secrets.is_empty() {
        errs.push(err("verify.secrets", "scheme none takes no secrets"));
    }
    if v.secrets.len() > 10 {
        errs.push(err("verify.secrets", "at most 10 active secrets"));
    }
    for (i, s) in v.secrets.iter().enumerate() {
        let field = format!("verify.secrets[{i}]");
        if s.is_empty() || s.len() > 4096 {
            errs.push(err(&field, "must be 1 to 4096 characters"));
        }
        match v.scheme {
            Scheme::Basic if !s.contains(':') => errs.push(err(&field, "basic secrets are written user:password")),
            Scheme::StandardWebhooks => {
                if let Err(e) = super::standard_webhooks::check_secret(s) {
                    errs.push(err(&field, e.to_string()));
                }
            }
            _ => {}
        }
    }
    let allowed = allowed_options(v.scheme);
    for (k, val) in &v.options {
        if !allowed.contains(&k.as_str()) {
            errs.push(err(&format!("verify.{k}"), "unknown option for this scheme"));
        } else if !val.is_string() {
            errs.push(err(&format!("verify.{k}"), "must be a string"));
        }
    }
    let text = |k: &str| v.options.get(k).and_then(Value::as_str);
    for k in ["header", "timestamp_header", "id_header"] {
        if text(k).is_some_and(|h| !crate::headers::is_header_name(h)) {
            errs.push(err(&format!("verify.{k}"), "must be a valid HTTP header name"));
        }
    }
    if matches!(v.scheme, Scheme::Twilio | Scheme::Square | Scheme::Hubspot) {
        match text("url") {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {}
            Some(_) => errs.push(err("verify.url", "must be an absolute http(s) URL")),
            None => errs.push(err(
                "verify.url",
                "this scheme signs the public URL the provider calls: set it here",
            )),
        }
    }
    if v.scheme == Scheme::Hmac
        && let Err(e) = generic::Options::from_spec(v)
    {
        errs.push(err("verify", e.to_string()));
    }
    if v.tolerance_seconds.is_some() && !has_timestamp(v) {
        errs.push(err(
            "verify.tolerance_seconds",
            "this scheme carries no timestamp, so a tolerance means nothing",
        ));
    }
    if v.tolerance_seconds.is_some_and(|t| t == 0 || t > 24 * 3600) {
        errs.push(err("verify.tolerance_seconds", "must be between 1 second and 24 hours"));
    }
    errs
}
