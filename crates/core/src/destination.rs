//! A destination: an API that flows call (SPEC §7), with its credentials. The definition is
//! stored in two parts: this spec with every credential value replaced by [`MASK`] (what views
//! show and the database holds in the clear), and the values themselves, sealed with the master
//! key. [`DestinationSpec::split`] and [`DestinationSpec::joined`] move between the two.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::endpoint::{check_call_limits, check_custom_headers, normalize_url};
use crate::source::FieldError;

/// What every credential value reads as outside the sealed store.
pub const MASK: &str = "********";
/// Concurrent calls per destination when none is configured.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 16;
/// A call's time limit when none is configured.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 15;

/// How a destination's calls are authenticated. Every value that grants access is a credential:
/// write-only, sealed at rest, masked everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// A key in a header or in the query string (exactly one of the two).
    ApiKey {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        value: String,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// RFC 6749 §4.4: a token fetched from `token_url` with the client's id and secret, cached
    /// until shortly before it expires.
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
}

impl Auth {
    /// The credential values, by name, in a fixed order (what is sealed).
    fn secrets_mut(&mut self) -> Vec<&mut String> {
        match self {
            Auth::Bearer { token } => vec![token],
            Auth::ApiKey { value, .. } => vec![value],
            Auth::Basic { password, .. } => vec![password],
            Auth::OAuth2ClientCredentials { client_secret, .. } => vec![client_secret],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "crm", "base_url": "http://127.0.0.1:9000/api", "auth": {"kind": "bearer", "token": "secret-token"}}))]
pub struct DestinationSpec {
    /// Unique: how flows refer to it. `[a-z0-9_-]{1,64}`, not starting with `dst_`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    /// Calls go to this URL followed by the step's path.
    #[schema(format = "uri")]
    pub base_url: String,
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Sent with every call; every value is a credential (sealed, masked).
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub rate_limit_per_second: Option<f64>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Delays before each attempt of a step (seconds); `null`: the steps' default schedule
    /// (`flow::spec::DEFAULT_STEP_SCHEDULE`).
    #[serde(default)]
    pub retry_schedule_seconds: Option<Vec<u64>>,
}

/// The sealed part of a destination: its credential values and header values, in spec order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub auth: Vec<String>,
    pub headers: Vec<String>,
}

/// Headers a destination may not set: Switchyard sets them per call.
const RESERVED_HEADERS: &[&str] = &[
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "idempotency-key",
];

impl DestinationSpec {
    /// Validates the definition and puts its URLs in the normalised form they are called at.
    pub fn normalized(mut self) -> Result<Self, Vec<FieldError>> {
        self.validate()?;
        if let Ok(url) = normalize_url(&self.base_url) {
            self.base_url = url;
        }
        if let Some(Auth::OAuth2ClientCredentials { token_url, .. }) = &mut self.auth
            && let Ok(url) = normalize_url(token_url)
        {
            *token_url = url;
        }
        Ok(self)
    }

    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        if !crate::source::is_valid_source_name(&self.name) || self.name.starts_with("dst_") {
            errs.push(err("name", "must match [a-z0-9_-]{1,64} and not start with dst_"));
        }
        if let Err(e) = normalize_url(&self.base_url) {
            errs.push(err("base_url", e));
        } else if self.base_url.contains('?') {
            errs.push(err("base_url", "must not have a query; steps set `query`"));
        }
        match &self.auth {
            None => {}
            Some(Auth::Bearer { token }) => check_secret(&mut errs, "auth.token", token),
            Some(Auth::ApiKey { header, query, value }) => {
                match (header, query) {
                    (Some(h), None) if crate::headers::is_header_name(h) => {}
                    (Some(_), None) => errs.push(err("auth.header", "not a valid header name")),
                    (None, Some(q)) if !q.is_empty() && q.len() <= 128 => {}
                    (None, Some(_)) => errs.push(err("auth.query", "1 to 128 characters")),
                    _ => errs.push(err("auth", "an api_key goes in exactly one of `header` or `query`")),
                }
                check_secret(&mut errs, "auth.value", value);
            }
            Some(Auth::Basic { username, password }) => {
                if username.is_empty() || username.contains(':') || username.len() > 256 {
                    errs.push(err("auth.username", "1 to 256 characters, no colon"));
                }
                check_secret(&mut errs, "auth.password", password);
            }
            Some(Auth::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
            }) => {
                if let Err(e) = normalize_url(token_url) {
                    errs.push(err("auth.token_url", e));
                }
                if client_id.is_empty() || client_id.len() > 512 {
                    errs.push(err("auth.client_id", "1 to 512 characters"));
                }
                check_secret(&mut errs, "auth.client_secret", client_secret);
                if scopes.len() > 50 || scopes.iter().any(|s| s.is_empty() || s.contains(' ') || s.len() > 256) {
                    errs.push(err("auth.scopes", "at most 50 scopes, each without spaces"));
                }
            }
        }
        check_custom_headers(&mut errs, &self.headers, RESERVED_HEADERS);
        check_call_limits(
            &mut errs,
            self.retry_schedule_seconds.as_deref(),
            self.rate_limit_per_second,
            self.max_concurrency,
        );
        if self.timeout_seconds.is_some_and(|t| t == 0 || t > 300) {
            errs.push(err("timeout_seconds", "between 1 and 300"));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// The spec with every credential and header value replaced by [`MASK`], and the values.
    pub fn split(mut self) -> (DestinationSpec, Credentials) {
        let mut creds = Credentials::default();
        if let Some(auth) = &mut self.auth {
            for v in auth.secrets_mut() {
                creds.auth.push(std::mem::replace(v, MASK.into()));
            }
        }
        for v in self.headers.values_mut() {
            let value = std::mem::replace(v, Value::String(MASK.into()));
            creds.headers.push(value.as_str().unwrap_or_default().to_string());
        }
        (self, creds)
    }

    /// The masked spec with its values put back (the inverse of [`Self::split`]).
    pub fn joined(mut self, creds: &Credentials) -> DestinationSpec {
        if let Some(auth) = &mut self.auth {
            for (slot, v) in auth.secrets_mut().into_iter().zip(&creds.auth) {
                *slot = v.clone();
            }
        }
        for (slot, v) in self.headers.values_mut().zip(&creds.headers) {
            *slot = Value::String(v.clone());
        }
        self
    }

    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY)
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS))
    }
}

