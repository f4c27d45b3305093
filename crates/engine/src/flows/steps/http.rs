//! The `http` step: a call to a destination (SPEC §7). The URL is the destination's `base_url`
//! and the step's `path` joined with exactly one `/`, plus the `query`; credentials are the
//! destination's (opened for the call, scrubbed from everything recorded); the body is the JSON
//! result of the step's jq. Every attempt carries the same `Idempotency-Key`, derived from the
//! run, the step and the foreach index. A `401` with OAuth2 credentials refreshes the token once
//! and retries once. Answers are classified as deliveries are (SPEC §3): 2xx succeeds, 408, 425,
//! 429, 5xx and transport failures are retried (`Retry-After` honoured), other 4xx fail at once.
//! The destination's concurrency and rate limits hold across every run on this node.

use std::time::Duration;

use crate::alerts::Outcome as Health;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_core::alert::ScopeKind;
use switchyard_core::delivery::outcome::{Verdict, classify_status, classify_transport};
use switchyard_core::destination::{Auth, DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT_SECONDS, DestinationSpec};
use switchyard_core::flow::HttpCall;
use switchyard_core::flow::spec::Step;
use switchyard_core::time::now_micros;

use super::{Outcome, fail, one};
use crate::destinations::oauth2::{ClientCredentials, TokenError};
use crate::flows::execute::Walk;
use crate::jobs::guard::{Ended, Limits};
use crate::outbound::Request;

/// Response bytes kept as the step's output.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// How long a call waits for a free slot of its destination before the run is requeued.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// `Idempotency-Key` of a step execution: the same for every attempt and every retry of the run.
pub fn idempotency_key(run_id: &str, path: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}/{path}").as_bytes());
    format!("swy_{}", &hex::encode(digest)[..32])
}

pub(crate) async fn call(walk: &Walk, step: &Step, call: &HttpCall, scope: &Value, path: &str) -> Outcome {
    let (dst_id, dst) = match walk.deps.destinations.open(&call.destination).await {
        Ok(d) => d,
        Err(crate::destinations::DestinationError::NotFound) => {
            return fail(
                "destination_missing",
                format!("step {}: no destination is named {:?}", step.id, call.destination),
            );
        }
        Err(e) => {
            return Outcome::Retry {
                class: "destination_unavailable".into(),
                message: format!("step {}: the destination could not be read: {e}", step.id),
                retry_after_seconds: None,
                schedule: None,
            };
        }
    };
    walk.remember_secrets(secret_values(&dst));
    let schedule = if step.retry.as_ref().is_some_and(|r| r.schedule_seconds.is_some()) {
        None
    } else {
        dst.retry_schedule_seconds.clone()
    };
    let request = match build(walk, step, call, scope, path, &dst).await {
        Ok(r) => r,
        Err(o) => return o,
    };
    if let Some(r) = &walk.rehearsal {
        return Outcome::Done(r.act(
            path,
            "http",
            shown(walk, &request, &dst),
            super::super::rehearse::stub_response(),
        ));
    }
    let limits = Limits {
        max_concurrency: dst.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY),
        rate_per_second: dst.rate_limit_per_second,
    };
    // The worst case before the answer is recorded: a token fetch, the call, a refresh after a
    // 401 and the retry — each within the destination's timeout — and time to record it (the
    // claim's lease usually covers all this; only long timeouts extend it).
    let calls = if credentials(&dst).is_some() { 4 } else { 1 };
    let to_record = walk.deps.config.lease.min(Duration::from_secs(5));
    if !walk.hold_lease(request.timeout * calls + to_record).await {
        return Outcome::Retry {
            class: "lease_lost".into(),
            message: format!("step {}: another worker holds the run now", step.id),
            retry_after_seconds: None,
            schedule: None,
        };
    }
    if !acquire(walk, &dst_id, &dst.name, limits).await {
        return Outcome::Retry {
            class: "destination_busy".into(),
            message: format!("step {}: {} is at its concurrency or rate limit", step.id, dst.name),
            retry_after_seconds: Some(1),
            schedule: Some(vec![0, 1, 1, 2, 5, 10, 30, 60, 60, 60]),
        };
    }
    let result = send(walk, step, &dst, &request).await;
    let ended = match &result {
        Sent::Answer { verdict, status, .. } => match verdict {
            Verdict::Success => Ended::Success,
            Verdict::Retry { retry_after_seconds } if *status == 429 => Ended::RateLimited {
                pause_micros: retry_after_seconds.map(|s| s as i64 * 1_000_000),
            },
            Verdict::Retry { .. } => Ended::Failure,
            Verdict::Permanent | Verdict::Gone => Ended::Rejected,
        },
        Sent::Transport { .. } => Ended::Failure,
        Sent::Token(_) => Ended::Rejected,
    };
    walk.deps.guards.end(&dst_id, now_micros(), limits, ended);
    let health = match &result {
        Sent::Answer {
            verdict: Verdict::Success,
            ..
        } => Health::Ok,
        Sent::Answer { status: 401 | 403, .. } => Health::Rejected,
        Sent::Token(TokenError::Refused { .. }) => Health::Refused,
        _ => Health::Failed,
    };
    walk.deps.health.record(ScopeKind::Destination, &dst.name, health);
    outcome(step, &dst, result, schedule)
}

