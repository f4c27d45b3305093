//! The claim loop every job kind runs, and what the kinds share. Invariants:
//! - a job is started only with a [`Slot`](super::Slot) of its lane, so a lane never runs more
//!   than its capacity, and a full lane waits for a slot instead of asking the store;
//! - every kind's lease owner is this node's one identity, so a node's claims are recognised
//!   across kinds (and a dead node's leases all expire together);
//! - at shutdown a lane stops claiming, waits for its jobs up to [`DRAIN_FOR`], then lets its
//!   worker write what it buffered; a job still running then is recovered when its lease expires.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{JobKind, Signal, Store};
use tokio::sync::watch;

use super::Lane;
use crate::writer_thread::Writes;

/// The longest a lane sleeps without a wake-up; workers usually ask for sooner.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How long a stopping lane waits for its jobs in flight.
const DRAIN_FOR: Duration = Duration::from_secs(30);
/// A round that claimed at least this many jobs (a batch that was not full) means the node is
/// busy: the next round waits until [`COALESCE`] has passed since it, so the jobs that arrive
/// or end meanwhile share one claim — fewer claim transactions on SQLite's one writer, which
/// intake commits and run endings also need (three-step flow on SQLite +8–20 % runs/s; the
/// same for deliveries once a claim no longer lost the hints of publishes committed during it,
/// docs/BENCHMARKS.md). A quiet node's rounds claim fewer, and its next claim is not delayed.
/// Run endings coalesce by the same measure (`flows/finisher.rs`). 10 ms against 5 ms: +2–8 %
/// flow runs/s on SQLite, +4–9 % PostgreSQL bursts, +4–5 % forwarding (each SQLite commit
/// rewrites the hot pages it touches into the WAL, ~40 a commit); the price is ~3 ms more median
/// latency once busy (steady 1,000 runs/s: p99 10.9 → 16.6 ms, the target being 50). 20 ms lost
/// to 10 ms again.
pub(crate) const BUSY_ROUND: usize = 8;
pub(crate) const COALESCE: Duration = Duration::from_millis(10);

/// What one claim told the loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Round {
    /// More may be claimable at once (the batch came back full): claim again without waiting.
    pub again: bool,
    /// When the worker next expects work to fall due (µs); the loop sleeps until then at most.
    pub wake_at: Option<i64>,
    /// Jobs this round started (0 for a worker that does not count them: never coalesced).
    pub claimed: usize,
}

/// One job kind, as the runner drives it.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    fn lane(&self) -> &Arc<Lane>;

    /// Claims due jobs for at most the lane's free capacity and starts each on its own task,
    /// holding a slot of the lane. A failure is the worker's to log; the loop claims again at
    /// its next wake-up.
    async fn claim(&self) -> Round;

    /// A notification from another node (PostgreSQL `LISTEN`); the worker wakes its lane when
    /// it concerns its kind.
    async fn signal(&self, signal: &Signal);

    /// Called once the lane stopped claiming and its jobs ended: write what is buffered.
    async fn drained(&self) {}
}

/// Something besides the job kinds that follows the cluster's notifications (the API-key
/// memory), so the node keeps one subscription.
pub trait Follower: Send + Sync + 'static {
    fn signal(&self, signal: &Signal);
}

/// The runner: this node's lease identity and its lanes.
pub struct JobRunner {
    store: Arc<dyn Store>,
    owner: String,
    followers: Vec<Arc<dyn Follower>>,
    writes: Writes,
}

impl JobRunner {
    /// Lanes claim and write their results on `writes` (the writer thread).
    pub fn new(store: Arc<dyn Store>, writes: Writes) -> JobRunner {
        JobRunner {
            store,
            writes,
            owner: new_id(IdKind::Request).replacen("req_", "node_", 1),
            followers: Vec::new(),
        }
    }

    /// `follower` hears every notification the workers hear, from [`Self::start`] on.
    pub fn follow(&mut self, follower: Arc<dyn Follower>) {
        self.followers.push(follower);
    }

    /// A lane for one kind with this node's identity; its worker is handed to [`Self::start`].
    pub fn lane(&self, kind: JobKind, max_in_flight: usize) -> Arc<Lane> {
        Lane::new(kind, self.owner.clone(), max_in_flight, self.writes.clone())
    }

