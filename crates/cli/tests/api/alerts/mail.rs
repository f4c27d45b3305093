//! Alert mail over SMTP, against a local SMTP server: the message names what, where and since
//! when and links to the dashboard; a transient refusal (451) is retried and both tries are in
//! the attempt log.

use std::time::Duration;

use serde_json::json;
use switchyard_engine::alerts::{AlertsConfig, SmtpConfig};
use switchyard_testkit::app::{Backend, Options, TestApp, eventually};
use switchyard_testkit::smtp::SmtpServer;

use super::{notifications, ok_json, quarantine_one};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_alert_mail_is_sent_and_retried() {
    alert_mail_is_sent_and_retried(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_alert_mail_is_sent_and_retried() {
    alert_mail_is_sent_and_retried(Backend::Postgres).await;
}

async fn alert_mail_is_sent_and_retried(backend: Backend) {
    let smtp = SmtpServer::start().await;
    smtp.refuse_next(1);
    let opts = Options {
        alerts: Some(AlertsConfig {
            smtp: Some(SmtpConfig {
                url: smtp.url(),
                from: "switchyard@example.com".into(),
            }),
            every: Duration::from_millis(200),
            retry_schedule_seconds: vec![1, 1, 1],
            ..Default::default()
        }),
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_with(backend, opts).await else {
        return;
    };
    let id = ok_json(
        app.api_post(
            "/v1/alerts",
            &json!({"name": "mailed", "rule": {"kind": "quarantined"}, "cooldown_seconds": 0,
                    "channel": {"kind": "email", "to": ["ops@example.com", "oncall@example.com"]}}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    quarantine_one(&app).await;
    eventually("the mail arrives", || async { !smtp.mails().is_empty() }).await;
    let mail = &smtp.mails()[0];
    assert_eq!(mail.from, "switchyard@example.com");
    assert_eq!(mail.to, ["ops@example.com", "oncall@example.com"]);
    // Long header lines may be folded.
    let data = mail.data.replace("\r\n ", " ").replace("\r\n", "\n");
    assert!(
        data.contains("Subject: [Switchyard] [FIRING] mailed: 1 event waits in quarantine for review"),
        "{data}"
    );
    assert!(data.contains("Where: quarantine quarantine"), "{data}");
    assert!(
        data.contains(&format!("Open in Switchyard: {}/#/quarantine", app.base)),
        "{data}"
    );
    eventually("the send is recorded", || async {
        notifications(&app, &id)
            .await
            .first()
            .is_some_and(|n| n["status"] == "succeeded")
    })
    .await;
    let log = notifications(&app, &id).await[0]["attempt_log"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["error_class"], "smtp_unavailable");
    assert_eq!(log[0]["status_code"], 451);
    assert_eq!(log[1]["status_code"], 250);
    app.stop().await;
}
