#![no_main]
//! For every signing scheme: a fuzzed body signed by `sign` verifies, and the same signature
//! over the body with one byte changed does not.

use libfuzzer_sys::fuzz_target;
use switchyard_core::verify::{Outgoing, sign, twilio_json_url};
use switchyard_fuzz::{NOW, check, spec};

const SCHEMES: &[(&str, &str)] = &[
    ("standard-webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("stripe", "whsec_test"),
    ("github", "s"),
    ("meta", "s"),
    ("shopify", "s"),
    ("typeform", "s"),
    ("slack", "s"),
    ("zoom", "s"),
    ("paddle", "s"),
    ("square", "s"),
    ("hubspot", "s"),
    ("twilio", "s"),
];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else { return };
    let (scheme, secret) = SCHEMES[*first as usize % SCHEMES.len()];
    let base = "https://hooks.example.com/in/src?a=1";
    let url = if scheme == "twilio" { twilio_json_url(base, body) } else { base.to_string() };
    let spec = spec(scheme, serde_json::json!({}));
    let out = Outgoing { body, timestamp: NOW, id: "msg_1", url: &url, method: "POST" };
    let signed = sign(&spec, secret, &out).expect("signing never fails for a valid secret");
    let secrets = vec![secret.to_string()];
    check(&spec, &secrets, &signed, body, Some(&url)).expect("a signature we produce verifies");
    if !body.is_empty() {
        let mut tampered = body.to_vec();
        tampered[0] ^= 1;
        assert!(
            check(&spec, &secrets, &signed, &tampered, Some(&url)).is_err(),
            "{scheme}: a tampered body was accepted"
        );
    }
});
