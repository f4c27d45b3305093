//! A lane: one job kind's share of this node — how many of its jobs may run at once, how many
//! do, and the wake-ups its claim loop waits on. A started job holds a [`Slot`]; dropping the
//! slot (the job's task ending, however it ends) gives the capacity back and wakes the loop,
//! so no path can leak capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_store::JobKind;
use tokio::sync::Notify;

use crate::writer_thread::Writes;

pub struct Lane {
    kind: JobKind,
    /// The lease owner written on claimed jobs: this node's identity, the same for every kind.
    owner: String,
    max_in_flight: usize,
    in_flight: AtomicUsize,
    /// New work (a local commit, a stored retry, another node's notification).
    wake: Notify,
    /// A job ended, so capacity came back.
    freed: Notify,
    /// Where this kind's claims and result writes run (see `writer_thread`).
    writes: Writes,
}

impl Lane {
    pub(super) fn new(kind: JobKind, owner: String, max_in_flight: usize, writes: Writes) -> Arc<Lane> {
        Arc::new(Lane {
            writes,
            kind,
            owner,
            max_in_flight: max_in_flight.max(1),
            in_flight: AtomicUsize::new(0),
            wake: Notify::new(),
            freed: Notify::new(),
        })
    }

    pub fn kind(&self) -> JobKind {
        self.kind
    }

    /// The writer thread: claims and result writes take their store turns there.
    pub fn writes(&self) -> &Writes {
        &self.writes
    }

    /// The lease owner this node writes on the jobs it claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How many more jobs may start now.
    pub fn free(&self) -> usize {
        self.max_in_flight.saturating_sub(self.in_flight())
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Takes capacity for one started job; it comes back when the slot is dropped.
    pub fn slot(self: &Arc<Self>) -> Slot {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Slot { lane: self.clone() }
    }

    /// Asks the claim loop to look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(super) async fn woken(&self) {
        self.wake.notified().await
    }

    pub(super) async fn freed(&self) {
        self.freed.notified().await
    }
}

/// One running job's capacity in its lane.
pub struct Slot {
    lane: Arc<Lane>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.lane.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.lane.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_holds_capacity_until_its_job_ends_even_by_panicking() {
        let lane = Lane::new(JobKind::Delivery, "node_test".into(), 2, Writes::current());
        let first = lane.slot();
        let second = lane.slot();
        assert_eq!(
            (lane.in_flight(), lane.free()),
            (2, 0),
            "a full lane has nothing to claim for"
        );
        drop(first);
        assert_eq!(lane.free(), 1);
        let crashed = tokio::spawn(async move {
            let _slot = second;
            panic!("a job that panics");
        });
        assert!(crashed.await.is_err());
        assert_eq!(
            (lane.in_flight(), lane.free()),
            (0, 2),
            "the panicking job gave its slot back"
        );
        // The loop waiting for capacity is woken by the slot's release.
        let waiting = lane.slot();
        let freed = tokio::spawn({
            let lane = lane.clone();
            async move { lane.freed().await }
        });
        tokio::task::yield_now().await;
        drop(waiting);
        freed.await.unwrap();
        assert_eq!(lane.owner(), "node_test");
    }
}
