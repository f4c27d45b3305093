#![no_main]
//! `Paddle-Signature: ts=…;h1=…[;h1=…]`.

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{check, headers, spec, split};

fuzz_target!(|data: &[u8]| {
    let (h, body) = split(data, 1);
    let spec = spec("paddle", serde_json::json!({}));
    let secrets = vec!["pdl_ntfset_secret".to_string()];
    let _ = check(&spec, &secrets, &headers(&[("paddle-signature", &h[0])]), body, None);
});
