//! Which request headers are secrets. Inbound headers are redacted *before* they are stored, so a
//! credential sent to `/in/{source}` never reaches the database, the API or a log line.

/// Replacement text for a redacted value.
pub const REDACTED: &str = "[redacted]";

/// Headers that always carry credentials or signatures.
const ALWAYS_SECRET: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    // signature headers of the schemes Switchyard verifies
    "webhook-signature",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "x-slack-signature",
    "x-twilio-signature",
    "x-square-hmacsha256-signature",
    "x-square-signature",
    "paddle-signature",
    "x-zm-signature",
    "typeform-signature",
    "x-hubspot-signature",
    "x-hubspot-signature-v3",
    "x-gitlab-token",
];

/// True when the header named `name` (any case) must not be stored or shown. `extra` holds the
/// source-specific names, such as the header a `token` source reads its token from.
pub fn is_secret_header(name: &str, extra: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    ALWAYS_SECRET.contains(&lower.as_str())
        || lower.contains("signature")
        || lower.contains("secret")
        || lower.contains("token") && lower != "x-request-id"
        || extra.iter().any(|e| e.eq_ignore_ascii_case(&lower))
}

/// An RFC 9110 token of at most 128 bytes: what a configurable header name may be.
pub fn is_header_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 128
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_recognised_in_any_case() {
        for h in [
            "Authorization",
            "COOKIE",
            "Stripe-Signature",
            "X-My-Signature",
            "x-webhook-secret",
        ] {
            assert!(is_secret_header(h, &[]), "{h}");
        }
        assert!(is_secret_header("X-Custom", &["x-custom".into()]));
        for h in ["content-type", "user-agent", "x-github-delivery", "x-request-id"] {
            assert!(!is_secret_header(h, &[]), "{h}");
        }
    }
}
