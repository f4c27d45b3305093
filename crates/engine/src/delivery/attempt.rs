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

/// The signed request headers for `body` at `timestamp` (unix seconds).
pub fn signed_headers(
    endpoint: &Endpoint,
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
    now_micros: i64,
) -> Vec<(String, String)> {
    let signatures: Vec<String> = endpoint
        .signing_secrets(now_micros)
        .filter_map(|s| sign_standard_webhooks(s, webhook_id, timestamp, body).ok())
        .collect();
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
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

fn recorded(headers: &[(String, String)]) -> String {
    let map: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret_header(k, &[]) || k.eq_ignore_ascii_case("authorization") {
                REDACTED
            } else {
                v.as_str()
            };
            (k.clone(), Value::String(shown.to_string()))
        })
        .collect();
    Value::Object(map).to_string()
}

pub async fn attempt(
    client: &OutboundClient,
    endpoint: &Endpoint,
    webhook_id: &str,
    body: Vec<u8>,
    now_micros: i64,
) -> Tried {
    let timestamp = now_micros.div_euclid(1_000_000);
    let headers = signed_headers(endpoint, webhook_id, timestamp, &body, now_micros);
    let request_headers = recorded(&headers);
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
                response_excerpt: Some(resp.excerpt),
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
                response_excerpt: Some(fail.message),
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
        let shown = recorded(&headers);
        assert!(!shown.contains("g0hM9SsE") && !shown.contains("\"k\""), "{shown}");
    }

    #[test]
    fn rotated_secrets_sign_until_their_grace_ends() {
        let ep = endpoint(&[
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", None),
            ("whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=", Some(1_000)),
        ]);
        let sig = |now| {
            signed_headers(&ep, "msg_1", 1, b"{}", now)
                .into_iter()
                .find(|(k, _)| k == "webhook-signature")
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_eq!(sig(999).split(' ').count(), 2, "both sign during the grace");
        assert_eq!(sig(1_000).split(' ').count(), 1, "then only the new one");
    }
}
