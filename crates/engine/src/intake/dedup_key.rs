//! A delivery's identity within its source, the dedup key: the provider's own event or delivery
//! id where its scheme has one (retries of one event carry the same id), else the SHA-256 of the
//! body. Keys are namespaced (`id:` / `sha256:`) so an id can never collide with a hash.

use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use switchyard_core::source::{Scheme, SourceSpec};
use switchyard_jq::Jq;

/// Longest provider id used as is; longer ones are hashed to bound the index.
const MAX_ID_LEN: usize = 200;

/// Where each scheme keeps its delivery id.
enum IdFrom {
    Header(&'static [&'static str]),
    BodyField(&'static str),
    None,
}

fn source_of_id(scheme: Scheme) -> IdFrom {
    match scheme {
        Scheme::Stripe => IdFrom::BodyField("id"),
        Scheme::Github => IdFrom::Header(&["x-github-delivery"]),
        Scheme::Shopify => IdFrom::Header(&["x-shopify-webhook-id", "x-shopify-event-id"]),
        Scheme::StandardWebhooks => IdFrom::Header(&["webhook-id", "svix-id"]),
        Scheme::Slack | Scheme::Square | Scheme::Paddle | Scheme::Typeform => IdFrom::BodyField("event_id"),
        Scheme::Twilio => IdFrom::Header(&["i-twilio-idempotency-token"]),
        _ => IdFrom::None,
    }
}

pub fn dedup_key<'h>(
    spec: &SourceSpec,
    header: impl Fn(&str) -> Option<&'h str>,
    json: Option<&Value>,
    body: &[u8],
) -> String {
    let id = match source_of_id(spec.verify.scheme) {
        IdFrom::Header(names) => names.iter().find_map(|n| header(n)).map(str::to_string),
        IdFrom::BodyField(field) => json
            .and_then(|v| v.get(field))
            .and_then(Value::as_str)
            .map(str::to_string),
        IdFrom::None if spec.verify.scheme == Scheme::Hmac => spec
            .verify
            .options
            .get("id_header")
            .and_then(Value::as_str)
            .and_then(|h| header(&h.to_ascii_lowercase()))
            .map(str::to_string),
        IdFrom::None => None,
    };
    namespaced("id", id, body)
}

/// The key from the source's `dedup.key` expression, evaluated over `{headers, body}` (header
/// names lower-case; a body that is not JSON is a string). An expression that yields nothing,
/// `null` or an error falls back to the body's SHA-256: an authentic delivery is never refused
/// because its key could not be computed.
pub async fn custom_dedup_key(
    jq: &Jq,
    code: &str,
    headers: &[(String, String)],
    json: Option<&Value>,
    body: &[u8],
) -> String {
    let mut hdrs = Map::new();
    for (k, v) in headers {
        hdrs.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
    }
    let body_value = match json {
        Some(v) => v.clone(),
        None => Value::String(String::from_utf8_lossy(body).into_owned()),
    };
    let input = serde_json::json!({"headers": hdrs, "body": body_value});
    let id = match jq.first(&Arc::from(code), input).await {
        Ok(Some(Value::Null)) | Ok(None) => None,
        Ok(Some(Value::String(s))) => Some(s),
        Ok(Some(other)) => Some(other.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "dedup.key expression failed; using the body hash");
            None
        }
    };
    namespaced("jq", id, body)
}

/// The forms a key an operator knows (a provider's event id, or what the source's `dedup.key`
/// yields) is stored under, for finding its event: as given (a stored key copied from a view),
/// and namespaced as each kind of key would store it.
pub fn stored_forms(key: &str) -> Vec<String> {
    let mut forms = vec![key.to_string()];
    for kind in ["id", "jq"] {
        forms.push(namespaced(kind, Some(key.to_string()), b""));
    }
    forms
}

fn namespaced(kind: &str, id: Option<String>, body: &[u8]) -> String {
    match id.filter(|i| !i.is_empty()) {
        Some(i) if i.len() <= MAX_ID_LEN => format!("{kind}:{i}"),
        Some(i) => format!("{kind}-sha256:{}", hex::encode(Sha256::digest(i.as_bytes()))),
        None => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(scheme: &str) -> SourceSpec {
        serde_json::from_value(json!({"name": "s", "verify": {"scheme": scheme, "secrets": ["x"]}})).unwrap()
    }

    #[test]
    fn provider_ids_then_body_hash() {
        let body = br#"{"id":"evt_1","event_id":"Ev1"}"#;
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(dedup_key(&spec("stripe"), |_| None, Some(&v), body), "id:evt_1");
        assert_eq!(dedup_key(&spec("slack"), |_| None, Some(&v), body), "id:Ev1");
        let gh = |h: &str| (h == "x-github-delivery").then_some("72d3162e");
        assert_eq!(dedup_key(&spec("github"), gh, Some(&v), body), "id:72d3162e");
        let sw = |h: &str| (h == "svix-id").then_some("msg_1");
        assert_eq!(dedup_key(&spec("standard-webhooks"), sw, None, body), "id:msg_1");
        let hashed = dedup_key(&spec("github"), |_| None, Some(&v), body);
        assert!(
            hashed.starts_with("sha256:") && hashed.len() == 7 + 64,
            "no delivery id: body hash"
        );
        assert_eq!(
            hashed,
            dedup_key(&spec("meta"), |_| None, None, body),
            "same body, same key"
        );
        let long = "x".repeat(500);
        assert!(dedup_key(&spec("github"), |_| Some(long.as_str()), None, body).starts_with("id-sha256:"));
    }

    #[tokio::test]
    async fn custom_expression_then_body_hash() {
        let jq = Jq::new(1, std::time::Duration::from_secs(5));
        let body = br#"{"data":{"id":"o_1","version":3}}"#;
        let v: Value = serde_json::from_slice(body).unwrap();
        let headers = vec![("x-topic".to_string(), "orders".to_string())];
        let code = r#""\(.headers["x-topic"]):\(.body.data.id):\(.body.data.version)""#;
        assert_eq!(
            custom_dedup_key(&jq, code, &headers, Some(&v), body).await,
            "jq:orders:o_1:3"
        );
        assert_eq!(
            custom_dedup_key(&jq, ".body.data.version", &headers, Some(&v), body).await,
            "jq:3"
        );
        let fallback = format!("sha256:{}", hex::encode(Sha256::digest(body)));
        assert_eq!(
            custom_dedup_key(&jq, ".body.missing", &headers, Some(&v), body).await,
            fallback
        );
        assert_eq!(
            custom_dedup_key(&jq, "error(\"x\")", &headers, Some(&v), body).await,
            fallback
        );
        assert_eq!(custom_dedup_key(&jq, "empty", &headers, Some(&v), body).await, fallback);
        assert_eq!(
            custom_dedup_key(&jq, ".body", &headers, None, b"plain").await,
            "jq:plain"
        );
    }
}
