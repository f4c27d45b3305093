//! Providers that sign the body (and sometimes a timestamp) with HMAC-SHA256 under the shared
//! secret used as raw bytes: Stripe, GitHub and Meta, Shopify, Typeform, Slack, Zoom and Paddle.

use super::crypto::{any_mac_eq, check_not_stale, check_timestamp, from_b64, from_hex, hmac_sha256};
use super::{SignedRequest, VerifyFailure};

fn macs(secrets: &[String], parts: &[&[u8]]) -> Vec<Vec<u8>> {
    secrets.iter().map(|s| hmac_sha256(s.as_bytes(), parts)).collect()
}

fn matched(ok: bool, header: &str) -> Result<(), VerifyFailure> {
    if ok {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch(header.into()))
    }
}

/// `Stripe-Signature: t=…,v1=…[,v1=…]`, hex HMAC of `{t}.{body}`; the `whsec_` secret is used as
/// raw bytes, not decoded.
pub fn stripe(secrets: &[String], req: &SignedRequest<'_>, tolerance: i64) -> Result<(), VerifyFailure> {
    const H: &str = "stripe-signature";
    let raw = req.require(H)?;
    let mut t = None;
    let mut v1 = Vec::new();
    for item in raw.split(',') {
        match item.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => v1.push(from_hex(v)),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| VerifyFailure::Malformed(H.into(), "no t= timestamp".into()))?;
    if v1.is_empty() {
        return Err(VerifyFailure::Malformed(H.into(), "no v1= signature".into()));
    }
    let ts: i64 = t
        .trim()
        .parse()
        .map_err(|_| VerifyFailure::Malformed(H.into(), "t= is not an integer".into()))?;
    check_not_stale(ts, req.now, tolerance)?;
    matched(any_mac_eq(&macs(secrets, &[t.as_bytes(), b".", req.body]), &v1), H)
}

/// `X-Hub-Signature-256: sha256=<hex HMAC of the body>` (GitHub; Meta with the app secret).
pub fn hub_signature(secrets: &[String], req: &SignedRequest<'_>) -> Result<(), VerifyFailure> {
    const H: &str = "x-hub-signature-256";
    let raw = req.require(H)?;
    let hex = raw
        .strip_prefix("sha256=")
        .ok_or_else(|| VerifyFailure::Malformed(H.into(), "expected sha256=<hex>".into()))?;
    matched(any_mac_eq(&macs(secrets, &[req.body]), &[from_hex(hex)]), H)
}

/// `X-Shopify-Hmac-Sha256: <base64 HMAC of the body>`.
pub fn shopify(secrets: &[String], req: &SignedRequest<'_>) -> Result<(), VerifyFailure> {
    const H: &str = "x-shopify-hmac-sha256";
    let raw = req.require(H)?;
    matched(any_mac_eq(&macs(secrets, &[req.body]), &[from_b64(raw)]), H)
}

/// `Typeform-Signature: sha256=<base64 HMAC of the body>`.
pub fn typeform(secrets: &[String], req: &SignedRequest<'_>) -> Result<(), VerifyFailure> {
    const H: &str = "typeform-signature";
    let raw = req.require(H)?;
    let sig = raw
        .strip_prefix("sha256=")
        .ok_or_else(|| VerifyFailure::Malformed(H.into(), "expected sha256=<base64>".into()))?;
    matched(any_mac_eq(&macs(secrets, &[req.body]), &[from_b64(sig)]), H)
}

/// The `v0=<hex HMAC of v0:{ts}:{body}>` family shared by Slack and Zoom.
fn v0(
    secrets: &[String],
    req: &SignedRequest<'_>,
    tolerance: i64,
    sig_header: &str,
    ts_header: &str,
) -> Result<(), VerifyFailure> {
    let raw = req.require(sig_header)?;
    let ts = req.require(ts_header)?;
    check_timestamp(ts_header, ts, req.now, tolerance)?;
    let hex = raw
        .strip_prefix("v0=")
        .ok_or_else(|| VerifyFailure::Malformed(sig_header.into(), "expected v0=<hex>".into()))?;
    matched(
        any_mac_eq(
            &macs(secrets, &[b"v0:", ts.trim().as_bytes(), b":", req.body]),
            &[from_hex(hex)],
        ),
        sig_header,
    )
}

pub fn slack(secrets: &[String], req: &SignedRequest<'_>, tolerance: i64) -> Result<(), VerifyFailure> {
    v0(
        secrets,
        req,
        tolerance,
        "x-slack-signature",
        "x-slack-request-timestamp",
    )
}

