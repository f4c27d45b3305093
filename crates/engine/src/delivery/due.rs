//! Which endpoints this node believes have deliveries due, and since when: filled by hints (a
//! local publish, a stored retry, discovery) and emptied by claims that found nothing more.
//!
//! Invariant: a hint is never lost to a claim that started before it. A claim reads the
//! endpoints, asks the store, and on a short answer forgets the endpoint — but a publish that
//! committed after the store's read hinted meanwhile, and forgetting that hint left its
//! deliveries waiting for the next discovery (0.5–1 s; seen as an end-of-burst tail on
//! PostgreSQL). Each hint is therefore numbered, and a claim forgets only the hint it read.

use std::collections::HashMap;

#[derive(Default)]
pub(super) struct DueEndpoints {
    due: HashMap<String, Due>,
    /// The number the next hint gets.
    next_hint: u64,
}

struct Due {
    /// The earliest due time hinted (µs).
    at: i64,
    /// The latest hint's number.
    hint: u64,
}

/// An endpoint to claim for, as read before the claim.
pub(super) struct Candidate {
    pub endpoint: String,
    at: i64,
    hint: u64,
}

impl DueEndpoints {
    /// Records that `endpoint` has deliveries due at `at` (the earlier time wins).
    pub fn hint(&mut self, endpoint: &str, at: i64) {
        let hint = self.next_hint;
        self.next_hint += 1;
        match self.due.get_mut(endpoint) {
            Some(d) => {
                d.at = d.at.min(at);
                d.hint = hint;
            }
            None => {
                self.due.insert(endpoint.to_string(), Due { at, hint });
            }
        }
    }

    /// The endpoints due by `now`, the longest due first.
    pub fn candidates(&self, now: i64) -> Vec<Candidate> {
        let mut found: Vec<Candidate> = self
            .due
            .iter()
            .filter(|(_, d)| d.at <= now)
            .map(|(endpoint, d)| Candidate {
                endpoint: endpoint.clone(),
                at: d.at,
                hint: d.hint,
            })
            .collect();
        found.sort_by_key(|c| c.at);
        found
    }

    /// The earliest hinted time after `now`, if any.
    pub fn next_after(&self, now: i64) -> Option<i64> {
        self.due.values().map(|d| d.at).filter(|t| *t > now).min()
    }

    /// A claim for `candidate` found nothing more due: forget the endpoint, unless it was
    /// hinted again since the candidate was read.
    pub fn claimed_all(&mut self, candidate: &Candidate) {
        if self
            .due
            .get(&candidate.endpoint)
            .is_some_and(|d| d.hint == candidate.hint)
        {
            self.due.remove(&candidate.endpoint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_during_a_claim_survives_it() {
        let mut due = DueEndpoints::default();
        due.hint("ep_a", 10);
        let read = due.candidates(20);
        assert_eq!(read.len(), 1);
        // A publish commits and hints while the claim asks the store.
        due.hint("ep_a", 15);
        due.claimed_all(&read[0]);
        let again = due.candidates(20);
        assert_eq!(again.len(), 1, "the later hint is kept");
        assert_eq!(again[0].endpoint, "ep_a");
        assert_eq!(again[0].at, 10, "the earlier due time still wins");
        due.claimed_all(&again[0]);
        assert!(
            due.candidates(i64::MAX).is_empty(),
            "forgotten once nothing came in between"
        );
    }

    #[test]
    fn candidates_come_longest_due_first_and_future_ones_wait() {
        let mut due = DueEndpoints::default();
        due.hint("late", 30);
        due.hint("early", 5);
        due.hint("future", 100);
        let read: Vec<_> = due.candidates(50).into_iter().map(|c| c.endpoint).collect();
        assert_eq!(read, ["early", "late"]);
        assert_eq!(due.next_after(50), Some(100));
        assert_eq!(due.next_after(100), None);
    }
}
