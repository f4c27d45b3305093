#![no_main]
//! Numbers a stranger controls — timestamps in every timestamped scheme's header (seconds and
//! HubSpot's milliseconds, Stripe's `t=`, Paddle's `ts=`), the server clock and tolerance they are
//! compared with, and a receiver's `Retry-After` / `X-RateLimit-Reset` — never overflow: fuzz
//! builds keep debug assertions, so a wrapped subtraction or multiplication is a crash here.

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use switchyard_core::delivery::outcome::{classify_status, parse_rate_limit_reset, parse_retry_after};
use switchyard_core::delivery::schedule::next_attempt;
use switchyard_core::verify::{SignedRequest, verify};
use switchyard_fuzz::{spec, split};

fuzz_target!(|data: &[u8]| {
    let (h, body) = split(data, 3);
    let ts = h[0].as_str();
    // The clock itself is hostile too: derive it from the input, extremes included.
    let now = body
        .get(..8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(1_700_000_000);
    let cases = [
        ("standard-webhooks", json!({"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}), vec![("webhook-id", "m".to_string()), ("webhook-timestamp", ts.to_string()), ("webhook-signature", "v1,AAAA".to_string())]),
        ("stripe", json!({}), vec![("stripe-signature", format!("t={ts},v1=00"))]),
        ("slack", json!({}), vec![("x-slack-request-timestamp", ts.to_string()), ("x-slack-signature", "v0=00".to_string())]),
        ("zoom", json!({}), vec![("x-zm-request-timestamp", ts.to_string()), ("x-zm-signature", "v0=00".to_string())]),
        ("paddle", json!({}), vec![("paddle-signature", format!("ts={ts};h1=00"))]),
        ("hubspot", json!({"url": "https://x.example/in/h"}), vec![("x-hubspot-request-timestamp", ts.to_string()), ("x-hubspot-signature-v3", "AAAA".to_string())]),
        ("hmac", json!({"header": "x-sig", "timestamp_header": "x-ts", "template": "{timestamp}.{body}"}), vec![("x-ts", ts.to_string()), ("x-sig", "00".to_string())]),
    ];
    for (scheme, extra, headers) in cases {
        let spec = spec(scheme, extra);
        let lookup = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        let req = SignedRequest {
            method: "POST",
            url: Some("https://x.example/in/h"),
            body,
            now,
            header: &lookup,
        };
        let _ = verify(&spec, &spec.secrets, &req);
    }
    // A receiver's waits: any text, any clock, any status.
    let _ = parse_retry_after(&h[1], now);
    let _ = parse_rate_limit_reset(&h[2], now);
    let status = body.get(8..10).map_or(429, |b| u16::from_le_bytes([b[0], b[1]]));
    if let switchyard_core::delivery::outcome::Verdict::Retry { retry_after_seconds } =
        classify_status(status, Some(&h[1]), Some(&h[2]), now)
    {
        let attempts = body.get(10).copied().unwrap_or(0) as u32;
        let _ = next_attempt(&[0, 5, 300, 86_400], attempts, 0.5, retry_after_seconds);
    }
});
