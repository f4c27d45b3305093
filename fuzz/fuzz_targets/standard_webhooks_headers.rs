#![no_main]
//! `webhook-id`, `webhook-timestamp`, `webhook-signature` (space-separated `v1,`/`v1a,` list),
//! or their `svix-` twins, against an HMAC and an ed25519 secret.

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{check, headers, spec, split};

fuzz_target!(|data: &[u8]| {
    let (h, body) = split(data, 3);
    let spec = spec("standard-webhooks", serde_json::json!({}));
    let secrets = vec![
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
        "whpk_JJzOY0/f2kDo0xQ8yGNCh0jKVIw6AeJ4+TJkkvAw3zw=".to_string(),
    ];
    let p = if data.first() == Some(&b's') { "svix" } else { "webhook" };
    let hs = headers(&[
        (&format!("{p}-id"), &h[0]),
        (&format!("{p}-timestamp"), &h[1]),
        (&format!("{p}-signature"), &h[2]),
    ]);
    let _ = check(&spec, &secrets, &hs, body, None);
});
