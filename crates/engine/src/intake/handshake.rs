//! Provider handshakes: the challenges some providers send before (or while) delivering, which
//! must be answered in their format and create no event. POST handshakes are answered only after
//! the request's signature verified: answering Zoom's challenge computes an HMAC under the secret,
//! and an unverified endpoint would be a signing oracle for forgeries.

use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use switchyard_core::source::{Scheme, SourceSpec};

/// Longest challenge echoed back; real ones are short.
const MAX_CHALLENGE_LEN: usize = 1024;

/// The reply to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Which handshake, for the receipt.
    pub kind: &'static str,
}

fn text(kind: &'static str, body: &str) -> HandshakeReply {
    HandshakeReply {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body: body.to_string(),
        kind,
    }
}

fn challenge_ok(c: &str) -> bool {
    !c.is_empty() && c.len() <= MAX_CHALLENGE_LEN
}

/// A verified POST that is a handshake: Slack `url_verification`, Zoom `endpoint.url_validation`,
/// or Microsoft Graph's `?validationToken=` (which carries no body).
pub fn post(spec: &SourceSpec, query: Option<&str>, json: Option<&Value>, body: &[u8]) -> Option<HandshakeReply> {
    if body.is_empty() {
        let token = query.and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "validationToken"));
        if let Some((_, t)) = token.filter(|(_, t)| challenge_ok(t)) {
            return Some(text("graph_validation", &t));
        }
    }
    let json = json?;
    match spec.verify.scheme {
        Scheme::Slack if json.get("type").and_then(Value::as_str) == Some("url_verification") => {
            let challenge = json
                .get("challenge")
                .and_then(Value::as_str)
                .filter(|c| challenge_ok(c))?;
            Some(HandshakeReply {
                status: 200,
                content_type: "application/json",
                body: json!({ "challenge": challenge }).to_string(),
                kind: "slack_url_verification",
            })
        }
        Scheme::Zoom if json.get("event").and_then(Value::as_str) == Some("endpoint.url_validation") => {
            let plain = json
                .pointer("/payload/plainToken")
                .and_then(Value::as_str)
                .filter(|c| challenge_ok(c))?;
            // The current secret is the first one (rotation appends the new one first).
            let secret = spec.verify.secrets.first()?;
            let encrypted = switchyard_core::verify::hmac_sha256_hex(secret.as_bytes(), plain.as_bytes());
            Some(HandshakeReply {
                status: 200,
                content_type: "application/json",
                body: json!({ "plainToken": plain, "encryptedToken": encrypted }).to_string(),
                kind: "zoom_url_validation",
            })
        }
        _ => None,
    }
}

/// `GET /in/{source}`: Meta's subscription check (`hub.mode=subscribe`, `hub.verify_token`,
/// `hub.challenge`). `None` when the source has no GET handshake or the request is not one.
pub fn get(spec: &SourceSpec, query: &str) -> Option<Result<HandshakeReply, &'static str>> {
    if spec.verify.scheme != Scheme::Meta {
        return None;
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if param("hub.mode") != Some("subscribe") {
        return None;
    }
    let expected = spec
        .verify
        .options
        .get("verify_token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let presented = param("hub.verify_token").unwrap_or("");
    let matches = !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()));
    match param("hub.challenge").filter(|c| challenge_ok(c)) {
        Some(challenge) if matches => Some(Ok(text("meta_subscribe", challenge))),
        Some(_) => Some(Err("hub.verify_token does not match this source's verify_token")),
        None => Some(Err("hub.challenge is missing or too long")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> SourceSpec {
        serde_json::from_value(json!({"name": "s", "verify": v})).unwrap()
    }

    #[test]
    fn slack_echoes_the_challenge() {
        let s = spec(json!({"scheme": "slack", "secrets": ["x"]}));
        let body = json!({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
        let r = post(&s, None, Some(&body), b"{}").unwrap();
        assert_eq!(
            r.body,
            r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
        );
        assert!(post(&s, None, Some(&json!({"type": "event_callback"})), b"{}").is_none());
    }

    #[test]
    fn zoom_answers_with_the_hmac_of_the_plain_token() {
        let s = spec(json!({"scheme": "zoom", "secrets": ["secret-token"]}));
        let body = json!({"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}});
        let r = post(&s, None, Some(&body), b"{}").unwrap();
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        let expected = switchyard_core::verify::hmac_sha256_hex(b"secret-token", b"qgg8vlvZRS6UYooatFL8Aw");
        assert_eq!(v["encryptedToken"], expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn graph_and_meta() {
        let s = spec(json!({"scheme": "none"}));
        let r = post(&s, Some("validationToken=Validation%3A%20Testing"), None, b"").unwrap();
        assert_eq!(
            (r.body.as_str(), r.content_type),
            ("Validation: Testing", "text/plain; charset=utf-8")
        );
        assert!(
            post(&s, Some("validationToken=x"), None, b"{}").is_none(),
            "a body means a notification"
        );
        let m = spec(json!({"scheme": "meta", "secrets": ["app"], "verify_token": "vt"}));
        assert_eq!(
            get(&m, "hub.mode=subscribe&hub.verify_token=vt&hub.challenge=1158201444")
                .unwrap()
                .unwrap()
                .body,
            "1158201444"
        );
        assert!(
            get(&m, "hub.mode=subscribe&hub.verify_token=no&hub.challenge=1")
                .unwrap()
                .is_err()
        );
        assert!(get(&m, "x=1").is_none());
        assert!(get(&s, "hub.mode=subscribe").is_none());
    }
}
