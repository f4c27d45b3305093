//! One delivery attempt: the Standard Webhooks request (SPEC §3), sent through the outbound
//! client, and what its answer means. `webhook-id` is the event id, so it is the same on every
//! retry and replay and receivers can dedupe on it.

use serde_json::{Map, Value};
use switchyard_core::delivery::outcome::{Verdict, classify_status, classify_transport};
use switchyard_core::headers::{REDACTED, is_secret_header};
use switchyard_core::verify::sign_standard_webhooks;

use crate::endpoints::Endpoint;
use crate::outbound::OutboundClient;

/// What one attempt did.
#[derive(Debug, Clone)]
pub struct Tried {
    pub verdict: Verdict,
    pub status_code: Option<u16>,
    pub error_class: Option<String>,
    pub duration_ms: i64,
    /// The headers sent, signature and secret-looking values redacted, as JSON.
    pub request_headers: String,
    pub response_excerpt: Option<String>,
}

/// The signed request headers for `body` at `timestamp` (unix seconds). `content_type` is the
/// one the payload arrived with (a forwarded inbound event); `None` is JSON.
pub fn signed_headers(
    endpoint: &Endpoint,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
    content_type: Option<&str>,
    now_micros: i64,
) -> Vec<(String, String)> {
    let signatures: Vec<String> = endpoint
        .signing_secrets(now_micros)
        .filter_map(|s| sign_standard_webhooks(s, webhook_id, timestamp, body).ok())
        .collect();
    let mut headers = vec![
        (
            "content-type".to_string(),
            content_type.unwrap_or("application/json").to_string(),
        ),
        ("webhook-id".to_string(), webhook_id.to_string()),
        ("webhook-timestamp".to_string(), timestamp.to_string()),
        ("webhook-signature".to_string(), signatures.join(" ")),
    ];
    for (k, v) in &endpoint.spec.headers {
        if let Some(v) = v.as_str() {
            headers.push((k.clone(), v.to_string()));
        }
    }
    headers
}

/// The request headers as the attempt log keeps them: every header the endpoint configures is a
/// secret (SPEC §6) and is masked whatever its name, as are the signature and any name that
/// reads as a credential.
fn recorded(headers: &[(String, String)], endpoint: &Endpoint) -> String {
    let configured = |k: &str| endpoint.spec.headers.keys().any(|h| h.eq_ignore_ascii_case(k));
    let map: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            let shown = if configured(k) || is_secret_header(k, &[]) || k.eq_ignore_ascii_case("authorization") {
                REDACTED
            } else {
                v.as_str()
            };
            (k.clone(), Value::String(shown.to_string()))
        })
        .collect();
    Value::Object(map).to_string()
}

/// A receiver that echoes its request (as debugging receivers do) must not make the attempt log
/// show our secrets: configured header values, signatures and signing secrets are cut from the
/// response excerpt and error text.
fn scrubbed(text: String, headers: &[(String, String)], endpoint: &Endpoint) -> String {
    let configured = |k: &str| endpoint.spec.headers.keys().any(|h| h.eq_ignore_ascii_case(k));
    let mut secrets: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| configured(k) || k == "webhook-signature")
        .flat_map(|(k, v)| {
            // Each signature of a rotation list on its own, too.
            let parts: Vec<&str> = if k == "webhook-signature" {
                v.split(' ').collect()
            } else {
                Vec::new()
            };
            std::iter::once(v.as_str()).chain(parts)
        })
        .chain(endpoint.secrets.iter().map(|s| s.secret.as_str()))
        .filter(|v| v.len() >= 4)
        .collect();
    // Longest first, so a value containing another is cut whole.
    secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut text = text;
    for v in secrets {
        if text.contains(v) {
            text = text.replace(v, REDACTED);
        }
    }
    text
}

