#![no_main]
//! The generic `hmac` scheme: a fuzzed signed-content template, prefix, encoding and algorithm,
//! then a fuzzed signature and timestamp against it. A configuration that passes validation
//! must also accept what `sign` produces for it.

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use switchyard_core::verify::{Outgoing, check_spec, sign};
use switchyard_fuzz::{NOW, check, headers, spec, split};

const URL: &str = "https://example.com/in/x";

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else { return };
    let (h, body) = split(rest, 4);
    let algorithm = ["sha1", "sha256", "sha512"][*first as usize % 3];
    let spec = spec(
        "hmac",
        json!({
            "header": "x-signature",
            "algorithm": algorithm,
            "encoding": if first & 4 == 0 { "hex" } else { "base64" },
            "template": h[0],
            "prefix": h[1],
            "timestamp_header": "x-timestamp",
            "id_header": "x-id",
        }),
    );
    let secrets = vec!["key".to_string()];
    let fuzzed = headers(&[("x-signature", &h[2]), ("x-timestamp", &h[3]), ("x-id", "id1")]);
    let _ = check(&spec, &secrets, &fuzzed, body, Some(URL));
    if !check_spec(&spec).is_empty() {
        return;
    }
    let out = Outgoing { body, timestamp: NOW, id: "id1", url: URL, method: "POST" };
    let mut signed = sign(&spec, "key", &out).expect("a valid configuration signs");
    signed.push(("x-id".to_string(), "id1".to_string()));
    check(&spec, &secrets, &signed, body, Some(URL)).expect("a signature we produce verifies");
});
