//! The connection loop: accepts connections within a cap and serves each with hyper, closing the
//! ones that hold a descriptor without using it. Without this, one unauthenticated client could
//! keep thousands of half-sent requests open and exhaust the process's file descriptors.
//!
//! Invariants kept:
//! - at most [`ConnectionLimits::max_connections`] connections are open; past that the server stops
//!   accepting (new clients wait in the kernel's backlog) until one closes;
//! - a connection must deliver a request's headers within `header_read_timeout`, both as its first
//!   request and between keep-alive requests (hyper's HTTP/1 header timer, plus a watchdog for the
//!   protocol-detection phase before hyper sees any request);
//! - a connection with no request in flight for `idle_timeout` is closed (HTTP/2 included); a
//!   request in flight is bounded by the router's own request timeout instead.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower_service::Service;

use crate::peer::PeerAddr;

/// Bounds on client connections (`--http-*` flags).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers, and to start the next request on a
    /// keep-alive connection.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections at most; the server stops accepting beyond it.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8192,
        }
    }
}

/// Streams whose peer address the router needs (IP allow-lists).
pub trait Accept: Send + 'static {
    type Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn accept(&mut self) -> impl Future<Output = (Self::Io, SocketAddr)> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            match tokio::net::TcpListener::accept(self).await {
                Ok((stream, peer)) => {
                    // Small answers must not wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    return (stream, peer);
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl Accept for crate::tls::TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        crate::tls::TlsListener::next(self).await
    }
}

/// Serves `router` until `shutdown` resolves, then asks every connection to finish gracefully and
/// returns once all have closed. The caller bounds that wait with its grace period.
pub async fn serve<A: Accept>(
    mut listener: A,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_at: Option<Instant> = None;
    loop {
        let permit = if let Ok(p) = permits.clone().try_acquire_owned() {
            p
        } else {
            if warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection limit reached; not accepting until one closes"
                );
                warned_at = Some(Instant::now());
            }
            tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break, // never closed
                },
                () = &mut shutdown => break,
            }
        };
        let (io, peer) = tokio::select! {
            conn = listener.accept() => conn,
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            serve_one(io, peer, router, limits, stop).await;
            drop(permit);
        });
    }
    // Stop listening at once: clients see a refused connection, not a silent backlog.
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection task holds a receiver; all are gone when the last connection closed.
    stop_tx.closed().await;
}

/// What the watchdog knows of a connection's requests.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    seen_request: AtomicBool,
    /// Milliseconds after `opened` when the last request finished.
    last_done_ms: AtomicU64,
}

impl Activity {
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.seen_request.load(Ordering::Acquire) {
            return Some(self.opened + limits.header_read_timeout);
        }
        let last = Duration::from_millis(self.last_done_ms.load(Ordering::Acquire));
        Some(self.opened + last + limits.idle_timeout)
    }

    /// Resolves once the connection has been unused past its deadline.
    async fn expired(&self, limits: &ConnectionLimits) {
        loop {
            match self.deadline(limits) {
                Some(at) if Instant::now() >= at => return,
                Some(at) => tokio::time::sleep_until(at).await,
                // A request in flight is bounded by the router's timeout; look again after it.
                None => tokio::time::sleep(limits.idle_timeout).await,
            }
        }
    }
}

/// Counts a request as in flight until its response head is produced.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.seen_request.store(true, Ordering::Release);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_done_ms.store(ms, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve_one<I>(
    io: I,
    peer: SocketAddr,
    router: axum::Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        in_flight: AtomicUsize::new(0),
        seen_request: AtomicBool::new(false),
        last_done_ms: AtomicU64::new(0),
    });
    let tracker = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let mut router = router.clone();
        let guard = InFlight::start(&tracker);
        req.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
        async move {
            let resp = router.call(req.map(Body::new)).await;
            drop(guard);
            resp.map_err(|e: Infallible| match e {})
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(256);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = stopped(&mut stop), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = activity.expired(&limits), if !closing => {
                tracing::debug!(%peer, "closing an unused connection");
                conn.as_mut().graceful_shutdown();
                // An idle HTTP/2 peer gets its GOAWAY; one that does not close is dropped.
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                return;
            }
        }
    }
}

/// Resolves once the server asked connections to close.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, not held across the caller's awaits.
    let _ = stop.wait_for(|s| *s).await;
}
