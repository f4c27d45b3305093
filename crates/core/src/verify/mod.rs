//! Request authentication: every verification scheme a source can use. Each scheme module checks
//! one provider's format exactly as the provider's own libraries do; all comparisons are
//! constant-time and schemes that sign a timestamp enforce a window (default 300 s) both ways.
//! Schemes see the request through [`SignedRequest`], keeping this module free of HTTP types.

mod config;
mod crypto;
mod generic;
mod providers;
mod sign;
mod standard_webhooks;
mod url_signed;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use config::check as check_spec;
pub use crypto::Algorithm;
pub use sign::{Outgoing, sign, twilio_json_url};

/// Hex HMAC-SHA256, for handshakes that prove knowledge of the secret (Zoom).
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    hex::encode(crypto::hmac_sha256(key, &[data]))
}
pub use standard_webhooks::{check_secret as check_standard_webhooks_secret, sign as sign_standard_webhooks};

use crate::source::{Scheme, VerifySpec};

/// Default timestamp tolerance, seconds.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// Why a request was not authentic; the text is safe to show (it names no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    #[error("the {0} header is missing")]
    MissingHeader(String),
    #[error("the {0} header does not match any active secret")]
    Mismatch(String),
    #[error("the {0} header is malformed: {1}")]
    Malformed(String, String),
    #[error("the Authorization header is not valid Basic credentials")]
    MalformedBasic,
    #[error("the signed timestamp is {skew_seconds} s away from now, beyond the {tolerance_seconds} s tolerance")]
    OutsideTolerance { skew_seconds: i64, tolerance_seconds: i64 },
    #[error("the source's {0}")]
    Misconfigured(String),
}

/// What a scheme may look at.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The public URL the provider signed (scheme, host, path, query); URL-signing schemes only.
    pub url: Option<&'a str>,
    pub body: &'a [u8],
    /// The verifier's clock, unix seconds.
    pub now: i64,
    /// Header lookup by lower-case name.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
}

impl<'a> SignedRequest<'a> {
    /// A header that must be present.
    pub(crate) fn require(&self, name: &str) -> Result<&'a str, VerifyFailure> {
        (self.header)(name).ok_or_else(|| VerifyFailure::MissingHeader(name.to_string()))
    }
}

/// Checks a request against a source's verification settings and its (opened) secrets.
pub fn verify(spec: &VerifySpec, secrets: &[String], req: &SignedRequest<'_>) -> Result<(), VerifyFailure> {
    // Validation bounds it to a day; convert without a wrap regardless.
    let tolerance = i64::try_from(spec.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE_SECONDS)).unwrap_or(i64::MAX);
    match spec.scheme {
        Scheme::None => Ok(()),
        Scheme::Token => {
            let name = spec.token_header();
            let raw = req.require(&name)?;
            let presented = if name == "authorization" {
                strip_scheme(raw, "bearer").unwrap_or(raw)
            } else {
                raw
            };
            any_secret_matches(secrets, presented.as_bytes())
                .then_some(())
                .ok_or(VerifyFailure::Mismatch(name))
        }
        Scheme::Basic => {
            let raw = req.require("authorization")?;
            let encoded = strip_scheme(raw, "basic").ok_or(VerifyFailure::MalformedBasic)?;
            let decoded = STANDARD
                .decode(encoded.trim())
                .map_err(|_| VerifyFailure::MalformedBasic)?;
            any_secret_matches(secrets, &decoded)
                .then_some(())
                .ok_or(VerifyFailure::Mismatch("authorization".into()))
        }
        Scheme::StandardWebhooks => standard_webhooks::verify(secrets, req, tolerance),
        Scheme::Stripe => providers::stripe(secrets, req, tolerance),
        Scheme::Github | Scheme::Meta => providers::hub_signature(secrets, req),
        Scheme::Shopify => providers::shopify(secrets, req),
        Scheme::Typeform => providers::typeform(secrets, req),
        Scheme::Slack => providers::slack(secrets, req, tolerance),
        Scheme::Zoom => providers::zoom(secrets, req, tolerance),
        Scheme::Paddle => providers::paddle(secrets, req, tolerance),
        Scheme::Twilio => url_signed::twilio(secrets, req),
        Scheme::Square => url_signed::square(secrets, req),
        Scheme::Hubspot => url_signed::hubspot(secrets, req, tolerance),
        Scheme::Hmac => generic::verify(&generic::Options::from_spec(spec)?, secrets, req, tolerance),
    }
}

