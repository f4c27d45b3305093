#![no_main]
//! The single-header schemes with a prefix or an encoding to strip: GitHub and Meta
//! (`sha256=<hex>`), Typeform (`sha256=<base64>`), Shopify (base64), Slack and Zoom (`v0=<hex>`
//! plus a timestamp header). The first byte picks the scheme.

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{check, spec, split};

const SCHEMES: &[(&str, &str, Option<&str>)] = &[
    ("github", "x-hub-signature-256", None),
    ("meta", "x-hub-signature-256", None),
    ("typeform", "typeform-signature", None),
    ("shopify", "x-shopify-hmac-sha256", None),
    ("slack", "x-slack-signature", Some("x-slack-request-timestamp")),
    ("zoom", "x-zm-signature", Some("x-zm-request-timestamp")),
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else { return };
    let (scheme, sig, ts) = SCHEMES[*first as usize % SCHEMES.len()];
    let (h, body) = split(rest, 2);
    let spec = spec(scheme, serde_json::json!({}));
    let secrets = vec!["secret".to_string()];
    let mut headers = vec![(sig.to_string(), h[0].clone())];
    if let Some(ts) = ts {
        headers.push((ts.to_string(), h[1].clone()));
    }
    let _ = check(&spec, &secrets, &headers, body, None);
});