pub async fn attempt(
    client: &OutboundClient,
    endpoint: &Endpoint,
    webhook_id: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
    now_micros: i64,
) -> Tried {
    let timestamp = now_micros.div_euclid(1_000_000);
    let headers = signed_headers(endpoint, webhook_id, timestamp, &body, content_type, now_micros);
    let request_headers = recorded(&headers, endpoint);
    match client.post(&endpoint.spec.url, &headers, body).await {
        Ok(resp) => {
            let verdict = classify_status(
                resp.status,
                resp.header("retry-after"),
                resp.header("x-ratelimit-reset"),
                timestamp,
            );
            Tried {
                error_class: verdict.error_class(Some(resp.status), None),
                verdict,
                status_code: Some(resp.status),
                duration_ms: resp.duration.as_millis() as i64,
                request_headers,
                response_excerpt: Some(scrubbed(resp.excerpt, &headers, endpoint)),
            }
        }
        Err(fail) => {
            let verdict = classify_transport(fail.kind);
            Tried {
                error_class: verdict.error_class(None, Some(fail.kind)),
                verdict,
                status_code: None,
                duration_ms: fail.duration.as_millis() as i64,
                request_headers,
                response_excerpt: Some(scrubbed(fail.message, &headers, endpoint)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::SigningSecret;
    use serde_json::json;

    fn endpoint(secrets: &[(&str, Option<i64>)]) -> Endpoint {
        Endpoint {
            id: "ep_1".into(),
            spec: serde_json::from_value(
                json!({"url": "https://example.com", "headers": {"X-Api-Key": "k", "X-Team": "a"}}),
            )
            .unwrap(),
            secrets: secrets
                .iter()
                .map(|(s, e)| SigningSecret {
                    secret: s.to_string(),
                    expires_at: *e,
                })
                .collect(),
            disabled_reason: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// The reference example of the Standard Webhooks specification (and Svix's docs).
    #[test]
    fn signs_the_standard_webhooks_reference_example() {
        let ep = endpoint(&[("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", None)]);
        let headers = signed_headers(
            &ep,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
            None,
            0,
        );
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            get("webhook-signature"),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(get("webhook-id"), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
        assert_eq!(get("webhook-timestamp"), Some("1614265330"));
        assert_eq!(get("content-type"), Some("application/json"));
        assert_eq!(get("X-Team"), Some("a"));
        let shown = recorded(&headers, &ep);
        assert!(!shown.contains("g0hM9SsE") && !shown.contains("\"k\""), "{shown}");
        // Every configured header is a secret, whatever its name.
        assert!(!shown.contains("\"a\""), "{shown}");
    }

    #[test]
    fn an_echoing_receiver_cannot_put_our_secrets_in_the_attempt_log() {
        let mut ep = endpoint(&[("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", None)]);
        ep.spec.headers.insert("X-Team".into(), json!("team-secret-value"));
        let headers = signed_headers(&ep, "msg_1", 1, b"{}", None, 0);
        let sig = headers
            .iter()
            .find(|(k, _)| k == "webhook-signature")
            .unwrap()
            .1
            .clone();
        let echo = format!(
            "{{\"headers\":{{\"x-team\":\"team-secret-value\",\"webhook-signature\":\"{sig}\"}},\"k\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}}"
        );
        let kept = scrubbed(echo, &headers, &ep);
        assert!(
            !kept.contains("team-secret-value") && !kept.contains(&sig) && !kept.contains("whsec_"),
            "{kept}"
        );
        assert!(kept.contains("x-team"), "the rest of the answer stays: {kept}");
    }

    #[test]
    fn rotated_secrets_sign_until_their_grace_ends() {
        let ep = endpoint(&[
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", None),
            ("whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=", Some(1_000)),
        ]);
        let sig = |now| {
            signed_headers(&ep, "msg_1", 1, b"{}", None, now)
                .into_iter()
                .find(|(k, _)| k == "webhook-signature")
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_eq!(sig(999).split(' ').count(), 2, "both sign during the grace");
        assert_eq!(sig(1_000).split(' ').count(), 1, "then only the new one");
    }
}
