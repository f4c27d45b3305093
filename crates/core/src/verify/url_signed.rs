//! Providers whose signature covers the public URL they called: Twilio, Square and HubSpot. The
//! URL is the one the provider was configured with (a source option), because proxies rewrite the
//! host and scheme Switchyard itself sees.

use super::crypto::{Algorithm, any_mac_eq, b64, check_not_stale, from_b64, hmac, hmac_sha256, mac_eq, sha256_hex};
use super::{SignedRequest, VerifyFailure};

fn public_url<'a>(req: &SignedRequest<'a>) -> Result<&'a str, VerifyFailure> {
    req.url
        .ok_or_else(|| VerifyFailure::Misconfigured("verify.url (the public URL the provider calls) is not set".into()))
}

/// The URL with and without its scheme's default port: Twilio signs either form.
fn port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    match authority.rsplit_once(':') {
        Some((host, port)) if port == default => out.push(format!("{scheme}://{host}{tail}")),
        Some(_) => {}
        None => out.push(format!("{scheme}://{authority}:{default}{tail}")),
    }
    out
}

/// `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL followed by the sorted form parameters
/// (`name` + `value`, names then values in order, duplicates once). A JSON body is instead bound
/// by the URL's `bodySHA256` query parameter and the signature covers the URL alone.
pub fn twilio(secrets: &[String], req: &SignedRequest<'_>) -> Result<(), VerifyFailure> {
    const H: &str = "x-twilio-signature";
    let presented = from_b64(req.require(H)?);
    let url = public_url(req)?;
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let body_hash = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v);
    let signed_params = match body_hash {
        Some(expected) => {
            if !mac_eq(expected.as_bytes(), sha256_hex(req.body).as_bytes()) {
                return Err(VerifyFailure::Mismatch("bodySHA256".into()));
            }
            String::new()
        }
        None => twilio_params(req.body),
    };
    let algorithm = twilio_algorithm(req)?;
    let params = signed_params.as_bytes();
    let expected: Vec<Vec<u8>> = port_variants(url)
        .iter()
        .flat_map(|u| {
            secrets
                .iter()
                .map(move |s| hmac(algorithm, s.as_bytes(), &[u.as_bytes(), params]))
        })
        .collect();
    if any_mac_eq(&expected, &[presented]) {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch(H.into()))
    }
}

/// The sorted form parameters as Twilio signs them: `name` + `value`, names then values in
/// order, duplicates once.
fn twilio_params(form_body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(form_body).into_owned().collect();
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()
}

/// HMAC-SHA1 unless `X-Twilio-Webhooks-Signature-Settings` (`key=…,algorithm=HMAC_SHA256`, sent
/// with webhook signing keys) selects SHA-256. Both are HMACs under the configured secret, so a
/// sender choosing the algorithm gains nothing without the key.
fn twilio_algorithm(req: &SignedRequest<'_>) -> Result<Algorithm, VerifyFailure> {
    const H: &str = "x-twilio-webhooks-signature-settings";
    let Some(settings) = (req.header)(H) else {
        return Ok(Algorithm::Sha1);
    };
    let algorithm = settings
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("algorithm"))
        .map(|(_, v)| v.trim());
    match algorithm {
        None | Some("HMAC_SHA1") => Ok(Algorithm::Sha1),
        Some("HMAC_SHA256") => Ok(Algorithm::Sha256),
        Some(other) => Err(VerifyFailure::Malformed(
            H.into(),
            format!("unknown algorithm {other:?}; expected HMAC_SHA1 or HMAC_SHA256"),
        )),
    }
}

/// `x-square-hmacsha256-signature`: base64 HMAC-SHA256 of the notification URL followed by the body.
pub fn square(secrets: &[String], req: &SignedRequest<'_>) -> Result<(), VerifyFailure> {
    const H: &str = "x-square-hmacsha256-signature";
    let presented = from_b64(req.require(H)?);
    let url = public_url(req)?;
    let expected: Vec<Vec<u8>> = secrets
        .iter()
        .map(|s| hmac_sha256(s.as_bytes(), &[url.as_bytes(), req.body]))
        .collect();
    if any_mac_eq(&expected, &[presented]) {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch(H.into()))
    }
}

