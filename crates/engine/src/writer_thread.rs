//! The thread the store's write turns are driven from. On SQLite every write waits for the one
//! writer connection, and between two writes the connection stays idle until the task that holds
//! it next is polled again: on the shared runtime that task queues behind thousands of request
//! tasks, and under load a third of the writer's time went to those gaps (docs/BENCHMARKS.md).
//! Tasks that take write turns — the intake writer, flow claims, run endings and delivery
//! results — run here instead, on a runtime of their own whose queue holds nothing else, so the
//! next turn starts as soon as the last one ends. Delivery claims stay on their caller: many
//! small claims each followed at once by sends, for which the extra hop between threads cost
//! more than it saved (forwarding −2…−6 % in three interleaved pairs).
//!
//! Invariant: only short store calls run here; anything that waits on the network or on jq
//! stays on the shared runtime, so no write turn waits behind it.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Owns the thread; dropping it stops the runtime (tasks still there are cancelled — the engine
/// drains the intake writer before that, see `Engine::shutdown`).
pub struct WriterThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
}

impl WriterThread {
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("store-writes".into()).spawn(move || {
            // Spawned tasks are driven while this waits; the runtime (and what is left on
            // it) is dropped on this thread once the owner is gone.
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(WriterThread {
            handle,
            stop: Some(stop),
        })
    }

    /// A cheap handle to spawn write turns with.
    pub fn writes(&self) -> Writes {
        Writes(self.handle.clone())
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Spawns onto the writer thread.
#[derive(Clone, Debug)]
pub struct Writes(Handle);

/// The writer thread stopped before the work finished (the engine is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the store's writer thread has stopped")]
pub struct WriterStopped;

impl Writes {
    /// Runs `work` on the writer thread and waits for it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, WriterStopped> {
        match self.0.spawn(work).await {
            Ok(done) => Ok(done),
            // A panic stays a panic, as if the work had run on the caller's task.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(WriterStopped),
        }
    }

    /// Starts a long-lived task (a writer loop) on the writer thread.
    pub fn spawn<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.0.spawn(task)
    }

    /// The shared runtime, for tests and callers that have no writer thread.
    pub fn current() -> Self {
        Writes(Handle::current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_on_its_own_thread_and_reports_a_stop() {
        let thread = WriterThread::start().expect("thread");
        let writes = thread.writes();
        let name = writes
            .run(async { std::thread::current().name().map(str::to_string) })
            .await
            .expect("ran");
        assert_eq!(name.as_deref(), Some("store-writes"));
        let pending = writes.spawn(std::future::pending::<()>());
        drop(thread);
        assert!(
            pending.await.is_err(),
            "a task left on the thread is cancelled when it stops"
        );
        assert!(writes.run(async { 1 }).await.is_err(), "work after the stop is refused");
    }

    #[tokio::test]
    #[should_panic(expected = "boom")]
    async fn a_panic_stays_a_panic() {
        let thread = WriterThread::start().expect("thread");
        let _ = thread.writes().run(async { panic!("boom") }).await;
    }
}
