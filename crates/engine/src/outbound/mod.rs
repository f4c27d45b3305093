//! The one outbound HTTP client for everything that calls out (webhook deliveries, flow `http`
//! steps, OAuth2 token requests). Invariants: redirects are never followed; connect and total timeouts always
//! apply; at most [`EXCERPT_BYTES`] of a response body are kept; and no request reaches a
//! refused address (see `switchyard_core::delivery::destination`), because every host is
//! resolved here and only checked addresses are handed to the connector — DNS rebinding between
//! check and connect is impossible, and IP literals are checked before sending.

mod resolver;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_core::delivery::outcome::TransportError;
use switchyard_core::network::Cidr;

pub use resolver::GuardedResolver;

/// Response bytes kept for the attempt log.
pub const EXCERPT_BYTES: usize = 4096;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(15);

/// rustls needs exactly one process-wide crypto provider; we use ring (sqlx's choice too).
/// Call before any HTTPS client is built — `main` and every test binary that makes requests.
/// [`OutboundClient::new`] calls it, so the client can never panic for want of one.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    /// Address blocks that may be called although the SSRF guard refuses them by default.
    pub allow_destinations: Vec<Cidr>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            allow_destinations: Vec::new(),
        }
    }
}

/// What came back from one request.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The first [`EXCERPT_BYTES`] of the body, lossily decoded.
    pub excerpt: String,
    pub duration: Duration,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: TransportError,
    /// Safe to record: it names the host or address, never a header or body.
    pub message: String,
    pub duration: Duration,
}

#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    allow: Arc<Vec<Cidr>>,
}

impl OutboundClient {
    pub fn new(cfg: &OutboundConfig) -> Result<Self, String> {
        install_crypto_provider();
        let allow = Arc::new(cfg.allow_destinations.clone());
        let http = reqwest::Client::builder()
            .user_agent(concat!("Switchyard/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.total_timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            // An idle keep-alive connection holds buffers; after a burst they go within 15 s
            // (reqwest keeps them 90 s). Under steady traffic connections stay in use.
            .pool_idle_timeout(std::time::Duration::from_secs(15))
            .dns_resolver(GuardedResolver::new(allow.clone()))
            .build()
            .map_err(|e| format!("cannot build the outbound HTTP client: {e}"))?;
        Ok(OutboundClient { http, allow })
    }

    /// POSTs `body` to `url` with `headers`, keeping an excerpt of the answer. Never follows a
    /// redirect: a 3xx is returned as is.
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Result<Response, Failure> {
        self.send(Request {
            method: "POST",
            url,
            headers,
            body: Some(body),
            timeout: None,
            keep_bytes: EXCERPT_BYTES,
        })
        .await
    }

    /// Sends one request. The answer keeps at most `keep_bytes` of the body.
    pub async fn send(&self, r: Request<'_>) -> Result<Response, Failure> {
        let began = Instant::now();
        let fail = |kind, message: String| Failure {
            kind,
            message,
            duration: began.elapsed(),
        };
        let parsed = reqwest::Url::parse(r.url).map_err(|e| fail(TransportError::InvalidRequest, e.to_string()))?;
        // IP literals never reach the resolver, so they are checked here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Some(why) = switchyard_core::delivery::destination::refused(ip, &self.allow)
        {
            return Err(fail(
                TransportError::DestinationRefused,
                format!("{ip} is {why}; allow it with --allow-destinations"),
            ));
        }
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(|_| {
            fail(
                TransportError::InvalidRequest,
                format!("{} is not an HTTP method", r.method),
            )
        })?;
        let mut req = self.http.request(method, parsed);
        if let Some(body) = r.body {
            req = req.body(body);
        }
        if let Some(t) = r.timeout {
            req = req.timeout(t);
        }
        for (k, v) in r.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = req.send().await.map_err(|e| {
            let (kind, message) = classify(&e);
            fail(kind, message)
        })?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let mut kept = Vec::new();
        // A body that breaks off after the status arrived does not change the answer.
        while kept.len() < r.keep_bytes {
            match resp.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(r.keep_bytes - kept.len())]),
                _ => break,
            }
        }
        Ok(Response {
            status,
            headers,
            excerpt: String::from_utf8_lossy(&kept).into_owned(),
            duration: began.elapsed(),
        })
    }
}

/// One outbound request.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<Vec<u8>>,
    /// Shorter than the client's own total timeout (a destination's `timeout_seconds`).
    pub timeout: Option<Duration>,
    /// Response body bytes kept (the rest is not read).
    pub keep_bytes: usize,
}

/// Maps a reqwest error to a transport class, looking through its causes for the resolver's.
fn classify(e: &reqwest::Error) -> (TransportError, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<resolver::ResolveError>() {
            return match r {
                resolver::ResolveError::Refused(m) => (TransportError::DestinationRefused, m.clone()),
                resolver::ResolveError::Lookup(m) => (TransportError::Dns, m.clone()),
            };
        }
        source = s.source();
    }
    let host = e
        .url()
        .and_then(|u| u.host_str())
        .unwrap_or("the destination")
        .to_string();
    if e.is_timeout() {
        (TransportError::Timeout, format!("{host} did not answer in time"))
    } else if e.is_connect() {
        (TransportError::Connect, format!("cannot connect to {host}"))
    } else if e.is_builder() {
        (
            TransportError::InvalidRequest,
            format!("the request to {host} could not be built"),
        )
    } else {
        (
            TransportError::Io,
            format!("the connection to {host} failed mid-exchange"),
        )
    }
}
