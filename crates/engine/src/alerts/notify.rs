//! Sending notifications: the job runner's third kind. A notification is claimed with a lease
//! like a delivery, sent through its rule's channel, and every try is recorded; a failed try is
//! retried on [`AlertsConfig::retry_schedule_seconds`](super::AlertsConfig) and the
//! notification is dead after the last. Webhook and Slack go through the outbound client (its
//! SSRF guard and timeouts); mail goes to the configured SMTP server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use switchyard_core::alert::AlertChannel;
use switchyard_core::time::now_micros;
use switchyard_store::{ClaimedNotification, NotificationAttemptRow, NotificationResult, Signal, Store};

use super::AlertBook;
use super::message;
use crate::jobs::{Lane, Round, Worker};
use crate::outbound::OutboundClient;

/// How long a claimed notification is held: a send is bounded by the client's timeout.
const LEASE: Duration = Duration::from_secs(60);
/// Claimed at once at most.
const CLAIM_BATCH: i64 = 16;
/// How long an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where mail goes: `smtp://host:port` (no TLS), `smtp://host:port?tls=required` (STARTTLS)
/// or `smtps://host:port`, with optional `user:password@`.
#[derive(Clone)]
pub struct SmtpConfig {
    pub url: String,
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

pub(super) struct NotificationWorker {
    pub lane: Arc<Lane>,
    pub sender: Arc<Sender>,
}

/// What sending needs; shared by the worker's tasks.
pub(super) struct Sender {
    pub lane: Arc<Lane>,
    pub store: Arc<dyn Store>,
    pub book: Arc<AlertBook>,
    pub client: OutboundClient,
    pub smtp: Option<SmtpConfig>,
    pub schedule: Vec<u64>,
}

/// How one try went.
struct Tried {
    status_code: Option<i64>,
    error_class: Option<String>,
    excerpt: Option<String>,
    ok: bool,
}

#[async_trait::async_trait]
impl Worker for NotificationWorker {
    fn lane(&self) -> &Arc<Lane> {
        &self.lane
    }

    async fn claim(&self) -> Round {
        let want = (self.lane.free() as i64).min(CLAIM_BATCH);
        let now = now_micros();
        let lease_until = now + LEASE.as_micros() as i64;
        match self
            .sender
            .store
            .claim_notifications(self.lane.owner(), now, lease_until, want)
            .await
        {
            Ok(claimed) => {
                let again = claimed.len() as i64 == want;
                for c in claimed {
                    let this = self.sender.clone();
                    let slot = self.lane.slot();
                    tokio::spawn(async move {
                        this.send(c).await;
                        drop(slot);
                    });
                }
                Round {
                    again,
                    ..Round::default()
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming notifications failed; retrying");
                Round::default()
            }
        }
    }

    async fn signal(&self, signal: &Signal) {
        if *signal == Signal::Deliveries {
            self.lane.wake();
        }
    }
}

impl Sender {
    async fn send(&self, c: ClaimedNotification) {
        let n = &c.notification;
        let began = Instant::now();
        let at = now_micros();
        let tried = match self.book.open_channel(&c.sealed_channel) {
            Ok(channel) => match serde_json::from_str(&n.body) {
                Ok(body) => self.try_channel(&channel, &n.id, &body).await,
                Err(_) => failed("body_unreadable", None),
            },
            Err(e) => {
                tracing::error!(notification_id = %n.id, error = %e, "an alert channel cannot be opened with the master key");
                failed("channel_unopenable", None)
            }
        };
        let tries = n.attempts + 1;
        let (status, next_attempt_at) = if tried.ok {
            ("succeeded", None)
        } else {
            match self.schedule.get(n.attempts as usize) {
                Some(wait) => ("pending", Some(now_micros() + (*wait as i64).saturating_mul(1_000_000))),
                None => ("dead", None),
            }
        };
        match status {
            "succeeded" => {
                tracing::info!(notification_id = %n.id, alert_id = %n.alert_id, state = %n.state, "alert notification sent")
            }
            "pending" => {
                tracing::warn!(notification_id = %n.id, alert_id = %n.alert_id, tries, error = ?tried.error_class, status_code = ?tried.status_code, "alert notification failed; retrying")
            }
            _ => {
                tracing::error!(notification_id = %n.id, alert_id = %n.alert_id, tries, error = ?tried.error_class, status_code = ?tried.status_code, "alert notification dead after its last try")
            }
        }
        let result = NotificationResult {
            job: c.job,
            lease_owner: self.lane.owner().to_string(),
            attempt: NotificationAttemptRow {
                notification_id: n.id.clone(),
                at,
                duration_ms: began.elapsed().as_millis() as i64,
                status_code: tried.status_code,
                error_class: tried.error_class,
                response_excerpt: tried.excerpt,
            },
            status: status.into(),
            next_attempt_at,
        };
        match self.store.complete_notification(&result, now_micros()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(notification_id = %n.id, "a notification's lease was lost; another node took it over")
            }
            Err(e) => {
                tracing::warn!(notification_id = %n.id, error = %e, "a notification's try could not be recorded; it will be claimed again")
            }
        }
        if status == "pending" {
            self.lane.wake();
        }
    }

