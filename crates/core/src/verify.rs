//! Request authentication for the schemes implemented so far (`none`, `token`, `basic`). Every
//! comparison is constant-time so a caller cannot learn a secret byte by byte from response times.
//! Each scheme gets the headers through a lookup function, keeping this module free of HTTP types.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::source::{Scheme, VerifySpec};

/// Why a request was not authentic; the reason is safe to show (it names no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    #[error("the {0} header is missing")]
    MissingHeader(String),
    #[error("the {0} header does not match any active secret")]
    Mismatch(String),
    #[error("the Authorization header is not valid Basic credentials")]
    MalformedBasic,
    #[error("scheme {0:?} is not available in this build")]
    Unsupported(Scheme),
}

/// Checks a request against a source's verification settings and its (opened) secrets.
pub fn verify<'h>(
    spec: &VerifySpec,
    secrets: &[String],
    header: impl Fn(&str) -> Option<&'h str>,
) -> Result<(), VerifyFailure> {
    match spec.scheme {
        Scheme::None => Ok(()),
        Scheme::Token => {
            let name = spec.token_header();
            let raw = header(&name).ok_or_else(|| VerifyFailure::MissingHeader(name.clone()))?;
            let presented = if name == "authorization" {
                strip_scheme(raw, "bearer").unwrap_or(raw)
            } else {
                raw
            };
            any_matches(secrets, presented.as_bytes())
                .then_some(())
                .ok_or(VerifyFailure::Mismatch(name))
        }
        Scheme::Basic => {
            let raw = header("authorization").ok_or_else(|| VerifyFailure::MissingHeader("authorization".into()))?;
            let encoded = strip_scheme(raw, "basic").ok_or(VerifyFailure::MalformedBasic)?;
            let decoded = STANDARD
                .decode(encoded.trim())
                .map_err(|_| VerifyFailure::MalformedBasic)?;
            any_matches(secrets, &decoded)
                .then_some(())
                .ok_or(VerifyFailure::Mismatch("authorization".into()))
        }
        other => Err(VerifyFailure::Unsupported(other)),
    }
}

/// `Bearer x` / `bearer x` → `x`: HTTP auth scheme names are case-insensitive (RFC 9110 §11.1).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim_start())
}

/// Compares against every secret without stopping early, so timing does not reveal which matched.
/// Both sides are hashed first, so the comparison also hides the secret's length.
fn any_matches(secrets: &[String], presented: &[u8]) -> bool {
    let presented = Sha256::digest(presented);
    let mut found = subtle::Choice::from(0);
    for s in secrets {
        found |= Sha256::digest(s.as_bytes()).ct_eq(&presented);
    }
    found.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> VerifySpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn token_in_custom_header_with_rotation() {
        let s = spec(json!({"scheme": "token", "header": "X-Token"}));
        let secrets = vec!["old".to_string(), "new".to_string()];
        assert!(verify(&s, &secrets, |h| (h == "x-token").then_some("old")).is_ok());
        assert!(verify(&s, &secrets, |h| (h == "x-token").then_some("new")).is_ok());
        assert_eq!(
            verify(&s, &secrets, |h| (h == "x-token").then_some("neww")),
            Err(VerifyFailure::Mismatch("x-token".into()))
        );
        assert_eq!(
            verify(&s, &secrets, |_| None),
            Err(VerifyFailure::MissingHeader("x-token".into()))
        );
    }

    #[test]
    fn token_in_authorization_accepts_bearer() {
        let s = spec(json!({"scheme": "token"}));
        let secrets = vec!["t0k".to_string()];
        assert!(verify(&s, &secrets, |_| Some("Bearer t0k")).is_ok());
        assert!(verify(&s, &secrets, |_| Some("t0k")).is_ok());
        assert!(verify(&s, &secrets, |_| Some("Bearer t0")).is_err());
        assert!(
            verify(&s, &secrets, |_| Some("bearer t0k")).is_ok(),
            "scheme names are case-insensitive"
        );
        assert!(verify(&s, &secrets, |_| Some("Bearer t0k2")).is_err());
    }

    #[test]
    fn basic_credentials() {
        let s = spec(json!({"scheme": "basic"}));
        let secrets = vec!["user:pa:ss".to_string()];
        let good = format!("Basic {}", STANDARD.encode("user:pa:ss"));
        assert!(verify(&s, &secrets, |_| Some(good.as_str())).is_ok());
        let bad = format!("Basic {}", STANDARD.encode("user:nope"));
        assert!(matches!(
            verify(&s, &secrets, |_| Some(bad.as_str())),
            Err(VerifyFailure::Mismatch(_))
        ));
        assert_eq!(
            verify(&s, &secrets, |_| Some("Basic !!!")),
            Err(VerifyFailure::MalformedBasic)
        );
        assert_eq!(
            verify(&s, &secrets, |_| Some("Bearer x")),
            Err(VerifyFailure::MalformedBasic)
        );
    }
}
