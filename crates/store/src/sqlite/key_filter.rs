//! A Bloom filter over the keys of SQLite's `dedup_digests`, so that intake skips the tree read for
//! a key the table cannot hold.
//!
//! Why: real keys are random, so the read of a new key is a random descent of a tree larger than
//! the writer's page cache, and it costs the batch a second trip to SQLite's worker thread. Most
//! keys are new; the filter answers "certainly not held" for them from memory, and only the keys
//! it cannot rule out (duplicates and ~0.05 % false positives) are read (docs/BENCHMARKS.md).
//!
//! Invariant: **no false negatives.** Every key in `dedup_digests` is in the live filter: the filter
//! is built from a scan of the table taken after it began recording, and every key a merge adds
//! is recorded (before the merge's commit, so a key is never in the table but not in the filter).
//! Keys the sweep deletes leave stale bits, which only cost lookups; the sweep rebuilds the filter
//! when it removed any. Until the first build has finished there is no live filter and every key
//! is read, as before.

use crate::key_digest::KeyDigest;

/// Bits per key: 16 bits and [`PROBES`] probes give ~0.05 % false positives per segment. Rare
/// matters: one false positive among a batch's keys costs the whole batch the read's trip to
/// SQLite's thread, and at 1 % half of all 64-key batches paid it.
const BITS_PER_KEY: usize = 16;
const PROBES: u64 = 11;
/// The smallest segment: 256 Ki keys (512 KiB). Small, so an idle process holds little.
const MIN_KEYS: usize = 1 << 18;

/// One fixed-size Bloom filter.
struct Segment {
    bits: Vec<u64>,
    nbits: u64,
    capacity: usize,
    len: usize,
}

impl Segment {
    fn new(capacity: usize) -> Self {
        let words = (capacity * BITS_PER_KEY).div_ceil(64).max(1);
        Segment {
            bits: vec![0; words],
            nbits: words as u64 * 64,
            capacity,
            len: 0,
        }
    }

