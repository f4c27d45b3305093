//! Standard Webhooks (also Svix): `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (or their `svix-` twins). The signed content is `{id}.{timestamp}.{body}`. Signatures are a
//! space-separated list of `v1,<base64 HMAC-SHA256>` (key: the base64 after `whsec_`) and
//! `v1a,<base64 ed25519>` (verified with a `whpk_` public key); any valid one under any secret
//! accepts, which is how rotation works on both sides.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::crypto::{any_mac_eq, b64, check_timestamp, from_b64, hmac_sha256};
use super::{SignedRequest, VerifyFailure};

enum Secret {
    Hmac(Vec<u8>),
    Ed25519(VerifyingKey),
}

fn parse_secret(s: &str) -> Result<Secret, VerifyFailure> {
    let bad = |why: &str| VerifyFailure::Misconfigured(format!("standard-webhooks secret is invalid: {why}"));
    if let Some(pk) = s.strip_prefix("whpk_") {
        let bytes: [u8; 32] = from_b64(pk)
            .try_into()
            .map_err(|_| bad("whpk_ must be base64 of 32 bytes"))?;
        return VerifyingKey::from_bytes(&bytes)
            .map(Secret::Ed25519)
            .map_err(|_| bad("not an ed25519 public key"));
    }
    let key = from_b64(s.strip_prefix("whsec_").unwrap_or(s));
    if key.is_empty() {
        return Err(bad("whsec_ must be followed by base64"));
    }
    Ok(Secret::Hmac(key))
}

/// Checks that a configured secret is a usable `whsec_` key or `whpk_` public key.
pub fn check_secret(s: &str) -> Result<(), VerifyFailure> {
    parse_secret(s).map(|_| ())
}

fn header<'a>(req: &SignedRequest<'a>, name: &str) -> Result<&'a str, VerifyFailure> {
    (req.header)(&format!("webhook-{name}"))
        .or_else(|| (req.header)(&format!("svix-{name}")))
        .ok_or_else(|| VerifyFailure::MissingHeader(format!("webhook-{name}")))
}

pub fn verify(secrets: &[String], req: &SignedRequest<'_>, tolerance: i64) -> Result<(), VerifyFailure> {
    let id = header(req, "id")?;
    let ts_raw = header(req, "timestamp")?;
    let sigs = header(req, "signature")?;
    let ts = check_timestamp("webhook-timestamp", ts_raw, req.now, tolerance)?;
    let ts = ts.to_string();
    let mut v1 = Vec::new();
    let mut v1a = Vec::new();
    for item in sigs.split_whitespace() {
        match item.split_once(',') {
            Some(("v1", sig)) => v1.push(from_b64(sig)),
            Some(("v1a", sig)) => v1a.push(from_b64(sig)),
            _ => {}
        }
    }
    let content = [id.as_bytes(), b".", ts.as_bytes(), b".", req.body];
    let mut expected = Vec::new();
    let mut ed_ok = false;
    // Secrets were checked when the source was defined; one that cannot be parsed simply matches
    // nothing rather than locking out the others.
    for s in secrets {
        let Ok(secret) = parse_secret(s) else { continue };
        match secret {
            Secret::Hmac(key) => expected.push(hmac_sha256(&key, &content)),
            Secret::Ed25519(pk) => {
                let msg = content.concat();
                for sig in &v1a {
                    if let Ok(sig) = Signature::from_slice(sig) {
                        ed_ok |= pk.verify(&msg, &sig).is_ok();
                    }
                }
            }
        }
    }
    if ed_ok || any_mac_eq(&expected, &v1) {
        Ok(())
    } else {
        Err(VerifyFailure::Mismatch("webhook-signature".into()))
    }
}

/// The `webhook-signature` value for `secret` (`whsec_…` → `v1,…`; `whsk_…` → `v1a,…`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, VerifyFailure> {
    let ts = timestamp.to_string();
    let content = [id.as_bytes(), b".", ts.as_bytes(), b".", body];
    if let Some(sk) = secret.strip_prefix("whsk_") {
        let raw = from_b64(sk);
        let seed: [u8; 32] = raw
            .get(..32)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| VerifyFailure::Misconfigured("whsk_ must be base64 of an ed25519 key".into()))?;
        let key = SigningKey::from_bytes(&seed);
        return Ok(format!("v1a,{}", b64(&key.sign(&content.concat()).to_bytes())));
    }
    match parse_secret(secret)? {
        Secret::Hmac(key) => Ok(format!("v1,{}", b64(&hmac_sha256(&key, &content)))),
        Secret::Ed25519(_) => Err(VerifyFailure::Misconfigured("a whpk_ public key cannot sign".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::with_request;
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn run(headers: &[(&str, &str)], body: &[u8], now: i64, secrets: &[&str]) -> Result<(), VerifyFailure> {
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        with_request(headers, body, None, now, |r| verify(&secrets, r, 300))
    }

    /// The example from the Standard Webhooks specification's reference tests.
    #[test]
    fn spec_reference_vector() {
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let headers = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", sig.as_str()),
        ];
        assert!(run(&headers, body, 1614265330, &[SECRET]).is_ok());
        assert!(run(&headers, b"{\"test\": 2432232315}", 1614265330, &[SECRET]).is_err());
        assert!(matches!(
            run(&headers, body, 1614265330 + 301, &[SECRET]),
            Err(VerifyFailure::OutsideTolerance { .. })
        ));
        let svix = [
            ("svix-id", headers[0].1),
            ("svix-timestamp", headers[1].1),
            ("svix-signature", headers[2].1),
        ];
        assert!(
            run(&svix, body, 1614265330, &["whsec_bm90IHRoaXM=", SECRET]).is_ok(),
            "svix headers, rotation"
        );
    }

    #[test]
    fn ed25519_v1a() {
        let seed = [7u8; 32];
        let sk = format!("whsk_{}", b64(&seed));
        let pk = format!("whpk_{}", b64(SigningKey::from_bytes(&seed).verifying_key().as_bytes()));
        let sig = sign(&sk, "msg_1", 1000, b"{}").unwrap();
        assert!(sig.starts_with("v1a,"));
        let list = format!("v1,AAAA {sig}");
        let headers = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1000"),
            ("webhook-signature", list.as_str()),
        ];
        assert!(run(&headers, b"{}", 1000, &[&pk]).is_ok());
        assert!(run(&headers, b"{ }", 1000, &[&pk]).is_err());
        assert!(sign(&pk, "m", 1, b"").is_err(), "a public key cannot sign");
    }
}
