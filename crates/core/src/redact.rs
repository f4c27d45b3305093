//! Redaction of configured JSON paths in what Switchyard shows (API views), while the stored raw
//! payload — what flows and replays use — stays intact. Paths are dotted from the root
//! (`data.object.card`); `*` matches any key; arrays are walked element by element, so
//! `items.card` reaches `items[i].card`.

use serde_json::Value;

use crate::headers::REDACTED;

/// Most paths a source may configure.
pub const MAX_PATHS: usize = 50;

/// Checks a configured path; `Err` says what is wrong with it.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > 256 {
        return Err("must be 1 to 256 characters");
    }
    if path.split('.').any(str::is_empty) {
        return Err("segments separated by dots must not be empty");
    }
    Ok(())
}

/// Replaces every value at `paths` with `"[redacted]"`.
pub fn redact_paths(value: &mut Value, paths: &[String]) {
    for p in paths {
        let segments: Vec<&str> = p.split('.').collect();
        redact_at(value, &segments);
    }
}

/// Query parameter names whose values are treated as secrets in logged URLs.
const SECRET_QUERY_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "sig",
    "auth",
    "credential",
    "code",
];

/// A URL fit for a log line: the userinfo (user and password) becomes `****`, and so does the
/// value of every query parameter whose name reads as a credential (`password`, `sslpassword`,
/// `api_key`, `token`, `sig`, …). Text that is not a URL is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let (head, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("****{}", &authority[at..]),
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if SECRET_QUERY_WORDS.iter().any(|w| k.to_ascii_lowercase().contains(w)) => {
                        format!("{k}=****")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", masked.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{head}{authority}{tail}")
}

/// True when the value at JSON pointer `pointer` (as a validator reports it) lies at, under or
/// above a redacted path — so a message about it could echo a redacted value. Array indices are
/// skipped, as redaction walks arrays; the answer errs towards `true`.
pub fn touches_redacted(pointer: &str, paths: &[String]) -> bool {
    let at: Vec<String> = pointer
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()))
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    paths.iter().any(|p| {
        let path: Vec<&str> = p.split('.').collect();
        // One is a prefix of the other (segment by segment, `*` matching any key).
        path.iter()
            .zip(at.iter())
            .all(|(want, got)| *want == "*" || want == got)
    })
}

fn redact_at(value: &mut Value, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| redact_at(v, segments)),
        Value::Object(map) => {
            let keys: Vec<String> = if *first == "*" {
                map.keys().cloned().collect()
            } else {
                map.contains_key(*first)
                    .then(|| first.to_string())
                    .into_iter()
                    .collect()
            };
            for k in keys {
                if let Some(child) = map.get_mut(&k) {
                    if rest.is_empty() {
                        *child = Value::String(REDACTED.into());
                    } else {
                        redact_at(child, rest);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn logged_urls_lose_credentials() {
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://****@h:5432/db");
        assert_eq!(redact_url("postgres://tok@h/db"), "postgres://****@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact_url("postgres://h/db?sslmode=require&password=pw&sslpassword=x&application_name=a"),
            "postgres://h/db?sslmode=require&password=****&sslpassword=****&application_name=a"
        );
        assert_eq!(
            redact_url("https://x/p?api_key=k&n=1#frag"),
            "https://x/p?api_key=****&n=1#frag"
        );
        assert_eq!(redact_url("sqlite://switchyard.db"), "sqlite://switchyard.db");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn pointers_near_redacted_paths_are_recognised() {
        let paths = vec![
            "data.object.card".to_string(),
            "items.ssn".to_string(),
            "meta.*.token".to_string(),
        ];
        for hit in [
            "/data/object/card",
            "/data/object/card/last4",
            "/data/object",
            "/data",
            "",
            "/",
            "/items/3/ssn",
            "/meta/a/token",
            "/meta/x",
        ] {
            assert!(touches_redacted(hit, &paths), "{hit}");
        }
        for miss in ["/email", "/data/amount", "/items/0/sku", "/meta/a/other"] {
            assert!(!touches_redacted(miss, &paths), "{miss}");
        }
        assert!(!touches_redacted("/", &[]));
    }

    #[test]
    fn paths_wildcards_and_arrays() {
        let mut v = json!({
            "email": "a@b.c",
            "data": {"object": {"card": {"last4": "4242"}, "amount": 5}},
            "items": [{"card": "x", "sku": 1}, {"card": "y"}],
            "meta": {"a": {"token": 1}, "b": {"token": 2}}
        });
        redact_paths(
            &mut v,
            &[
                "email".into(),
                "data.object.card".into(),
                "items.card".into(),
                "meta.*.token".into(),
                "nope.x".into(),
            ],
        );
        assert_eq!(v["email"], "[redacted]");
        assert_eq!(v["data"]["object"]["card"], "[redacted]");
        assert_eq!(v["data"]["object"]["amount"], 5);
        assert_eq!(
            v["items"],
            json!([{"card": "[redacted]", "sku": 1}, {"card": "[redacted]"}])
        );
        assert_eq!(
            v["meta"],
            json!({"a": {"token": "[redacted]"}, "b": {"token": "[redacted]"}})
        );
        assert!(check_path("a..b").is_err());
        assert!(check_path("").is_err());
        assert!(check_path("data.object.card").is_ok());
    }
}
