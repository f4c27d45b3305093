//! Group commit for run endings. Runs that end at about the same time on this node share one
//! transaction (`FlowStore::finish_runs`), so a run's end — with the records of the steps that
//! only computed — costs a fraction of a commit instead of one each, the way intake batches
//! events. A run's caller waits for its own answer: nothing is reported ended before it is
//! stored.

use std::sync::Arc;

use switchyard_store::{FinishRun, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::jobs::{BUSY_ROUND, COALESCE};
use crate::writer_thread::Writes;

/// Most run endings in one transaction.
const BATCH: usize = 256;

type Reply = oneshot::Sender<Result<bool, StoreError>>;

#[derive(Clone)]
pub(crate) struct Finisher {
    tx: mpsc::Sender<(FinishRun, Reply)>,
}

impl Finisher {
    /// Starts the writer task for `owner`'s runs; it stops when the last handle is dropped.
    /// The task runs on `writes`, the writer thread, like the intake writer it takes turns with.
    pub(crate) fn start(store: Arc<dyn Store>, owner: String, writes: &Writes) -> Self {
        let (tx, mut rx) = mpsc::channel::<(FinishRun, Reply)>(BATCH * 4);
        writes.spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let began = tokio::time::Instant::now();
                // As busy claim rounds do (`jobs::BUSY_ROUND`): after a transaction that ended
                // many runs, the next waits until `COALESCE` has passed since it began, so the
                // endings arriving meanwhile share it — on SQLite each transaction is a turn of
                // the one writer that intake commits wait for. A quiet node's are not delayed.
                let busy = batch.len() >= BUSY_ROUND;
                let (runs, replies): (Vec<FinishRun>, Vec<Reply>) = std::mem::take(&mut batch).into_iter().unzip();
                match store.finish_runs(&owner, &runs).await {
                    Ok(done) => {
                        for (reply, ok) in replies.into_iter().zip(done) {
                            let _ = reply.send(Ok(ok));
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                        }
                    }
                }
                if busy {
                    tokio::time::sleep_until(began + COALESCE).await;
                }
            }
        });
        Finisher { tx }
    }

    /// Ends one run (see [`switchyard_store::FlowStore::finish_runs`]).
    pub(crate) async fn finish(&self, run: FinishRun) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the run finisher stopped".into());
        self.tx.send((run, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