    /// The probe positions of a digest (Kirsch–Mitzenmacher double hashing over its two halves,
    /// which are SHA-256 output): word index and mask.
    fn probes(nbits: u64, d: KeyDigest) -> impl Iterator<Item = (usize, u64)> {
        let (h, h2) = d.halves();
        let h2 = h2 | 1;
        (0..PROBES).map(move |i| {
            let bit = h.wrapping_add(i.wrapping_mul(h2)) % nbits;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&mut self, h: KeyDigest) {
        for (word, mask) in Self::probes(self.nbits, h) {
            self.bits[word] |= mask;
        }
        self.len += 1;
    }

    fn contains(&self, h: KeyDigest) -> bool {
        Self::probes(self.nbits, h).all(|(word, mask)| self.bits[word] & mask != 0)
    }
}

/// A filter that grows by adding segments of twice the size when the last one is full, so it
/// stays accurate however many keys arrive between rebuilds; memory is ~2 bytes per key.
struct Scalable {
    segments: Vec<Segment>,
}

impl Scalable {
    fn with_capacity(keys: usize) -> Self {
        Scalable {
            segments: vec![Segment::new(keys.max(MIN_KEYS))],
        }
    }

    fn insert(&mut self, h: KeyDigest) {
        let full = self.segments.last().is_none_or(|s| s.len >= s.capacity);
        if full {
            let next = self.segments.last().map_or(MIN_KEYS, |s| s.capacity * 2);
            self.segments.push(Segment::new(next));
        }
        if let Some(last) = self.segments.last_mut() {
            last.insert(h);
        }
    }

    fn contains(&self, h: KeyDigest) -> bool {
        self.segments.iter().any(|s| s.contains(h))
    }

    fn len(&self) -> usize {
        self.segments.iter().map(|s| s.len).sum()
    }
}

/// The live filter, and the keys recorded while a rebuild scans the table.
#[derive(Default)]
pub(crate) struct KeyFilter {
    live: Option<Scalable>,
    /// `Some` while a rebuild runs: keys merged since it began, which its scan may not see.
    recorded: Option<Vec<KeyDigest>>,
}

impl KeyFilter {
    /// False only when `dedup_digests` certainly does not hold the key.
    pub(crate) fn may_hold(&self, d: KeyDigest) -> bool {
        self.live.as_ref().is_none_or(|f| f.contains(d))
    }

    /// Records a key about to enter `dedup_digests` (called before the merge commits).
    pub(crate) fn add(&mut self, h: KeyDigest) {
        if let Some(f) = &mut self.live {
            f.insert(h);
        }
        if let Some(r) = &mut self.recorded {
            r.push(h);
        }
    }

    /// Starts a rebuild: from now on merged keys are recorded. The scan must start after this.
    /// Returns false when a rebuild is already running.
    pub(crate) fn begin_rebuild(&mut self) -> bool {
        if self.recorded.is_some() {
            return false;
        }
        self.recorded = Some(Vec::new());
        true
    }

    /// Ends a rebuild with the keys its scan read: they and the recorded ones become the live
    /// filter.
    pub(crate) fn finish_rebuild(&mut self, scanned: Vec<KeyDigest>) {
        let recorded = self.recorded.take().unwrap_or_default();
        let mut f = Scalable::with_capacity((scanned.len() + recorded.len()) * 5 / 4);
        for h in scanned.into_iter().chain(recorded) {
            f.insert(h);
        }
        self.live = Some(f);
    }

    /// Abandons a rebuild whose scan failed; the old filter (or none) stays live.
    pub(crate) fn abandon_rebuild(&mut self) {
        self.recorded = None;
    }

    /// Whether a sweep that removed `removed` keys should rebuild the filter: when there is none
    /// yet, or when a quarter of what it holds is gone. Fewer stale bits only cost a few more
    /// reads, and a rebuild scans the whole table.
    pub(crate) fn worth_rebuilding_after(&self, removed: u64) -> bool {
        self.live
            .as_ref()
            .is_none_or(|f| removed.saturating_mul(4) >= f.len() as u64 && removed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(key: &str) -> KeyDigest {
        KeyDigest::of("src", key)
    }

    fn built(keys: impl Iterator<Item = String>) -> KeyFilter {
        let mut f = KeyFilter::default();
        assert!(f.begin_rebuild());
        f.finish_rebuild(keys.map(|k| d(&k)).collect());
        f
    }

    #[test]
    fn without_a_build_every_key_may_be_held() {
        let f = KeyFilter::default();
        assert!(f.may_hold(d("anything")));
        assert!(f.worth_rebuilding_after(0), "no filter yet: build one");
    }

    #[test]
    fn no_false_negatives_and_few_false_positives_as_it_grows() {
        let mut f = built((0..1000).map(|i| format!("scanned-{i}")));
        // Far past the first segment's capacity: the filter grows instead of filling up.
        for i in 0..600_000 {
            f.add(d(&format!("merged-{i}")));
        }
        assert!((0..1000).all(|i| f.may_hold(d(&format!("scanned-{i}")))));
        assert!((0..600_000).all(|i| f.may_hold(d(&format!("merged-{i}")))));
        let false_positives = (0..100_000).filter(|i| f.may_hold(d(&format!("new-{i}")))).count();
        assert!(false_positives < 300, "{false_positives} false positives in 100,000");
    }

    #[test]
    fn keys_merged_during_a_rebuild_are_kept_by_it() {
        let mut f = built(std::iter::empty());
        assert!(f.begin_rebuild());
        assert!(!f.begin_rebuild(), "one rebuild at a time");
        // Merged while the scan runs (the scan may or may not see it).
        f.add(d("during"));
        let scanned = vec![d("before")];
        f.finish_rebuild(scanned);
        assert!(f.may_hold(d("during")));
        assert!(f.may_hold(d("before")));
        assert!(
            !f.worth_rebuilding_after(0) && f.worth_rebuilding_after(1),
            "a quarter of two keys is gone"
        );
        assert!(f.begin_rebuild(), "the next rebuild may start");
        f.abandon_rebuild();
        assert!(f.may_hold(d("during")), "an abandoned rebuild keeps the live filter");
    }
}