fn check_secret(errs: &mut Vec<FieldError>, field: &str, value: &str) {
    if value.is_empty() || value.len() > 8192 || value.chars().any(char::is_control) {
        errs.push(err(field, "1 to 8192 characters without control characters"));
    } else if value == MASK {
        errs.push(err(field, "send the value itself (views show it masked)"));
    }
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> DestinationSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_auth_kind_parses_and_validates() {
        for auth in [
            serde_json::json!({"kind": "bearer", "token": "t0k"}),
            serde_json::json!({"kind": "api_key", "header": "X-Api-Key", "value": "k"}),
            serde_json::json!({"kind": "api_key", "query": "api_key", "value": "k"}),
            serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
            serde_json::json!({"kind": "oauth2_client_credentials", "token_url": "https://auth.example.com/token",
                "client_id": "c", "client_secret": "s", "scopes": ["crm.write"]}),
        ] {
            let d = spec(serde_json::json!({"name": "crm", "base_url": "https://api.example.com/v3", "auth": auth}));
            assert_eq!(d.validate(), Ok(()), "{auth}");
        }
    }

    #[test]
    fn bad_definitions_name_their_fields() {
        let d = spec(
            serde_json::json!({"name": "dst_x", "base_url": "ftp://x", "max_concurrency": 0,
            "timeout_seconds": 900, "headers": {"Host": "x"},
            "auth": {"kind": "api_key", "header": "X", "query": "q", "value": "********"}}),
        );
        let fields: Vec<String> = d.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        for f in [
            "name",
            "base_url",
            "auth",
            "auth.value",
            "headers",
            "max_concurrency",
            "timeout_seconds",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
        assert!(
            serde_json::from_value::<DestinationSpec>(serde_json::json!({"name": "a", "base_url": "https://a",
            "auth": {"kind": "bearer", "token": "t", "extra": 1}}))
            .is_err()
        );
    }

    #[test]
    fn split_masks_every_value_and_joined_restores_them() {
        let d = spec(serde_json::json!({"name": "crm", "base_url": "https://api.example.com",
            "headers": {"X-Tenant": "acme-secret"},
            "auth": {"kind": "oauth2_client_credentials", "token_url": "https://a.example.com/t",
                "client_id": "cid", "client_secret": "shh", "scopes": []}}));
        let (masked, creds) = d.clone().split();
        let text = serde_json::to_string(&masked).unwrap();
        assert!(!text.contains("shh") && !text.contains("acme-secret"), "{text}");
        assert!(text.contains("cid"), "a client id is not a secret");
        assert_eq!(masked.joined(&creds), d);
    }
}
