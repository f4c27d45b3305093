//! OAuth2 client credentials (RFC 6749 §4.4) for destinations: a token is fetched from the
//! destination's `token_url` (client authenticated with HTTP Basic, §2.3.1; `scope`
//! space-separated), cached until shortly before it expires, and fetched once however many
//! steps ask at the same moment (single flight: one lock per credential set, held across the
//! fetch). A `401` from the API leads to [`TokenCache::refresh_rejected`]: the rejected token is
//! dropped and one new one fetched — concurrent callers rejected with the same token share that
//! one refresh. Requests go through the outbound client, so the SSRF rules apply to `token_url`.
//! Tokens and secrets never appear in errors or logs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::outbound::OutboundClient;

/// A token is refreshed this long before it expires (or at 90 % of a shorter lifetime).
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// The lifetime assumed when the token response has no `expires_in` (RFC 6749 §5.1: optional).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(3600);

/// What a token request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
}

impl ClientCredentials {
    /// Identifies the credential set without holding the secret in a map key in the clear.
    fn cache_key(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [&self.token_url, &self.client_id, &self.client_secret] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(self.scopes.join(" ").as_bytes());
        h.finalize().into()
    }
}

/// Why no token could be had: classified, safe to show (no token, no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint answered with an error (RFC 6749 §5.2), e.g. `invalid_client`.
    #[error("the token endpoint refused the credentials ({status} {error}){}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// The token endpoint could not be reached, or answered 5xx/429: worth retrying.
    #[error("the token endpoint is unavailable: {0}")]
    Unavailable(String),
    /// A 2xx answer that is not a usable token response.
    #[error("the token endpoint's answer is not a token response: {0}")]
    Malformed(String),
}

impl TokenError {
    /// Whether a step that needed the token may be retried later.
    pub fn is_transient(&self) -> bool {
        matches!(self, TokenError::Unavailable(_))
    }
}

struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
}

/// One slot per credential set; its async lock is the single flight.
#[derive(Default)]
struct Slot {
    cached: tokio::sync::Mutex<Option<Cached>>,
}

pub struct TokenCache {
    client: OutboundClient,
    slots: Mutex<HashMap<[u8; 32], Arc<Slot>>>,
}

impl TokenCache {
    pub fn new(client: OutboundClient) -> Self {
        TokenCache {
            client,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// A valid token: the cached one, or a fresh one when it is missing or due for refresh.
    pub async fn token(&self, creds: &ClientCredentials) -> Result<Arc<str>, TokenError> {
        self.get(creds, None).await
    }

    /// After the API answered `401` to `rejected`: a new token, fetched once for every caller
    /// that was rejected with the same one (a later caller gets the already refreshed token).
    pub async fn refresh_rejected(&self, creds: &ClientCredentials, rejected: &str) -> Result<Arc<str>, TokenError> {
        self.get(creds, Some(rejected)).await
    }

    async fn get(&self, creds: &ClientCredentials, rejected: Option<&str>) -> Result<Arc<str>, TokenError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.entry(creds.cache_key()).or_default().clone()
        };
        let mut cached = slot.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
            && rejected != Some(&*c.token)
        {
            return Ok(c.token.clone());
        }
        let fetched = self.fetch(creds).await;
        crate::metrics::token_request(match &fetched {
            Ok(_) if rejected.is_some() => "refreshed",
            Ok(_) => "issued",
            Err(TokenError::Refused { .. }) => "refused",
            Err(_) => "failed",
        });
        let (token, lifetime) = fetched?;
        let ahead = REFRESH_AHEAD.min(lifetime / 10);
        let token: Arc<str> = token.into();
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(ahead),
        });
        Ok(token)
    }

    async fn fetch(&self, creds: &ClientCredentials) -> Result<(String, Duration), TokenError> {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(&creds.client_id),
            enc(&creds.client_secret)
        ));
        // Built before any await: the serializer is not `Send`.
        let body = {
            let mut body = form_urlencoded::Serializer::new(String::new());
            body.append_pair("grant_type", "client_credentials");
            if !creds.scopes.is_empty() {
                body.append_pair("scope", &creds.scopes.join(" "));
            }
            body.finish()
        };
        let headers = [
            ("authorization".to_string(), format!("Basic {basic}")),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("accept".to_string(), "application/json".to_string()),
        ];
        let resp = self
            .client
            .post(&creds.token_url, &headers, body.into_bytes())
            .await
            .map_err(|f| TokenError::Unavailable(f.message))?;
        let json: Option<serde_json::Value> = serde_json::from_str(&resp.excerpt).ok();
        match resp.status {
            200..=299 => {
                let json = json.ok_or_else(|| TokenError::Malformed("not JSON".into()))?;
                let token = json["access_token"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| TokenError::Malformed("no access_token".into()))?;
                if !json["token_type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
                {
                    return Err(TokenError::Malformed("token_type is not Bearer".into()));
                }
                let lifetime = match &json["expires_in"] {
                    serde_json::Value::Null => ASSUMED_LIFETIME,
                    v => v
                        .as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .map(Duration::from_secs)
                        .ok_or_else(|| TokenError::Malformed("expires_in is not a number of seconds".into()))?,
                };
                Ok((token.to_string(), lifetime))
            }
            429 | 500..=599 => Err(TokenError::Unavailable(format!("HTTP {}", resp.status))),
            status => {
                let field = |name: &str| {
                    json.as_ref()
                        .and_then(|j| j[name].as_str())
                        .map(|s| s.chars().take(200).collect::<String>())
                };
                Err(TokenError::Refused {
                    status,
                    error: field("error").unwrap_or_else(|| "unknown_error".into()),
                    description: field("error_description"),
                })
            }
        }
    }
}