    async fn try_channel(&self, channel: &AlertChannel, id: &str, body: &serde_json::Value) -> Tried {
        match channel {
            AlertChannel::Webhook { url } => self.post(url, id, body).await,
            AlertChannel::Slack { url } => self.post(url, id, &message::slack(body)).await,
            AlertChannel::Email { to } => self.mail(to, body).await,
        }
    }

    async fn post(&self, url: &str, id: &str, body: &serde_json::Value) -> Tried {
        let headers = [
            ("content-type".to_string(), "application/json".to_string()),
            // Lets a receiver drop a retried notification it already has.
            ("webhook-id".to_string(), id.to_string()),
        ];
        match self.client.post(url, &headers, body.to_string().into_bytes()).await {
            Ok(r) => Tried {
                status_code: Some(i64::from(r.status)),
                error_class: (!(200..300).contains(&r.status)).then(|| format!("http_{}", r.status)),
                excerpt: Some(r.excerpt.chars().take(300).collect()),
                ok: (200..300).contains(&r.status),
            },
            Err(f) => failed(f.kind.as_str(), Some(f.message)),
        }
    }

    async fn mail(&self, to: &[String], body: &serde_json::Value) -> Tried {
        let Some(smtp) = &self.smtp else {
            return failed(
                "smtp_not_configured",
                Some("no SMTP server is configured (smtp.url)".into()),
            );
        };
        let (subject, text) = message::mail(body);
        let mut builder = Message::builder().subject(subject);
        match smtp.from.parse() {
            Ok(from) => builder = builder.from(from),
            Err(_) => {
                return failed(
                    "smtp_bad_address",
                    Some(format!("{:?} is not a mail address", smtp.from)),
                );
            }
        }
        for a in to {
            match a.parse() {
                Ok(mb) => builder = builder.to(mb),
                Err(_) => return failed("smtp_bad_address", Some(format!("{a:?} is not a mail address"))),
            }
        }
        let mail = match builder.body(text) {
            Ok(m) => m,
            Err(e) => return failed("smtp_bad_message", Some(e.to_string())),
        };
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url) {
            Ok(t) => t.timeout(Some(SMTP_TIMEOUT)).build(),
            // The URL may hold a password: name the problem, not the URL.
            Err(_) => return failed("smtp_bad_url", Some("the SMTP URL is not valid".into())),
        };
        match transport.send(mail).await {
            Ok(reply) => Tried {
                status_code: Some(i64::from(u16::from(reply.code()))),
                error_class: None,
                excerpt: Some(
                    reply
                        .message()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .chars()
                        .take(300)
                        .collect(),
                ),
                ok: true,
            },
            Err(e) => Tried {
                status_code: e.status().map(|c| i64::from(u16::from(c))),
                error_class: Some(
                    if e.is_permanent() {
                        "smtp_rejected"
                    } else {
                        "smtp_unavailable"
                    }
                    .into(),
                ),
                excerpt: Some(e.to_string().chars().take(300).collect()),
                ok: false,
            },
        }
    }
}

fn failed(class: &str, message: Option<String>) -> Tried {
    Tried {
        status_code: None,
        error_class: Some(class.into()),
        excerpt: message,
        ok: false,
    }
}
