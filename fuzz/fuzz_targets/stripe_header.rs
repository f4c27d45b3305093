#![no_main]
//! `Stripe-Signature: t=…,v1=…[,v1=…]`: any bytes parse to an answer, never a panic.

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{check, headers, spec, split};

fuzz_target!(|data: &[u8]| {
    let (h, body) = split(data, 1);
    let spec = spec("stripe", serde_json::json!({}));
    let secrets = vec!["whsec_test".to_string()];
    let _ = check(&spec, &secrets, &headers(&[("stripe-signature", &h[0])]), body, None);
});
