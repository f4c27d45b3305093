//! Alerts (SPEC §5): rules kept in `book.rs`, judged every round by `monitor.rs` against the
//! store (`evaluate.rs`, fed outcome counts by `health.rs`), and announced by notifications
//! that the job runner sends (`notify.rs`, worded by `message.rs`) with retries and an attempt
//! log.

mod book;
mod evaluate;
pub mod health;
mod message;
mod monitor;
mod notify;

use std::sync::Arc;
use std::time::Duration;

pub use book::{Alert, AlertBook, AlertError};
pub use health::{HealthTally, Outcome};
pub use notify::SmtpConfig;
use switchyard_store::Store;
use tokio::sync::watch;

use crate::jobs::{Lane, Worker};
use crate::outbound::OutboundClient;

/// Waits between a failed notification's tries (s); dead after the last.
pub const DEFAULT_RETRY_SCHEDULE: [u64; 5] = [5, 30, 120, 600, 1800];

/// How alerts run.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Where the dashboard is reached, for the links in notifications.
    pub public_url: String,
    pub smtp: Option<SmtpConfig>,
    /// How often rules are judged (and health counts stored).
    pub every: Duration,
    pub retry_schedule_seconds: Vec<u64>,
    /// Notifications sent at once by this node at most.
    pub max_in_flight: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            public_url: "http://127.0.0.1:8080".into(),
            smtp: None,
            every: Duration::from_secs(5),
            retry_schedule_seconds: DEFAULT_RETRY_SCHEDULE.to_vec(),
            max_in_flight: 8,
        }
    }
}

/// What the engine starts for alerts: the monitor's task and the notification worker.
pub(crate) fn start(
    cfg: AlertsConfig,
    store: Arc<dyn Store>,
    book: Arc<AlertBook>,
    health: Arc<HealthTally>,
    lane: Arc<Lane>,
    client: OutboundClient,
    shutdown: watch::Receiver<bool>,
) -> (tokio::task::JoinHandle<()>, Arc<dyn Worker>) {
    let monitor = monitor::Monitor {
        store: store.clone(),
        book: book.clone(),
        health,
        notifications: lane.clone(),
        public_url: cfg.public_url,
        every: cfg.every,
    }
    .spawn(shutdown);
    let worker = notify::NotificationWorker {
        lane: lane.clone(),
        sender: Arc::new(notify::Sender {
            lane,
            store,
            book,
            client,
            smtp: cfg.smtp,
            schedule: cfg.retry_schedule_seconds,
        }),
    };
    (monitor, Arc::new(worker))
}
