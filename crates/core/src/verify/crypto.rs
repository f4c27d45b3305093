//! The primitives every signature scheme is built from: keyed MACs over several parts (so content
//! is never concatenated into a fresh buffer), encodings, constant-time comparison, and the
//! timestamp window check.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::VerifyFailure;

/// MAC algorithms the schemes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn hmac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    macro_rules! run {
        ($d:ty) => {{
            let mut mac = <Hmac<$d>>::new_from_slice(key).expect("HMAC takes any key length");
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        Algorithm::Sha1 => run!(Sha1),
        Algorithm::Sha256 => run!(Sha256),
        Algorithm::Sha512 => run!(Sha512),
    }
}

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac(Algorithm::Sha256, key, parts)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes a presented hex signature; garbage decodes to nothing (and then matches nothing).
/// `decode_to_slice` is a plain loop, where `hex::decode`'s iterator chain cost about 1 % of the
/// server's CPU under Stripe-signed intake.
pub fn from_hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    let mut out = vec![0; s.len() / 2];
    match hex::decode_to_slice(s, &mut out) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

pub fn from_b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s.trim()).unwrap_or_default()
}

/// Constant-time equality of two MACs; different lengths are simply unequal (a MAC's length is
/// public: it is fixed by the algorithm).
pub fn mac_eq(expected: &[u8], presented: &[u8]) -> bool {
    !expected.is_empty() && expected.ct_eq(presented).into()
}

/// True when any of `expected` equals any of `presented`, checking every pair (no early exit).
pub fn any_mac_eq(expected: &[Vec<u8>], presented: &[Vec<u8>]) -> bool {
    let mut found = subtle::Choice::from(0);
    for e in expected {
        for p in presented {
            if !e.is_empty() && e.len() == p.len() {
                found |= e.as_slice().ct_eq(p.as_slice());
            }
        }
    }
    found.into()
}

/// Parses a decimal unix timestamp header and checks it lies within `tolerance` seconds of `now`
/// in either direction (a far-future timestamp is as suspicious as a stale one).
pub fn check_timestamp(header: &str, raw: &str, now: i64, tolerance: i64) -> Result<i64, VerifyFailure> {
    let ts: i64 = raw
        .trim()
        .parse()
        .map_err(|_| VerifyFailure::Malformed(header.to_string(), "the timestamp is not an integer".into()))?;
    check_window(ts, now, tolerance)?;
    Ok(ts)
}

/// How far `ts` lies behind `now` in seconds (negative: ahead). The arithmetic is checked: a
/// timestamp so far off that the difference does not fit is reported as the farthest skew, never
/// wrapped into a small one that would pass.
fn skew(ts: i64, now: i64) -> i64 {
    now.checked_sub(ts)
        .unwrap_or(if ts < now { i64::MAX } else { i64::MIN })
}

/// Only the past bound: Stripe's and HubSpot's own libraries accept timestamps ahead of the
/// clock, so verifying "exactly as the provider does" means doing the same for them.
pub fn check_not_stale(ts: i64, now: i64, tolerance: i64) -> Result<(), VerifyFailure> {
    let skew = skew(ts, now);
    if skew > tolerance {
        return Err(VerifyFailure::OutsideTolerance {
            skew_seconds: skew,
            tolerance_seconds: tolerance,
        });
    }
    Ok(())
}

pub fn check_window(ts: i64, now: i64, tolerance: i64) -> Result<(), VerifyFailure> {
    let skew = skew(ts, now);
    // `unsigned_abs` cannot overflow, unlike `abs` of i64::MIN.
    if skew.unsigned_abs() > tolerance.unsigned_abs() {
        return Err(VerifyFailure::OutsideTolerance {
            skew_seconds: skew,
            tolerance_seconds: tolerance,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_timestamps_never_wrap_into_the_window() {
        let now = 1_700_000_000;
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, -1, 0] {
            assert!(check_window(ts, now, 300).is_err(), "{ts}");
        }
        // The value that made `now - ts` wrap to i64::MIN (and `abs` stay negative) before.
        let ts = now.wrapping_sub(i64::MIN);
        assert!(check_window(ts, now, 300).is_err());
        for ts in [i64::MIN, i64::MIN + 1, now - i64::MAX] {
            assert!(check_not_stale(ts, now, 300).is_err(), "{ts}");
        }
        // Ahead of the clock is fine for the past-only check, however far.
        assert!(check_not_stale(i64::MAX, now, 300).is_ok());
        assert!(check_window(now + 10, now, 300).is_ok());
        assert!(check_window(now, now, i64::MAX).is_ok());
        assert!(check_timestamp("t", "99999999999999999999999", now, 300).is_err());
    }

    #[test]
    fn hex_signatures_decode_and_garbage_decodes_to_nothing() {
        assert_eq!(from_hex(" 00ffA1 "), [0x00, 0xff, 0xa1]);
        assert_eq!(from_hex(""), Vec::<u8>::new());
        for garbage in ["abc", "zz", "0g", "é0", "00 11"] {
            assert!(from_hex(garbage).is_empty(), "{garbage}");
        }
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn comparisons() {
        assert!(mac_eq(b"abc", b"abc"));
        assert!(!mac_eq(b"abc", b"abd"));
        assert!(!mac_eq(b"", b""));
        assert!(any_mac_eq(
            &[b"x".to_vec(), b"abc".to_vec()],
            &[b"zzz".to_vec(), b"abc".to_vec()]
        ));
        assert!(!any_mac_eq(&[b"abc".to_vec()], &[b"ab".to_vec()]));
    }

    #[test]
    fn timestamp_window_is_symmetric() {
        assert!(check_timestamp("t", "1000", 1300, 300).is_ok());
        assert!(check_timestamp("t", "1000", 1301, 300).is_err());
        assert!(check_timestamp("t", "1301", 1000, 300).is_err());
        assert!(matches!(
            check_timestamp("t", "soon", 1000, 300),
            Err(VerifyFailure::Malformed(..))
        ));
    }
}
