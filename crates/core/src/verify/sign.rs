//! Producing signatures, the mirror of verification: `switchyard send` uses it to emit a correctly
//! signed test webhook for any scheme, and tests use it to drive sources end to end. Each scheme's
//! headers are exactly what the provider sends.

use super::crypto::{b64, hmac, hmac_sha256, sha256_hex};
use super::{VerifyFailure, generic};
use crate::source::{Scheme, VerifySpec};

/// What to sign.
pub struct Outgoing<'a> {
    pub body: &'a [u8],
    /// Unix seconds.
    pub timestamp: i64,
    /// The message id for schemes that carry one.
    pub id: &'a str,
    /// The full URL the request goes to (URL-signing schemes).
    pub url: &'a str,
    pub method: &'a str,
}

/// Headers (name, value) that authenticate `out` under `secret` for the source settings `spec`.
/// For Twilio with a JSON body the URL must already carry `bodySHA256` (see [`twilio_json_url`]).
pub fn sign(spec: &VerifySpec, secret: &str, out: &Outgoing<'_>) -> Result<Vec<(String, String)>, VerifyFailure> {
    let key = secret.as_bytes();
    let ts = out.timestamp.to_string();
    let h = |name: &str, value: String| (name.to_string(), value);
    let headers = match spec.scheme {
        Scheme::None => vec![],
        Scheme::Token => {
            let name = spec.token_header();
            let value = if name == "authorization" {
                format!("Bearer {secret}")
            } else {
                secret.to_string()
            };
            vec![(name, value)]
        }
        Scheme::Basic => vec![h("authorization", format!("Basic {}", b64(secret.as_bytes())))],
        Scheme::StandardWebhooks => vec![
            h("webhook-id", out.id.to_string()),
            h("webhook-timestamp", ts.clone()),
            h(
                "webhook-signature",
                super::standard_webhooks::sign(secret, out.id, out.timestamp, out.body)?,
            ),
        ],
        Scheme::Stripe => {
            let sig = hex::encode(hmac_sha256(key, &[ts.as_bytes(), b".", out.body]));
            vec![h("stripe-signature", format!("t={ts},v1={sig}"))]
        }
        Scheme::Github | Scheme::Meta => {
            vec![h(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(hmac_sha256(key, &[out.body]))),
            )]
        }
        Scheme::Shopify => vec![h("x-shopify-hmac-sha256", b64(&hmac_sha256(key, &[out.body])))],
        Scheme::Typeform => vec![h(
            "typeform-signature",
            format!("sha256={}", b64(&hmac_sha256(key, &[out.body]))),
        )],
        Scheme::Slack | Scheme::Zoom => {
            let sig = format!(
                "v0={}",
                hex::encode(hmac_sha256(key, &[b"v0:", ts.as_bytes(), b":", out.body]))
            );
            if spec.scheme == Scheme::Slack {
                vec![h("x-slack-signature", sig), h("x-slack-request-timestamp", ts)]
            } else {
                vec![h("x-zm-signature", sig), h("x-zm-request-timestamp", ts)]
            }
        }
        Scheme::Paddle => {
            let sig = hex::encode(hmac_sha256(key, &[ts.as_bytes(), b":", out.body]));
            vec![h("paddle-signature", format!("ts={ts};h1={sig}"))]
        }
        Scheme::Twilio => {
            let form = (!out.url.contains("bodySHA256=")).then_some(out.body);
            vec![h(
                "x-twilio-signature",
                super::url_signed::twilio_sign(secret, out.url, form),
            )]
        }
        Scheme::Square => {
            vec![h(
                "x-square-hmacsha256-signature",
                b64(&hmac_sha256(key, &[out.url.as_bytes(), out.body])),
            )]
        }
        Scheme::Hubspot => {
            let ms = (out.timestamp * 1000).to_string();
            let sig = b64(&hmac_sha256(
                key,
                &[out.method.as_bytes(), out.url.as_bytes(), out.body, ms.as_bytes()],
            ));
            vec![h("x-hubspot-signature-v3", sig), h("x-hubspot-request-timestamp", ms)]
        }
        Scheme::Hmac => {
            let opts = generic::Options::from_spec(spec)?;
            let parts: Vec<&[u8]> = opts
                .template
                .iter()
                .map(|p| match p {
                    generic::Part::Literal(s) => s.as_bytes(),
                    generic::Part::Body => out.body,
                    generic::Part::Timestamp => ts.as_bytes(),
                    generic::Part::Id => out.id.as_bytes(),
                    generic::Part::Url => out.url.as_bytes(),
                })
                .collect();
            let mac = hmac(opts.algorithm, key, &parts);
            let encoded = if opts.base64 { b64(&mac) } else { hex::encode(mac) };
            let mut v = vec![(opts.header.clone(), format!("{}{encoded}", opts.prefix))];
            if let Some(t) = &opts.timestamp_header {
                v.push((t.clone(), ts.clone()));
            }
            if let Some(i) = &opts.id_header {
                v.push((i.clone(), out.id.to_string()));
            }
            v
        }
    };
    Ok(headers)
}