/// Credential and header values of a destination: what must never be recorded.
fn secret_values(dst: &DestinationSpec) -> Vec<String> {
    let (_, creds) = dst.clone().split();
    creds.auth.into_iter().chain(creds.headers).collect()
}

async fn acquire(walk: &Walk, dst_id: &str, dst_name: &str, limits: Limits) -> bool {
    let waited = std::time::Instant::now();
    let mut counted = false;
    loop {
        if walk.deps.guards.try_begin(dst_id, now_micros(), limits) {
            return true;
        }
        if !std::mem::replace(&mut counted, true) {
            crate::metrics::rate_limit_wait("destination", dst_name);
        }
        if waited.elapsed() >= SLOT_WAIT {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct Prepared {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
}

async fn build(
    walk: &Walk,
    step: &Step,
    call: &HttpCall,
    scope: &Value,
    path: &str,
    dst: &DestinationSpec,
) -> Result<Prepared, Outcome> {
    let url_path = match call.path_template() {
        Some(code) => as_text(one(walk, step, "http.path", &code, scope).await?),
        None => call.path.clone(),
    };
    let mut url = join(&dst.base_url, &url_path);
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, code) in &call.query {
        let v = one(walk, step, &format!("http.query.{name}"), code, scope).await?;
        query.push((name.clone(), as_text(v)));
    }
    if let Some(Auth::ApiKey {
        query: Some(param),
        value,
        ..
    }) = &dst.auth
    {
        query.push((param.clone(), value.clone()));
    }
    if !query.is_empty() {
        let mut parsed = url::Url::parse(&url).map_err(|e| fail("invalid_url", format!("step {}: {e}", step.id)))?;
        parsed.query_pairs_mut().extend_pairs(query.iter());
        url = parsed.to_string();
    }
    let mut headers: Vec<(String, String)> = dst
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    for (name, code) in &call.headers {
        let v = one(walk, step, &format!("http.headers.{name}"), code, scope).await?;
        headers.push((name.clone(), as_text(v)));
    }
    headers.push(("Idempotency-Key".into(), idempotency_key(&walk.run.id, path)));
    let body = match &call.body {
        Some(code) => {
            let v = one(walk, step, "http.body", code, scope).await?;
            headers.push(("Content-Type".into(), "application/json".into()));
            Some(serde_json::to_vec(&v).unwrap_or_default())
        }
        None => None,
    };
    match &dst.auth {
        Some(Auth::Bearer { token }) => headers.push(("Authorization".into(), format!("Bearer {token}"))),
        Some(Auth::Basic { username, password }) => {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            walk.remember_secrets([raw.clone()]);
            headers.push(("Authorization".into(), format!("Basic {raw}")));
        }
        Some(Auth::ApiKey {
            header: Some(name),
            value,
            ..
        }) => headers.push((name.clone(), value.clone())),
        _ => {}
    }
    Ok(Prepared {
        method: call.method.clone(),
        url,
        headers,
        body,
        timeout: Duration::from_secs(dst.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS)),
    })
}

/// A request as a what-if run shows it: credentials masked (an OAuth2 token is fetched only for
/// a real call), the body as JSON.
fn shown(walk: &Walk, request: &Prepared, dst: &DestinationSpec) -> Value {
    let mut headers: Vec<Value> = request.headers.iter().map(|(k, v)| json!([k, walk.scrub(v)])).collect();
    if credentials(dst).is_some() {
        headers.push(json!(["Authorization", "Bearer ********"]));
    }
    let body = request.body.as_ref().map(|b| {
        let text = walk.scrub(&String::from_utf8_lossy(b));
        serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
    });
    json!({
        "method": request.method,
        "url": walk.scrub(&request.url),
        "headers": headers,
        "body": body,
    })
}

/// `base_url` + `path` with exactly one `/` between them; an empty path is `base_url` itself.
fn join(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_string();
    }
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

fn as_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

enum Sent {
    Answer {
        status: u16,
        verdict: Verdict,
        headers: Vec<(String, String)>,
        body: String,
    },
    Transport {
        verdict: Verdict,
        class: String,
        message: String,
    },
    Token(TokenError),
}

fn credentials(dst: &DestinationSpec) -> Option<ClientCredentials> {
    match &dst.auth {
        Some(Auth::OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scopes,
        }) => Some(ClientCredentials {
            token_url: token_url.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            scopes: scopes.clone(),
        }),
        _ => None,
    }
}

