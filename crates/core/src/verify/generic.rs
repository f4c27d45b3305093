//! The generic `hmac` scheme, for providers without a dedicated one: which header carries the
//! signature, the algorithm, the encoding, an optional prefix, and a template for the signed
//! content built from `{body}`, `{timestamp}`, `{id}` and `{url}`.

use serde_json::Value;

use super::crypto::{Algorithm, any_mac_eq, check_timestamp, from_b64, from_hex, hmac};
use super::{SignedRequest, VerifyFailure};
use crate::source::VerifySpec;

/// Longest template accepted; templates are configuration, not data.
pub const MAX_TEMPLATE_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Body,
    Timestamp,
    Id,
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub header: String,
    pub algorithm: Algorithm,
    pub base64: bool,
    pub prefix: String,
    pub template: Vec<Part>,
    pub timestamp_header: Option<String>,
    pub id_header: Option<String>,
}

/// Parses a template such as `v0:{timestamp}:{body}`. `{{` and `}}` are literal braces.
pub fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    if t.len() > MAX_TEMPLATE_LEN {
        return Err(format!("the template is longer than {MAX_TEMPLATE_LEN} characters"));
    }
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = t;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("{{") || rest.starts_with("}}") {
            lit.push(c);
            rest = &rest[2..];
            continue;
        }
        if c == '{' {
            let end = rest.find('}').ok_or("a { is not closed")?;
            let part = match &rest[1..end] {
                "body" => Part::Body,
                "timestamp" => Part::Timestamp,
                "id" => Part::Id,
                "url" => Part::Url,
                other => {
                    return Err(format!(
                        "unknown placeholder {{{other}}}; use body, timestamp, id or url"
                    ));
                }
            };
            if !lit.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut lit)));
            }
            parts.push(part);
            rest = &rest[end + 1..];
            continue;
        }
        if c == '}' {
            return Err("a } has no matching {".into());
        }
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Ok(parts)
}

impl Options {
    pub fn from_spec(spec: &VerifySpec) -> Result<Options, VerifyFailure> {
        let bad = |m: String| VerifyFailure::Misconfigured(format!("hmac options are invalid: {m}"));
        let text = |k: &str| spec.options.get(k).and_then(Value::as_str);
        let header = text("header")
            .ok_or_else(|| bad("header is required".into()))?
            .to_ascii_lowercase();
        let algorithm = match text("algorithm").unwrap_or("sha256") {
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(bad(format!("algorithm {other:?} is not sha1, sha256 or sha512"))),
        };
        let base64 = match text("encoding").unwrap_or("hex") {
            "hex" => false,
            "base64" => true,
            other => return Err(bad(format!("encoding {other:?} is not hex or base64"))),
        };
        let template = parse_template(text("template").unwrap_or("{body}")).map_err(bad)?;
        let timestamp_header = text("timestamp_header").map(str::to_ascii_lowercase);
        let id_header = text("id_header").map(str::to_ascii_lowercase);
        if template.contains(&Part::Timestamp) && timestamp_header.is_none() {
            return Err(bad("{timestamp} needs timestamp_header".into()));
        }
        if template.contains(&Part::Id) && id_header.is_none() {
            return Err(bad("{id} needs id_header".into()));
        }
        let prefix = text("prefix").unwrap_or("").to_string();
        // HTTP strips leading whitespace from header values and forbids control characters, so
        // such a prefix could never be matched (found by the `generic_template` fuzz target).
        if prefix.starts_with(char::is_whitespace) || prefix.chars().any(char::is_control) {
            return Err(bad(
                "prefix must not start with whitespace or contain control characters".into(),
            ));
        }
        Ok(Options {
            header,
            algorithm,
            base64,
            prefix,
            template,
            timestamp_header,
            id_header,
        })
    }
}