/// Twilio binds a JSON body through the URL: `…?bodySHA256=<hex SHA-256 of the body>`.
pub fn twilio_json_url(url: &str, body: &[u8]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}bodySHA256={}", sha256_hex(body))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::with_request;
    use super::super::verify;
    use super::*;
    use serde_json::json;

    /// Every scheme verifies what it signs, and refuses it once the body changes.
    #[test]
    fn every_scheme_round_trips() {
        let url = "https://hooks.example.com/in/x";
        let cases = [
            json!({"scheme": "token", "header": "X-Token"}),
            json!({"scheme": "token"}),
            json!({"scheme": "basic"}),
            json!({"scheme": "standard-webhooks"}),
            json!({"scheme": "stripe"}),
            json!({"scheme": "github"}),
            json!({"scheme": "meta"}),
            json!({"scheme": "shopify"}),
            json!({"scheme": "typeform"}),
            json!({"scheme": "slack"}),
            json!({"scheme": "zoom"}),
            json!({"scheme": "paddle"}),
            json!({"scheme": "twilio", "url": url}),
            json!({"scheme": "square", "url": url}),
            json!({"scheme": "hubspot", "url": url}),
            json!({"scheme": "hmac", "header": "X-Sig", "encoding": "base64", "prefix": "s=",
                   "template": "{id}.{timestamp}.{url}.{body}", "timestamp_header": "X-Ts", "id_header": "X-Id", "url": url}),
        ];
        for case in cases {
            let spec: VerifySpec = serde_json::from_value(case.clone()).unwrap();
            let secret = match spec.scheme {
                Scheme::Basic => "user:pw".to_string(),
                Scheme::StandardWebhooks => "whsec_c2VjcmV0LWtleS1ieXRlcw==".to_string(),
                _ => "s3cret".to_string(),
            };
            let body = br#"From=%2B1555&Body=hi"#;
            let out = Outgoing {
                body,
                timestamp: 1_763_800_000,
                id: "msg_1",
                url,
                method: "POST",
            };
            let headers = sign(&spec, &secret, &out).unwrap();
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let secrets = vec!["wrong-one".to_string(), secret.clone()];
            let ok = with_request(&pairs, body, Some(url), 1_763_800_010, |r| verify(&spec, &secrets, r));
            assert!(ok.is_ok(), "{case}: {ok:?}");
            if spec.scheme.header_only() {
                continue;
            }
            let bad = with_request(&pairs, b"From=%2B1555&Body=ho", Some(url), 1_763_800_010, |r| {
                verify(&spec, &secrets, r)
            });
            assert!(bad.is_err(), "{case}: a changed body must fail");
        }
    }
}
