#![no_main]
//! Schemes that sign the public URL: Twilio (URL + sorted form pairs, or `bodySHA256` in the
//! query for JSON), Square (URL + body) and HubSpot v3 (method + URI + body + ms timestamp).
//! The URL, the headers and a form or JSON body all come from the fuzzer.

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::{check, headers, spec, split};

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else { return };
    let (h, body) = split(rest, 3);
    let url = h[0].as_str();
    let secrets = vec!["12345".to_string()];
    let (scheme, hs) = match first % 3 {
        0 => ("twilio", headers(&[("x-twilio-signature", &h[1])])),
        1 => ("square", headers(&[("x-square-hmacsha256-signature", &h[1])])),
        _ => (
            "hubspot",
            headers(&[("x-hubspot-signature-v3", &h[1]), ("x-hubspot-request-timestamp", &h[2])]),
        ),
    };
    let spec = spec(scheme, serde_json::json!({}));
    let _ = check(&spec, &secrets, &hs, body, Some(url));
});