pub fn verify(
    opts: &Options,
    secrets: &[String],
    req: &SignedRequest<'_>,
    tolerance: i64,
) -> Result<(), VerifyFailure> {
    let raw = req.require(&opts.header)?.trim();
    let sig = raw.strip_prefix(opts.prefix.as_str()).ok_or_else(|| {
        VerifyFailure::Malformed(opts.header.clone(), format!("expected the prefix {:?}", opts.prefix))
    })?;
    let presented = if opts.base64 { from_b64(sig) } else { from_hex(sig) };
    let timestamp = match &opts.timestamp_header {
        Some(h) => {
            let t = req.require(h)?;
            check_timestamp(h, t, req.now, tolerance)?;
            Some(t.trim())
        }
        None => None,
    };
    let id = opts.id_header.as_deref().map(|h| req.require(h)).transpose()?;
    let url = if opts.template.contains(&Part::Url) {
        Some(
            req.url
                .ok_or_else(|| VerifyFailure::Misconfigured("verify.url is needed by {url}".into()))?,
        )
    } else {
        None
    };
    let content: Vec<&[u8]> = opts
        .template
        .iter()
        .map(|p| match p {
            Part::Literal(s) => s.as_bytes(),
            Part::Body => req.body,
            Part::Timestamp => timestamp.unwrap_or("").as_bytes(),
            Part::Id => id.unwrap_or("").as_bytes(),
            Part::Url => url.unwrap_or("").as_bytes(),
        })
        .collect();
    let expected: Vec<Vec<u8>> = secrets
        .iter()
        .map(|s| hmac(opts.algorithm, s.as_bytes(), &content))
        .collect();
    if any_mac_eq(&expected, &[presented]) {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch(opts.header.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::with_request;
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_parse_and_refuse_nonsense() {
        assert_eq!(
            parse_template("v0:{timestamp}:{body}").unwrap(),
            vec![
                Part::Literal("v0:".into()),
                Part::Timestamp,
                Part::Literal(":".into()),
                Part::Body
            ]
        );
        assert_eq!(
            parse_template("{{x}}{id}").unwrap(),
            vec![Part::Literal("{x}".into()), Part::Id]
        );
        assert!(parse_template("{bodyy}").is_err());
        assert!(parse_template("{body").is_err());
        assert!(parse_template("}").is_err());
        assert!(parse_template(&"a".repeat(600)).is_err());
    }

    #[test]
    fn configurable_scheme_verifies_like_slack() {
        let spec: VerifySpec = serde_json::from_value(json!({
            "scheme": "hmac", "header": "X-Sig", "prefix": "v0=", "template": "v0:{timestamp}:{body}",
            "timestamp_header": "X-Ts", "algorithm": "sha512"
        }))
        .unwrap();
        let opts = Options::from_spec(&spec).unwrap();
        let body = b"{}";
        let sig = format!(
            "v0={}",
            hex::encode(hmac(Algorithm::Sha512, b"k", &[b"v0:1000:", body]))
        );
        let h = [("x-sig", sig.as_str()), ("x-ts", "1000")];
        let secrets = vec!["k".to_string()];
        assert!(with_request(&h, body, None, 1000, |r| verify(&opts, &secrets, r, 300)).is_ok());
        assert!(with_request(&h, b"[]", None, 1000, |r| verify(&opts, &secrets, r, 300)).is_err());
        assert!(with_request(&h, body, None, 5000, |r| verify(&opts, &secrets, r, 300)).is_err());
        let no_ts: VerifySpec =
            serde_json::from_value(json!({"scheme": "hmac", "header": "X", "template": "{timestamp}"})).unwrap();
        assert!(Options::from_spec(&no_ts).is_err());
        for prefix in ["\u{b}", " v0=", "v0=\n"] {
            let unmatchable: VerifySpec =
                serde_json::from_value(json!({"scheme": "hmac", "header": "X", "prefix": prefix})).unwrap();
            assert!(Options::from_spec(&unmatchable).is_err(), "{prefix:?}");
        }
    }
}