pub fn zoom(secrets: &[String], req: &SignedRequest<'_>, tolerance: i64) -> Result<(), VerifyFailure> {
    v0(secrets, req, tolerance, "x-zm-signature", "x-zm-request-timestamp")
}

/// `Paddle-Signature: ts=…;h1=…[;h1=…]`, hex HMAC of `{ts}:{body}` (Paddle Billing).
pub fn paddle(secrets: &[String], req: &SignedRequest<'_>, tolerance: i64) -> Result<(), VerifyFailure> {
    const H: &str = "paddle-signature";
    let raw = req.require(H)?;
    let mut ts = None;
    let mut h1 = Vec::new();
    for item in raw.split(';') {
        match item.trim().split_once('=') {
            Some(("ts", v)) => ts = Some(v),
            Some(("h1", v)) => h1.push(from_hex(v)),
            _ => {}
        }
    }
    let ts = ts.ok_or_else(|| VerifyFailure::Malformed(H.into(), "no ts= timestamp".into()))?;
    check_timestamp(H, ts, req.now, tolerance)?;
    matched(any_mac_eq(&macs(secrets, &[ts.as_bytes(), b":", req.body]), &h1), H)
}

#[cfg(test)]
mod tests {
    use super::super::crypto::b64;
    use super::super::test_support::with_request;
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn stripe_signature_with_rotation_and_window() {
        let secret = "whsec_test_secret";
        let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
        let sig = hex::encode(hmac_sha256(secret.as_bytes(), &[b"1700000000.", body]));
        let header = format!("t=1700000000,v1=deadbeef,v1={sig}");
        let run = |h: &str, body: &[u8], now, secrets: &[&str]| {
            with_request(&[("stripe-signature", h)], body, None, now, |r| {
                stripe(&s(secrets), r, 300)
            })
        };
        assert!(run(&header, body, 1700000100, &["whsec_old", secret]).is_ok());
        assert!(run(&header, b"{}", 1700000100, &[secret]).is_err());
        assert!(matches!(
            run(&header, body, 1700000301, &[secret]),
            Err(VerifyFailure::OutsideTolerance { .. })
        ));
        assert!(matches!(
            run("v1=abc", body, 1700000000, &[secret]),
            Err(VerifyFailure::Malformed(..))
        ));
    }

    #[test]
    fn body_only_schemes() {
        let body = b"payload";
        let mac = hmac_sha256(b"k", &[body]);
        let gh = format!("sha256={}", hex::encode(&mac));
        assert!(
            with_request(&[("x-hub-signature-256", &gh)], body, None, 0, |r| hub_signature(
                &s(&["k"]),
                r
            ))
            .is_ok()
        );
        assert!(
            with_request(&[("x-hub-signature-256", &gh)], b"x", None, 0, |r| hub_signature(
                &s(&["k"]),
                r
            ))
            .is_err()
        );
        let sh = b64(&mac);
        assert!(
            with_request(&[("x-shopify-hmac-sha256", &sh)], body, None, 0, |r| shopify(
                &s(&["k"]),
                r
            ))
            .is_ok()
        );
        let tf = format!("sha256={sh}");
        assert!(
            with_request(&[("typeform-signature", &tf)], body, None, 0, |r| typeform(
                &s(&["k"]),
                r
            ))
            .is_ok()
        );
        assert!(with_request(&[], body, None, 0, |r| typeform(&s(&["k"]), r)).is_err());
    }

    #[test]
    fn slack_zoom_paddle() {
        let body = b"token=x&team_id=T1";
        let sig = format!("v0={}", hex::encode(hmac_sha256(b"k", &[b"v0:1000:", body])));
        let h = [
            ("x-slack-signature", sig.as_str()),
            ("x-slack-request-timestamp", "1000"),
        ];
        assert!(with_request(&h, body, None, 1000, |r| slack(&s(&["k"]), r, 300)).is_ok());
        assert!(with_request(&h, body, None, 2000, |r| slack(&s(&["k"]), r, 300)).is_err());
        let z = [("x-zm-signature", sig.as_str()), ("x-zm-request-timestamp", "1000")];
        assert!(with_request(&z, body, None, 1000, |r| zoom(&s(&["k"]), r, 300)).is_ok());
        let p = format!("ts=1000;h1={}", hex::encode(hmac_sha256(b"k", &[b"1000:", body])));
        assert!(
            with_request(&[("paddle-signature", &p)], body, None, 1000, |r| paddle(
                &s(&["k"]),
                r,
                300
            ))
            .is_ok()
        );
        assert!(
            with_request(&[("paddle-signature", &p)], b"x", None, 1000, |r| paddle(
                &s(&["k"]),
                r,
                300
            ))
            .is_err()
        );
    }
}
