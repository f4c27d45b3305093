//! Group commit. Every intake write goes through one writer task that drains whatever requests
//! are waiting and commits them in a single transaction, then answers each. While one commit's
//! fsync is in flight the next batch accumulates, so durability costs one fsync per batch rather
//! than per request. Invariant: a caller of [`IntakeWriter::commit`] hears `Ok` only after the
//! transaction holding its write has committed.

use std::sync::Arc;

use switchyard_store::{IntakeOutcome, IntakeWrite, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::writer_thread::Writes;

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommit {
    /// Off: one transaction per request (kept to measure what batching buys).
    pub enabled: bool,
    /// Upper bound on writes per transaction.
    pub max_batch: usize,
    /// Requests that may wait for the writer before callers are slowed down.
    pub queue: usize,
    /// Quiet time after a batch before the store is asked to give back burst memory.
    pub idle_after: std::time::Duration,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            enabled: true,
            max_batch: 2000,
            queue: 20_000,
            idle_after: std::time::Duration::from_secs(5),
        }
    }
}

/// Why a commit did not happen; cloneable because one failure answers a whole batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Failed(String),
    #[error("the intake writer has stopped")]
    Stopped,
}

impl From<&StoreError> for CommitError {
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => CommitError::Unavailable(m.clone()),
            other => CommitError::Failed(other.to_string()),
        }
    }
}

struct Pending {
    write: IntakeWrite,
    done: Option<oneshot::Sender<Result<IntakeOutcome, CommitError>>>,
}

/// Handle to the writer task; cheap to clone. The task ends once every handle is dropped and
/// the queue is drained.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Pending>,
}

/// Stops the writer even while request handlers still hold [`IntakeWriter`]s (connections that
/// outlived the shutdown grace period): what is queued is committed and answered, later commits
/// get [`CommitError::Stopped`].
pub struct WriterCloser(tokio::sync::watch::Sender<bool>);

impl WriterCloser {
    pub fn close(&self) {
        let _ = self.0.send(true);
    }
}

impl IntakeWriter {
    /// Starts the writer task on `writes` (the writer thread, so a batch's commit follows the
    /// last without waiting for the shared runtime).
    pub fn spawn(store: Arc<dyn Store>, cfg: GroupCommit, writes: &Writes) -> (Self, WriterCloser, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let (close_tx, close_rx) = tokio::sync::watch::channel(false);
        let task = writes.spawn(run(store, cfg, rx, close_rx));
        (IntakeWriter { tx }, WriterCloser(close_tx), task)
    }

    /// Stores `write` and returns once it is durable, with what became of it.
    pub async fn commit(&self, write: IntakeWrite) -> Result<IntakeOutcome, CommitError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending {
                write,
                done: Some(done),
            })
            .await
            .map_err(|_| CommitError::Stopped)?;
        wait.await.unwrap_or(Err(CommitError::Stopped))
    }

    /// Queues a write nobody waits for (the receipt of a rejected request). Dropped with a warning
    /// when the queue is full: a flood of bad requests must not slow down good ones.
    pub fn record(&self, write: IntakeWrite) {
        if let Err(e) = self.tx.try_send(Pending { write, done: None }) {
            tracing::warn!(error = %e, "receipt of a rejected request dropped: intake queue full");
        }
    }
}

/// Resolves once close was asked for; never if the closer was dropped without asking.
async fn closed_signal(closed: &mut tokio::sync::watch::Receiver<bool>) {
    if closed.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run(
    store: Arc<dyn Store>,
    cfg: GroupCommit,
    mut rx: mpsc::Receiver<Pending>,
    mut closed: tokio::sync::watch::Receiver<bool>,
) {
    let max = if cfg.enabled { cfg.max_batch.max(1) } else { 1 };
    let mut batch: Vec<Pending> = Vec::with_capacity(max);
    let mut writes: Vec<IntakeWrite> = Vec::with_capacity(max);
    // Whether a batch was committed since the store last released what it holds for bursts.
    let mut busy = false;
    loop {
        let first = tokio::select! {
            biased;
            next = rx.recv() => next,
            () = tokio::time::sleep(cfg.idle_after), if busy => {
                busy = false;
                if let Err(e) = store.release_idle().await {
                    tracing::warn!(error = %e, "releasing idle intake memory failed; retried after the next burst");
                }
                // Buffers sized for the burst go too.
                batch = Vec::new();
                writes = Vec::new();
                continue;
            }
            () = closed_signal(&mut closed) => {
                // Commit what is already queued, then refuse the rest.
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut waiters = Vec::with_capacity(batch.len());
        for p in batch.drain(..) {
            writes.push(p.write);
            waiters.push(p.done);
        }
        let started = std::time::Instant::now();
        busy = true;
        let outcomes = store.commit_intake(&writes).await.map_err(|e| {
            tracing::error!(error = %e, batch = writes.len(), "intake commit failed");
            CommitError::from(&e)
        });
        tracing::trace!(
            batch = writes.len(),
            micros = started.elapsed().as_micros() as u64,
            "intake batch committed"
        );
        writes.clear();
        for (i, done) in waiters.into_iter().enumerate() {
            // The requester may have gone away (client disconnected); nothing to tell then.
            if let Some(done) = done {
                let answer = match &outcomes {
                    Ok(all) => all
                        .get(i)
                        .cloned()
                        .ok_or_else(|| CommitError::Failed("the store lost a write's outcome".into())),
                    Err(e) => Err(e.clone()),
                };
                let _ = done.send(answer);
            }
        }
    }
    tracing::debug!("intake writer drained and stopped");
}