/// Characters HubSpot decodes in the URI before signing (its v3 documentation's list).
const HUBSPOT_DECODE: &[(&str, &str)] = &[
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// `X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method + URI + body + timestamp, where
/// `X-HubSpot-Request-Timestamp` is in milliseconds and may be at most 5 minutes old.
pub fn hubspot(secrets: &[String], req: &SignedRequest<'_>, tolerance: i64) -> Result<(), VerifyFailure> {
    const H: &str = "x-hubspot-signature-v3";
    const T: &str = "x-hubspot-request-timestamp";
    let presented = from_b64(req.require(H)?);
    let ts_raw = req.require(T)?.trim();
    let ts_ms: i64 = ts_raw
        .parse()
        .map_err(|_| VerifyFailure::Malformed(T.into(), "not an integer".into()))?;
    check_not_stale(ts_ms.div_euclid(1000), req.now, tolerance)?;
    let mut uri = public_url(req)?.to_string();
    for (from, to) in HUBSPOT_DECODE {
        uri = uri.replace(from, to).replace(&from.to_lowercase(), to);
    }
    let expected: Vec<Vec<u8>> = secrets
        .iter()
        .map(|s| {
            hmac_sha256(
                s.as_bytes(),
                &[req.method.as_bytes(), uri.as_bytes(), req.body, ts_raw.as_bytes()],
            )
        })
        .collect();
    if any_mac_eq(&expected, &[presented]) {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch(H.into()))
    }
}

/// Base64 Twilio signature, for `switchyard send` and tests.
pub fn twilio_sign(secret: &str, url: &str, form_body: Option<&[u8]>) -> String {
    let params = form_body.map(twilio_params).unwrap_or_default();
    b64(&hmac(
        Algorithm::Sha1,
        secret.as_bytes(),
        &[url.as_bytes(), params.as_bytes()],
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::with_request;
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// The example in Twilio's security documentation.
    #[test]
    fn twilio_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
        let sig = twilio_sign("12345", url, Some(body));
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        let ok = with_request(&[("x-twilio-signature", &sig)], body, Some(url), 0, |r| {
            twilio(&s(&["12345"]), r)
        });
        assert!(ok.is_ok());
        let tampered = with_request(&[("x-twilio-signature", &sig)], b"Digits=9", Some(url), 0, |r| {
            twilio(&s(&["12345"]), r)
        });
        assert!(tampered.is_err());
    }

    #[test]
    fn twilio_json_body_hash_and_ports() {
        let body = br#"{"a":1}"#;
        let url = format!("https://example.com/in/tw?bodySHA256={}", sha256_hex(body));
        let with_port = url.replace("example.com", "example.com:443");
        let sig = twilio_sign("tok", &with_port, None);
        let run = |b: &[u8]| {
            with_request(&[("x-twilio-signature", &sig)], b, Some(&url), 0, |r| {
                twilio(&s(&["tok"]), r)
            })
        };
        assert!(run(body).is_ok(), "signed with the default port, configured without");
        assert_eq!(run(b"{}"), Err(VerifyFailure::Mismatch("bodySHA256".into())));
        assert!(
            with_request(&[("x-twilio-signature", &sig)], body, None, 0, |r| twilio(
                &s(&["tok"]),
                r
            ))
            .is_err()
        );
    }

    #[test]
    fn square_and_hubspot() {
        let url = "https://example.com/in/square";
        let body = br#"{"merchant_id":"M"}"#;
        let sig = b64(&hmac_sha256(b"key", &[url.as_bytes(), body]));
        assert!(
            with_request(&[("x-square-hmacsha256-signature", &sig)], body, Some(url), 0, |r| {
                square(&s(&["key"]), r)
            })
            .is_ok()
        );
        assert!(
            with_request(&[("x-square-hmacsha256-signature", &sig)], b"{}", Some(url), 0, |r| {
                square(&s(&["key"]), r)
            })
            .is_err()
        );

        let hs_url = "https://example.com/in/hubspot?x=%3A";
        let signed = b64(&hmac_sha256(
            b"cs",
            &[b"POST", b"https://example.com/in/hubspot?x=:", body, b"1700000000123"],
        ));
        let h = [
            ("x-hubspot-signature-v3", signed.as_str()),
            ("x-hubspot-request-timestamp", "1700000000123"),
        ];
        assert!(with_request(&h, body, Some(hs_url), 1700000100, |r| hubspot(&s(&["cs"]), r, 300)).is_ok());
        assert!(matches!(
            with_request(&h, body, Some(hs_url), 1700000400, |r| hubspot(&s(&["cs"]), r, 300)),
            Err(VerifyFailure::OutsideTolerance { .. })
        ));
    }
}
