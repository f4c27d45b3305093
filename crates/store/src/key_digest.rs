//! Both backends store a dedup key as 16 bytes of SHA-256 over its source id, a NUL and the key,
//! not as the two strings (a source id and, by default, a 71-character `sha256:` body hash).
//!
//! Why: real keys are random, so each new key lands on a random leaf of the key index, and the
//! index's size is what that costs — on SQLite the leaves a merge of recent keys copies into the
//! WAL, on PostgreSQL the full-page images of the leaves first touched after a checkpoint — and
//! what the page cache must hold for a lookup. An index entry of 16 bytes instead of ~100 puts
//! several times the keys on a leaf (docs/BENCHMARKS.md). PostgreSQL's migration 0008 computes
//! the same digest in SQL (`sha256`), and a test checks both agree. Two keys share a digest with probability
//! ~n²/2¹²⁹: nil for any real number of keys. Source ids hold no NUL, so `source NUL key` cannot
//! be split two ways.

use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct KeyDigest([u8; 16]);

impl KeyDigest {
    pub(crate) fn of(source_id: &str, key: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(source_id.as_bytes());
        hasher.update([0]);
        hasher.update(key.as_bytes());
        let full = hasher.finalize();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        KeyDigest(digest)
    }

    /// A digest read back from a column; `None` for a value of the wrong length.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(KeyDigest)
    }

    pub(crate) fn to_vec(self) -> Vec<u8> {
        self.0.to_vec()
    }

    /// Upper-case hex, as SQLite's `unhex` reads it.
    pub(crate) fn hex(self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
    }

    /// Two independent 64-bit halves (SHA-256 output), for the key filter's probes.
    pub(crate) fn halves(self) -> (u64, u64) {
        let (a, b) = self.0.split_at(8);
        let word = |s: &[u8]| s.iter().fold(0u64, |w, &x| (w << 8) | u64::from(x));
        (word(a), word(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_separate_sources_and_keys_and_read_back() {
        let d = KeyDigest::of("src_a", "k");
        assert_ne!(d, KeyDigest::of("src_b", "k"));
        assert_ne!(d, KeyDigest::of("src_a", "k2"));
        assert_ne!(KeyDigest::of("src_a", "bc"), KeyDigest::of("src_ab", "c"));
        assert_eq!(KeyDigest::from_slice(&d.to_vec()), Some(d));
        assert_eq!(KeyDigest::from_slice(b"short"), None);
        assert_eq!(d.hex().len(), 32);
    }
}