/// `Bearer x` / `bearer x` → `x`: HTTP auth scheme names are case-insensitive (RFC 9110 §11.1).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim_start())
}

/// Compares a presented token against every secret without stopping early. Both sides are hashed
/// first, so the comparison also hides the secret's length.
fn any_secret_matches(secrets: &[String], presented: &[u8]) -> bool {
    let presented = Sha256::digest(presented);
    let mut found = subtle::Choice::from(0);
    for s in secrets {
        found |= Sha256::digest(s.as_bytes()).ct_eq(&presented);
    }
    found.into()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::SignedRequest;

    /// Runs `f` with a request built from header pairs (names matched case-insensitively).
    pub fn with_request<R>(
        headers: &[(&str, &str)],
        body: &[u8],
        url: Option<&str>,
        now: i64,
        f: impl FnOnce(&SignedRequest<'_>) -> R,
    ) -> R {
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let req = SignedRequest {
            method: "POST",
            url,
            body,
            now,
            header: &lookup,
        };
        f(&req)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::with_request;
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> VerifySpec {
        serde_json::from_value(v).unwrap()
    }

    fn check(spec: &VerifySpec, secrets: &[&str], headers: &[(&str, &str)]) -> Result<(), VerifyFailure> {
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        with_request(headers, b"{}", None, 0, |req| verify(spec, &secrets, req))
    }

    #[test]
    fn token_in_custom_header_with_rotation() {
        let s = spec(json!({"scheme": "token", "header": "X-Token"}));
        assert!(check(&s, &["old", "new"], &[("x-token", "old")]).is_ok());
        assert!(check(&s, &["old", "new"], &[("x-token", "new")]).is_ok());
        assert_eq!(
            check(&s, &["old", "new"], &[("x-token", "neww")]),
            Err(VerifyFailure::Mismatch("x-token".into()))
        );
        assert_eq!(
            check(&s, &["old"], &[]),
            Err(VerifyFailure::MissingHeader("x-token".into()))
        );
    }

    #[test]
    fn token_in_authorization_accepts_bearer() {
        let s = spec(json!({"scheme": "token"}));
        assert!(check(&s, &["t0k"], &[("authorization", "Bearer t0k")]).is_ok());
        assert!(check(&s, &["t0k"], &[("authorization", "t0k")]).is_ok());
        assert!(
            check(&s, &["t0k"], &[("authorization", "bearer t0k")]).is_ok(),
            "scheme names are case-insensitive"
        );
        assert!(check(&s, &["t0k"], &[("authorization", "Bearer t0")]).is_err());
        assert!(check(&s, &["t0k"], &[("authorization", "Bearer t0k2")]).is_err());
    }

    #[test]
    fn basic_credentials() {
        let s = spec(json!({"scheme": "basic"}));
        let good = format!("Basic {}", STANDARD.encode("user:pa:ss"));
        assert!(check(&s, &["user:pa:ss"], &[("authorization", &good)]).is_ok());
        let bad = format!("Basic {}", STANDARD.encode("user:nope"));
        assert!(matches!(
            check(&s, &["user:pa:ss"], &[("authorization", &bad)]),
            Err(VerifyFailure::Mismatch(_))
        ));
        assert_eq!(
            check(&s, &["u:p"], &[("authorization", "Basic !!!")]),
            Err(VerifyFailure::MalformedBasic)
        );
        assert_eq!(
            check(&s, &["u:p"], &[("authorization", "Bearer x")]),
            Err(VerifyFailure::MalformedBasic)
        );
    }
}