    /// Runs one claim loop per worker until `shutdown` turns true; the handle ends once every
    /// lane drained.
    pub fn start(self, workers: Vec<Arc<dyn Worker>>, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let relay = tokio::spawn(relay_signals(self.store.clone(), workers.clone(), self.followers));
        let lanes: Vec<_> = workers
            .into_iter()
            .map(|w| tokio::spawn(claim_loop(w, shutdown.clone())))
            .collect();
        tokio::spawn(async move {
            for lane in lanes {
                let _ = lane.await;
            }
            relay.abort();
        })
    }
}

async fn claim_loop(worker: Arc<dyn Worker>, mut shutdown: watch::Receiver<bool>) {
    let lane = worker.lane().clone();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // A full lane has nothing to claim for; it waits for a slot to come back.
        let round = if lane.free() > 0 {
            worker.claim().await
        } else {
            Round::default()
        };
        if round.again && lane.free() > 0 {
            continue;
        }
        let settle_until = (round.claimed >= BUSY_ROUND).then(|| tokio::time::Instant::now() + COALESCE);
        let wait = round
            .wake_at
            .map(|at| Duration::from_micros((at - now_micros()).max(0) as u64))
            .unwrap_or(MAX_IDLE)
            .min(MAX_IDLE);
        tokio::select! {
            _ = lane.woken() => {}
            _ = lane.freed() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
        if let Some(at) = settle_until {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    let deadline = tokio::time::Instant::now() + DRAIN_FOR;
    while lane.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        // `freed` is notified as each job ends; the timeout covers one that raced this check.
        let _ = tokio::time::timeout(Duration::from_millis(50), lane.freed()).await;
    }
    if lane.in_flight() > 0 {
        tracing::warn!(
            kind = lane.kind().as_str(),
            jobs = lane.in_flight(),
            "jobs still running at shutdown; their leases will expire and another node takes them"
        );
    }
    worker.drained().await;
}

/// The cluster's notifications (one subscription per node), relayed to every worker.
async fn relay_signals(store: Arc<dyn Store>, workers: Vec<Arc<dyn Worker>>, followers: Vec<Arc<dyn Follower>>) {
    let mut rx = match store.subscribe_deliveries().await {
        Ok(Some(rx)) => rx,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe to job notifications; polling only");
            return;
        }
    };
    while let Some(signal) = rx.recv().await {
        for follower in &followers {
            follower.signal(&signal);
        }
        for worker in &workers {
            worker.signal(&signal).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;

    /// Claims nothing real: records when it was asked and reports `per_round` jobs started.
    struct Counting {
        lane: Arc<Lane>,
        per_round: usize,
        asked: Mutex<Vec<Instant>>,
    }

    #[async_trait::async_trait]
    impl Worker for Counting {
        fn lane(&self) -> &Arc<Lane> {
            &self.lane
        }

        async fn claim(&self) -> Round {
            self.asked.lock().unwrap().push(Instant::now());
            Round {
                claimed: self.per_round,
                ..Round::default()
            }
        }

        async fn signal(&self, _: &Signal) {}
    }

    /// Woken every millisecond for eight `COALESCE` periods: the claims it made.
    async fn claims_when_woken_often(per_round: usize) -> Vec<Instant> {
        let worker = Arc::new(Counting {
            lane: Lane::new(JobKind::Run, "node_test".into(), 16, Writes::current()),
            per_round,
            asked: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(claim_loop(worker.clone(), stopped));
        for _ in 0..8 * COALESCE.as_millis() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            worker.lane.wake();
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        worker.asked.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn busy_rounds_coalesce_and_quiet_rounds_claim_at_once() {
        let busy = claims_when_woken_often(BUSY_ROUND).await;
        assert!(busy.len() >= 5, "a busy lane still claims: {}", busy.len());
        assert!(
            busy.windows(2).all(|w| w[1] - w[0] >= COALESCE),
            "busy rounds are at least COALESCE apart"
        );
        let quiet = claims_when_woken_often(BUSY_ROUND - 1).await;
        assert!(quiet.len() >= 30, "each wake-up claims at once: {}", quiet.len());
    }
}
