//! `/v1/alerts` (routes/alerts.rs), `/v1/stats` (routes/stats.rs), `/v1/whoami` and the
//! dashboard's files (routes/dashboard.rs).

// Documentation types: their fields are described to the OpenAPI document, never read.
#![allow(dead_code)]

use serde_json::Value;
use switchyard_core::alert::{AlertChannel, AlertRule, AlertSpec};
use utoipa::{IntoParams, ToSchema};

use super::common::{ErrorEnvelope, ListParams, Page};

/// A rule's state.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AlertStateView {
    Ok,
    Firing,
}

/// A place a rule holds for.
#[derive(ToSchema)]
pub struct AlertPlace {
    /// `endpoint`, `source`, `flow`, `destination`, `queue` or `quarantine`.
    pub kind: String,
    pub id: String,
    pub name: String,
    /// The dashboard page for it (a hash route, e.g. `#/endpoints`).
    pub page: Option<String>,
}

/// What held and where, as of the rule's last change.
#[derive(ToSchema)]
pub struct AlertDetail {
    pub what: String,
    #[schema(rename = "where")]
    pub places: Vec<AlertPlace>,
}

/// A rule as the API shows it: its definition (channel URL `"********"`) and its state.
#[derive(ToSchema)]
pub struct AlertView {
    #[schema(example = "alr_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub name: String,
    pub rule: AlertRule,
    pub channel: AlertChannel,
    pub cooldown_seconds: u64,
    pub enabled: bool,
    pub state: AlertStateView,
    /// When the current state began.
    #[schema(format = DateTime)]
    pub since: Option<String>,
    pub detail: Option<AlertDetail>,
    #[schema(format = DateTime)]
    pub last_notified_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// One try at sending a notification.
#[derive(ToSchema)]
pub struct NotificationAttempt {
    #[schema(format = DateTime)]
    pub at: String,
    pub duration_ms: i64,
    /// HTTP status, or the SMTP reply code.
    pub status_code: Option<i64>,
    pub error_class: Option<String>,
    pub response_excerpt: Option<String>,
}

/// A notification of a change of state, with every try.
#[derive(ToSchema)]
pub struct NotificationView {
    #[schema(example = "ntf_01J9Z3Q5R8T2V6W4Y7A1C3E5G7")]
    pub id: String,
    pub alert_id: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// `pending`, `succeeded` or `dead`.
    pub status: String,
    pub attempts: i64,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The message as a webhook channel receives it.
    pub body: Value,
    pub attempt_log: Vec<NotificationAttempt>,
}

const ID: &str = "The alert's id (`alr_…`) or name";

/// Create an alert rule. Scope: `write`.
#[utoipa::path(
    post, path = "/v1/alerts", tag = "alerts",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the creation safe to retry: 1 to 255 visible ASCII characters")),
    request_body = AlertSpec,
    responses(
        (status = 201, description = "Created (channel URL masked)", body = AlertView),
        (status = 409, description = "The name is taken, or the Idempotency-Key is in use", body = ErrorEnvelope),
        (status = 422, description = "The definition is invalid (`details.fields`)", body = ErrorEnvelope),
    )
)]
pub fn create_alert() {}

/// Every alert rule with its state (one page). Scope: `read`.
#[utoipa::path(
    get, path = "/v1/alerts", tag = "alerts",
    params(ListParams),
    responses((status = 200, description = "The rules", body = Page<AlertView>))
)]
pub fn list_alerts() {}

/// Show an alert rule. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The rule", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
    )
)]
pub fn show_alert() {}

/// Change an alert rule: each top-level field given replaces the stored one; a masked channel
/// URL sent back keeps the stored one. Scope: `write`.
#[utoipa::path(
    patch, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = ID)),
    request_body(content = Object, description = "Top-level fields of the alert definition to replace"),
    responses(
        (status = 200, description = "The changed rule", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
        (status = 409, description = "The new name is taken", body = ErrorEnvelope),
        (status = 422, description = "The result is not a valid alert", body = ErrorEnvelope),
    )
)]
pub fn update_alert() {}

/// Delete an alert rule; its waiting notifications become `dead`. Scope: `write`.
#[utoipa::path(
    delete, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
    )
)]
pub fn delete_alert() {}

/// A rule's last 20 notifications, newest first, with their tries. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/alerts/{id}/notifications", tag = "alerts",
    params(("id" = String, Path, description = ID)),
    responses(
        (status = 200, description = "The notifications", body = Page<NotificationView>),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
    )
)]
pub fn alert_notifications() {}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Bucket width: a multiple of 10 from 10 to 3600 (default 60).
    #[param(minimum = 10, maximum = 3600, multiple_of = 10)]
    pub bucket_seconds: Option<i64>,
}

/// One bucket of the last hour.
#[derive(ToSchema)]
pub struct StatsBucket {
    #[schema(format = DateTime)]
    pub at: String,
    pub received: i64,
    pub rejected: i64,
    pub deliveries_succeeded: i64,
    pub deliveries_failed: i64,
    pub runs_succeeded: i64,
    pub runs_failed: i64,
    pub calls_succeeded: i64,
    pub calls_failed: i64,
}

/// The job queue of one kind.
#[derive(ToSchema)]
pub struct QueueView {
    /// `delivery`, `run` or `notification`.
    pub kind: String,
    pub depth: i64,
    pub oldest_age_seconds: Option<i64>,
}

#[derive(ToSchema)]
pub struct StatsView {
    pub bucket_seconds: i64,
    /// The width of the samples the buckets are made of.
    pub sample_seconds: i64,
    #[schema(format = DateTime)]
    pub since: String,
    /// Oldest first.
    pub buckets: Vec<StatsBucket>,
    pub queues: Vec<QueueView>,
}

/// The last hour at a glance: rates per bucket and the job queue. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/stats", tag = "operations",
    params(StatsParams),
    responses((status = 200, description = "Rates and queues", body = StatsView))
)]
pub fn stats() {}

#[derive(ToSchema)]
pub struct WhoAmI {
    pub id: String,
    pub name: Option<String>,
    /// `read`, `write` or `admin`.
    pub scope: String,
}

/// The calling API key. Scope: `read`.
#[utoipa::path(
    get, path = "/v1/whoami", tag = "admin",
    responses((status = 200, description = "The key", body = WhoAmI))
)]
pub fn whoami() {}

/// The dashboard's page (no API key: it signs in with one).
#[utoipa::path(
    get, path = "/", tag = "operations",
    responses((status = 200, description = "HTML", content_type = "text/html"))
)]
pub fn dashboard_index() {}

/// The dashboard's stylesheet.
#[utoipa::path(
    get, path = "/app.css", tag = "operations",
    responses((status = 200, description = "CSS", content_type = "text/css"))
)]
pub fn dashboard_css() {}

/// One of the dashboard's JavaScript modules.
#[utoipa::path(
    get, path = "/js/{file}", tag = "operations",
    params(("file" = String, Path, description = "A module's file name, e.g. `app.js`")),
    responses(
        (status = 200, description = "JavaScript", content_type = "text/javascript"),
        (status = 404, description = "No such file", body = ErrorEnvelope),
    )
)]
pub fn dashboard_script() {}
