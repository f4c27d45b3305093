//! Refusals are unauthenticated: anyone can post to `/in/<any name>` or send a bad signature to a
//! real source. Storing a receipt (and logging a line) for each would let a stranger fill the disk,
//! so refusals are counted per minute window and key, and only the first few of each key are
//! recorded one by one; the rest become one summary receipt when the window ends.
//!
//! Keys are bounded by configuration, never by what a stranger sends: a known source × status
//! code, plus one key for every unknown name together (the names themselves are chosen by the
//! sender). Storage per node is therefore at most `(sources × statuses × PER_SOURCE) + PER_UNKNOWN`
//! receipts plus one summary per key, per minute — whatever the request rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchyard_core::time::Clock;

/// Length of a counting window.
pub const WINDOW_MICROS: i64 = 60_000_000;
/// Refusals of one known source and status recorded one by one per window.
pub const PER_SOURCE: u32 = 20;
/// Refusals for unknown source names recorded one by one per window, all names together.
pub const PER_UNKNOWN: u32 = 5;
/// The receipt name under which unknown-name summaries are stored (not a valid source name).
pub const UNKNOWN_NAME: &str = "(unknown)";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Known { source_id: String, status: u16 },
    Unknown,
}

#[derive(Debug)]
struct Tally {
    recorded: u32,
    suppressed: u64,
    source_name: String,
    source_id: Option<String>,
    status: u16,
    outcome: String,
}

/// A finished window's count of refusals that were not recorded one by one.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub source_name: String,
    pub source_id: Option<String>,
    pub status: u16,
    pub outcome: String,
    pub suppressed: u64,
    pub window_start: i64,
    pub window_end: i64,
}

/// Whether this refusal gets its own receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Record,
    Count,
}

struct State {
    started: i64,
    tallies: HashMap<Key, Tally>,
}

pub struct RefusalWindow {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl RefusalWindow {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let started = clock.now_micros();
        RefusalWindow {
            clock,
            state: Mutex::new(State {
                started,
                tallies: HashMap::new(),
            }),
        }
    }

    /// Counts one refusal; `source_id` is `None` for a name no source has. Returns whether it
    /// gets its own receipt, and the summaries of a window that ended before it.
    pub fn admit(
        &self,
        source_name: &str,
        source_id: Option<&str>,
        status: u16,
        outcome: &str,
    ) -> (Verdict, Vec<Summary>) {
        let now = self.clock.now_micros();
        // A poisoned lock only means a panic elsewhere mid-update of counters: keep counting.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let finished = roll(&mut st, now, false);
        let (key, cap) = match source_id {
            Some(id) => (
                Key::Known {
                    source_id: id.to_string(),
                    status,
                },
                PER_SOURCE,
            ),
            None => (Key::Unknown, PER_UNKNOWN),
        };
        let tally = st.tallies.entry(key).or_insert_with(|| Tally {
            recorded: 0,
            suppressed: 0,
            source_name: if source_id.is_some() {
                source_name.to_string()
            } else {
                UNKNOWN_NAME.to_string()
            },
            source_id: source_id.map(str::to_string),
            status,
            outcome: outcome.to_string(),
        });
        let verdict = if tally.recorded < cap {
            tally.recorded += 1;
            Verdict::Record
        } else {
            tally.suppressed = tally.suppressed.saturating_add(1);
            Verdict::Count
        };
        (verdict, finished)
    }

    /// Summaries of the current window if it has ended (`force`: end it now, e.g. at shutdown).
    pub fn flush(&self, force: bool) -> Vec<Summary> {
        let now = self.clock.now_micros();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        roll(&mut st, now, force)
    }
}

/// Ends the window when its time is up (or when forced) and returns what it suppressed.
fn roll(st: &mut State, now: i64, force: bool) -> Vec<Summary> {
    if !force && now < st.started.saturating_add(WINDOW_MICROS) {
        return Vec::new();
    }
    let (start, end) = (st.started, now);
    st.started = now;
    st.tallies
        .drain()
        .filter(|(_, t)| t.suppressed > 0)
        .map(|(_, t)| Summary {
            source_name: t.source_name,
            source_id: t.source_id,
            status: t.status,
            outcome: t.outcome,
            suppressed: t.suppressed,
            window_start: start,
            window_end: end,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::time::ManualClock;

    #[test]
    fn a_flood_is_recorded_a_few_times_then_summarised_per_window() {
        let clock = ManualClock::at(1_000_000);
        let w = RefusalWindow::new(Arc::new(clock.clone()));
        let mut recorded = 0;
        for i in 0..10_000 {
            let name = format!("random-{i}");
            let (v, done) = w.admit(&name, None, 404, "rejected");
            assert!(done.is_empty());
            recorded += usize::from(v == Verdict::Record);
        }
        assert_eq!(recorded, PER_UNKNOWN as usize, "every unknown name shares one key");
        // A real source's refusals have their own allowance, per status.
        for _ in 0..100 {
            w.admit("stripe", Some("src_1"), 401, "rejected");
        }
        assert_eq!(w.admit("stripe", Some("src_1"), 413, "rejected").0, Verdict::Record);
        assert!(w.flush(false).is_empty(), "the window has not ended");
        clock.advance(std::time::Duration::from_secs(60));
        let mut done = w.flush(false);
        done.sort_by_key(|s| s.status);
        assert_eq!(done.len(), 2);
        assert_eq!((done[0].status, done[0].suppressed), (401, 100 - u64::from(PER_SOURCE)));
        assert_eq!(
            (done[1].source_name.as_str(), done[1].suppressed),
            (UNKNOWN_NAME, 10_000 - u64::from(PER_UNKNOWN))
        );
        // A new window starts with a fresh allowance.
        assert_eq!(w.admit("x", None, 404, "rejected").0, Verdict::Record);
        assert!(w.flush(true).is_empty(), "nothing was suppressed in it");
    }
}
