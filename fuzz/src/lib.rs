//! Shared plumbing for the fuzz targets: turn raw fuzzer bytes into a request. Lines of the
//! input become header values in a fixed order, and whatever follows is the body, so the fuzzer
//! can reach every parser with structured-looking inputs.

use serde_json::{Value, json};
use switchyard_core::source::VerifySpec;
use switchyard_core::verify::{SignedRequest, VerifyFailure, verify};

/// A fixed clock, so timestamps the fuzzer writes can fall inside the tolerance.
pub const NOW: i64 = 1_700_000_000;

/// Splits `data` into `n` header values (one per line) and the rest as the body.
pub fn split(data: &[u8], n: usize) -> (Vec<String>, &[u8]) {
    let mut rest = data;
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        values.push(String::from_utf8_lossy(&rest[..end]).into_owned());
        rest = rest.get(end + 1..).unwrap_or(&[]);
    }
    (values, rest)
}

pub fn spec(scheme: &str, extra: Value) -> VerifySpec {
    let mut v = json!({"scheme": scheme, "secrets": ["x"]});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    serde_json::from_value(v).expect("fuzz specs are well-formed")
}

/// Header pairs with owned names.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Runs `verify` with the given headers; a header whose value is empty counts as absent.
pub fn check(
    spec: &VerifySpec,
    secrets: &[String],
    headers: &[(String, String)],
    body: &[u8],
    url: Option<&str>,
) -> Result<(), VerifyFailure> {
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let req = SignedRequest { method: "POST", url, body, now: NOW, header: &lookup };
    verify(spec, secrets, &req)
}