async fn send(walk: &Walk, step: &Step, dst: &DestinationSpec, p: &Prepared) -> Sent {
    let creds = credentials(dst);
    let mut token = match &creds {
        Some(c) => match walk.deps.tokens.token(c).await {
            Ok(t) => Some(t),
            Err(e) => return Sent::Token(e),
        },
        None => None,
    };
    let mut refreshed = false;
    loop {
        let mut headers = p.headers.clone();
        if let Some(t) = &token {
            walk.remember_secrets([t.to_string()]);
            headers.push(("Authorization".into(), format!("Bearer {t}")));
        }
        let answer = walk
            .deps
            .client
            .send(Request {
                method: &p.method,
                url: &p.url,
                headers: &headers,
                body: p.body.clone(),
                timeout: Some(p.timeout),
                keep_bytes: MAX_RESPONSE_BYTES,
            })
            .await;
        match answer {
            Ok(r) => {
                if r.status == 401
                    && !refreshed
                    && let (Some(c), Some(rejected)) = (&creds, token.clone())
                {
                    // Exactly one refresh and one retry per call (SPEC §7).
                    refreshed = true;
                    match walk.deps.tokens.refresh_rejected(c, &rejected).await {
                        Ok(t) => token = Some(t),
                        Err(e) => return Sent::Token(e),
                    }
                    tracing::info!(run_id = %walk.run.id, step = %step.id, destination = %dst.name, "401 answered; token refreshed, retrying once");
                    continue;
                }
                let verdict = classify_status(
                    r.status,
                    r.header("retry-after"),
                    r.header("x-ratelimit-reset"),
                    now_micros() / 1_000_000,
                );
                return Sent::Answer {
                    status: r.status,
                    verdict,
                    headers: r.headers,
                    body: r.excerpt,
                };
            }
            Err(f) => {
                return Sent::Transport {
                    verdict: classify_transport(f.kind),
                    class: f.kind.as_str().to_string(),
                    message: f.message,
                };
            }
        }
    }
}

/// Response headers kept in the output: not cookies (sessions are credentials too).
fn kept_headers(headers: Vec<(String, String)>) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in headers {
        let k = k.to_ascii_lowercase();
        if k == "set-cookie" || k == "authorization" {
            continue;
        }
        out.insert(k, Value::String(v));
    }
    Value::Object(out)
}

fn outcome(step: &Step, dst: &DestinationSpec, sent: Sent, schedule: Option<Vec<u64>>) -> Outcome {
    match sent {
        Sent::Answer {
            status,
            verdict,
            headers,
            body,
        } => {
            let excerpt: String = body.chars().take(300).collect();
            match verdict {
                Verdict::Success => {
                    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
                    Outcome::Done(json!({ "status": status, "headers": kept_headers(headers), "body": body }))
                }
                Verdict::Retry { retry_after_seconds } => Outcome::Retry {
                    class: format!("http_{status}"),
                    message: format!("step {}: {} answered {status}: {excerpt}", step.id, dst.name),
                    retry_after_seconds,
                    schedule,
                },
                Verdict::Permanent | Verdict::Gone => fail(
                    &format!("http_{status}"),
                    format!("step {}: {} answered {status}: {excerpt}", step.id, dst.name),
                ),
            }
        }
        Sent::Transport {
            verdict,
            class,
            message,
        } => match verdict {
            Verdict::Retry { .. } => Outcome::Retry {
                class,
                message: format!("step {}: {message}", step.id),
                retry_after_seconds: None,
                schedule,
            },
            _ => fail(&class, format!("step {}: {message}", step.id)),
        },
        Sent::Token(e) => {
            let message = format!("step {}: {} token: {e}", step.id, dst.name);
            if e.is_transient() {
                Outcome::Retry {
                    class: "oauth2_unavailable".into(),
                    message,
                    retry_after_seconds: None,
                    schedule,
                }
            } else {
                fail(
                    match e {
                        TokenError::Refused { .. } => "oauth2_refused",
                        _ => "oauth2_malformed",
                    },
                    message,
                )
            }
        }
    }
}
