//! The headers stored with an event: secrets replaced before they are ever stored, and bounded in
//! size, so neither a credential nor a stranger's 400 KB header reaches the database.

use switchyard_core::headers::{REDACTED, is_secret_header};

/// Most bytes of one header value kept with an event; the rest is cut with a marker.
pub const STORED_HEADER_VALUE_MAX: usize = 2048;
/// Most bytes of header names and values kept with an event in all; later headers are dropped
/// and counted under [`OMITTED_HEADERS`].
pub const STORED_HEADERS_MAX: usize = 16 * 1024;
/// The key that counts headers left out for size.
pub const OMITTED_HEADERS: &str = "x-switchyard-omitted-headers";

/// Headers as a JSON object, secrets replaced before they are ever stored, and bounded in size so
/// a stranger's 400 KB header costs at most [`STORED_HEADERS_MAX`] per event.
pub(super) fn headers_json(headers: &[(String, String)], extra_secret: &[String]) -> String {
    let mut map = serde_json::Map::with_capacity(headers.len());
    let mut budget = STORED_HEADERS_MAX;
    let mut omitted = 0usize;
    for (k, v) in headers {
        let v = if is_secret_header(k, extra_secret) {
            REDACTED
        } else {
            v.as_str()
        };
        let v = bounded(v, STORED_HEADER_VALUE_MAX);
        let cost = k.len().saturating_add(v.len());
        if cost > budget {
            omitted = omitted.saturating_add(1);
            continue;
        }
        budget -= cost;
        match map.get_mut(k) {
            Some(serde_json::Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                map.insert(k.clone(), serde_json::Value::String(v.into_owned()));
            }
        }
    }
    if omitted > 0 {
        map.insert(OMITTED_HEADERS.into(), serde_json::Value::from(omitted));
    }
    serde_json::Value::Object(map).to_string()
}

/// `v` cut to at most `max` bytes (on a character boundary) with a marker saying how much went.
fn bounded(v: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if v.len() <= max {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut end = max;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…[{} bytes cut]", &v[..end], v.len() - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_headers_are_bounded() {
        let huge = "a".repeat(400_000);
        let mut h = vec![("x-huge".to_string(), huge)];
        for i in 0..100 {
            h.push((format!("x-h{i}"), "v".repeat(1000)));
        }
        let out = headers_json(&h, &[]);
        assert!(out.len() < STORED_HEADERS_MAX + 4096, "{}", out.len());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["x-huge"].as_str().unwrap().ends_with("[397952 bytes cut]"));
        assert!(v[OMITTED_HEADERS].as_u64().unwrap() > 80);
        // Small header sets are kept as they are; cuts respect UTF-8.
        let small = headers_json(&[("x-a".into(), "é".repeat(3000))], &[]);
        let v: serde_json::Value = serde_json::from_str(&small).unwrap();
        assert!(v["x-a"].as_str().unwrap().contains("…["));
    }

    #[test]
    fn secret_headers_never_stored() {
        let h = vec![
            ("authorization".to_string(), "Bearer s3cret".to_string()),
            ("x-token".to_string(), "t0k".to_string()),
            ("x-a".to_string(), "1".to_string()),
            ("x-a".to_string(), "2".to_string()),
        ];
        let out = headers_json(&h, &["x-token".into()]);
        assert!(!out.contains("s3cret") && !out.contains("t0k"));
        assert!(out.contains(r#""x-a":"1, 2""#));
    }
}
