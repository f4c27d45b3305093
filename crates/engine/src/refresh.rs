//! Periodic refresh of an in-memory view (the source and endpoint catalogs), so changes made by
//! other nodes reach this one. The task holds only a weak reference: it ends with the view.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn spawn_periodic<T, F, Fut, E>(
    target: &Arc<T>,
    every: Duration,
    what: &'static str,
    refresh: F,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    let weak = Arc::downgrade(target);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(target) = weak.upgrade() else { break };
            if let Err(e) = refresh(target).await {
                tracing::warn!(error = %e, "{what} refresh failed; keeping the previous definitions");
            }
        }
    })
}
