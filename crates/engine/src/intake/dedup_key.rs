//! A delivery's identity within its source, the dedup key: the provider's own event or delivery
//! id where its scheme has one (retries of one event carry the same id), else the SHA-256 of the
//! body. Keys are namespaced (`id:` / `sha256:`) so an id can never collide with a hash.

use serde_json::Value;
use sha2::{Digest, Sha256};
use switchyard_core::source::{Scheme, SourceSpec};

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
    match id.filter(|i| !i.is_empty()) {
        Some(i) if i.len() <= MAX_ID_LEN => format!("id:{i}"),
        Some(i) => format!("id-sha256:{}", hex::encode(Sha256::digest(i.as_bytes()))),
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
}
