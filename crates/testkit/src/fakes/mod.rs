//! Fake third-party services that follow the providers' documented request and response shapes,
//! on one local port:
//! - `POST /oauth/token`: an OAuth2 token endpoint for the client-credentials grant (RFC 6749
//!   §4.4): client authentication with HTTP Basic (§2.3.1) or in the form body,
//!   `grant_type=client_credentials`, answers `{"access_token","token_type":"bearer",
//!   "expires_in"}` (§5.1) or `{"error": "invalid_client" | "unsupported_grant_type"}` (§5.2);
//! - `POST /crm/v3/objects/contacts`: HubSpot's create-contact API — `Authorization: Bearer`,
//!   body `{"properties": {…}}`, `201` with `{"id","properties","createdAt","updatedAt",
//!   "archived"}`, `401` with category `INVALID_AUTHENTICATION`, `409` with category `CONFLICT`
//!   ("Contact already exists. Existing ID: N") for an email it already has. Like receivers that
//!   honour idempotency keys (Stripe's semantics), a repeated `Idempotency-Key` gets the first
//!   answer again and creates nothing;
//! - `POST /slack/services/{team}/{bot}/{token}`: a Slack incoming webhook — JSON with `text` or
//!   `blocks` → `200 ok` (text/plain); otherwise `400 no_text` / `400 invalid_payload`.
//!
//! - the commerce services of `shop.rs` (a fulfilment API, SendGrid's mail send), Mailchimp's
//!   member upsert (`mailchimp.rs`) and a report webhook (`reports.rs`).
//!
//! Controls: fail the next contact requests with a status, revoke every token issued so far.
//! `GET /_fakes/state` shows what they hold (the example scripts print it).

mod mailchimp;
mod reports;
mod shop;

pub use mailchimp::{MAILCHIMP_KEY, subscriber_hash};
pub use shop::{FULFILMENT_TOKEN, SENDGRID_KEY};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "switchyard-test";
pub const CLIENT_SECRET: &str = "CLIENT_SECRET_fake_0123";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    issued: AtomicUsize,
    valid: Mutex<HashSet<String>>,
    contacts: Mutex<Vec<Value>>,
    by_key: Mutex<HashMap<String, (StatusCode, Value)>>,
    fail_next: Mutex<Vec<u16>>,
    seen: Mutex<Vec<Seen>>,
    slack: Mutex<Vec<Value>>,
    /// Requests the other services accepted, by service (`fulfilment`, `sendgrid`,
    /// `mailchimp`, `reports`).
    accepted: Mutex<HashMap<&'static str, Vec<Seen>>>,
    /// Mailchimp's list members by list id and subscriber hash.
    members: Mutex<HashMap<(String, String), Value>>,
}

impl Inner {
    fn accept(&self, service: &'static str, seen: Seen) {
        self.accepted.lock().unwrap().entry(service).or_default().push(seen);
    }
}

#[derive(Clone)]
pub struct FakeProviders {
    pub base: String,
    inner: Arc<Inner>,
}

impl FakeProviders {
    /// On an ephemeral loopback port.
    pub async fn start() -> FakeProviders {
        Self::start_on("127.0.0.1:0").await.expect("bind a loopback port")
    }

    pub async fn start_on(addr: &str) -> std::io::Result<FakeProviders> {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/crm/v3/objects/contacts", post(create_contact))
            .route("/slack/services/{team}/{bot}/{token}", post(slack))
            .route("/_fakes/state", axum::routing::get(state))
            .merge(shop::routes())
            .merge(mailchimp::routes())
            .merge(reports::routes())
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeProviders { base, inner })
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    pub fn slack_url(&self) -> String {
        format!("{}/slack/services/T000/B000/XXXXXXXX", self.base)
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.inner.issued.load(Ordering::SeqCst)
    }

    /// Every token issued so far is rejected from now on (as after a key rotation).
    pub fn revoke_tokens(&self) {
        self.inner.valid.lock().unwrap().clear();
    }

    /// The next contact requests are answered with these statuses, in order.
    pub fn fail_contacts(&self, statuses: &[u16]) {
        self.inner.fail_next.lock().unwrap().extend_from_slice(statuses);
    }

    pub fn contacts(&self) -> Vec<Value> {
        self.inner.contacts.lock().unwrap().clone()
    }

    /// Every request to the contacts API (answered or not).
    pub fn contact_requests(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }

    pub fn slack_messages(&self) -> Vec<Value> {
        self.inner.slack.lock().unwrap().clone()
    }

    /// The requests a service (`fulfilment`, `sendgrid`, `mailchimp`, `reports`) accepted.
    pub fn accepted(&self, service: &str) -> Vec<Seen> {
        self.inner
            .accepted
            .lock()
            .unwrap()
            .get(service)
            .cloned()
            .unwrap_or_default()
    }

    /// Mailchimp's members of a list, as it would answer for each.
    pub fn members(&self, list_id: &str) -> Vec<Value> {
        let members = self.inner.members.lock().unwrap();
        members
            .iter()
            .filter(|((l, _), _)| l == list_id)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

/// What the fakes hold, for people running the example.
async fn state(State(s): State<Arc<Inner>>) -> Response {
    axum::Json(json!({
        "tokens_issued": s.issued.load(Ordering::SeqCst),
        "hubspot_contacts": *s.contacts.lock().unwrap(),
        "slack_messages": *s.slack.lock().unwrap(),
        "accepted": s.accepted.lock().unwrap().iter().map(|(k, v)| (k.to_string(), v.iter().map(|r| json!({"path": r.path, "body": r.body})).collect::<Vec<_>>())).collect::<HashMap<_, _>>(),
    }))
    .into_response()
}

pub(crate) fn header_map(h: &HeaderMap) -> HashMap<String, String> {
    h.iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, s)) => (i.to_string(), s.to_string()),
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only client_credentials",
        );
    }
    let n = s.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("fake_access_token_{n}");
    s.valid.lock().unwrap().insert(token.clone());
    let mut answer = json!({"access_token": token, "token_type": "bearer", "expires_in": 3600});
    if let Some(scope) = form.get("scope") {
        answer["scope"] = json!(scope);
    }
    (StatusCode::OK, [("cache-control", "no-store")], axum::Json(answer)).into_response()
}

async fn create_contact(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.seen.lock().unwrap().push(Seen {
        path: "/crm/v3/objects/contacts".into(),
        headers: header_map(&headers),
        body: parsed.clone(),
    });
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if !bearer.is_some_and(|t| s.valid.lock().unwrap().contains(&t)) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "status": "error",
                "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "correlationId": "00000000-0000-0000-0000-000000000000",
                "category": "INVALID_AUTHENTICATION"
            })),
        )
            .into_response();
    }
    let forced = {
        let mut f = s.fail_next.lock().unwrap();
        (!f.is_empty()).then(|| f.remove(0))
    };
    if let Some(code) = forced {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            axum::Json(json!({"status": "error", "message": "forced", "category": "INTERNAL_ERROR"})),
        )
            .into_response();
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(k) = &key
        && let Some((status, answer)) = s.by_key.lock().unwrap().get(k).cloned()
    {
        return (status, axum::Json(answer)).into_response();
    }
    let Some(properties) = parsed.get("properties").and_then(Value::as_object).cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": "error", "message": "Invalid input JSON: properties is required", "category": "VALIDATION_ERROR"})),
        )
            .into_response();
    };
    let (status, answer) = {
        let mut contacts = s.contacts.lock().unwrap();
        let email = properties.get("email").cloned();
        if let Some(existing) = contacts
            .iter()
            .find(|c| email.is_some() && c["properties"]["email"] == email.clone().unwrap_or_default())
        {
            (
                StatusCode::CONFLICT,
                json!({
                    "status": "error",
                    "message": format!("Contact already exists. Existing ID: {}", existing["id"].as_str().unwrap_or("")),
                    "category": "CONFLICT"
                }),
            )
        } else {
            let id = (contacts.len() + 1001).to_string();
            let now = "2026-12-05T00:00:00.000Z";
            let mut props = properties.clone();
            props.insert("hs_object_id".into(), json!(id));
            props.insert("createdate".into(), json!(now));
            let contact = json!({"id": id, "properties": props, "createdAt": now, "updatedAt": now, "archived": false});
            contacts.push(contact.clone());
            (StatusCode::CREATED, contact)
        }
    };
    if let Some(k) = key {
        s.by_key.lock().unwrap().insert(k, (status, answer.clone()));
    }
    (status, axum::Json(answer)).into_response()
}

async fn slack(State(s): State<Arc<Inner>>, body: Bytes) -> Response {
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if parsed.get("text").is_none() && parsed.get("blocks").is_none() {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    s.slack.lock().unwrap().push(parsed);
    (StatusCode::OK, [("content-type", "text/plain")], "ok").into_response()
}
