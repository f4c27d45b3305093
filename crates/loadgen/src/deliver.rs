//! `switchyard-loadgen deliver`: publish → delivered, end to end. It runs its own receiver (bare
//! hyper, one task per connection), creates endpoints pointing at it (some of them slow, if
//! asked), publishes events through `POST /v1/events` at a fixed rate or as fast as a fixed
//! number of connections allows, and reports deliveries per second, per-endpoint throughput and
//! publish→delivered latency (the payload carries its publish time).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::targets::Target;
use crate::{rss_kib, send};

pub struct DeliverArgs {
    pub api: String,
    pub key: String,
    pub endpoints: usize,
    pub slow: usize,
    pub slow_ms: u64,
    pub max_concurrency: u32,
    pub rate: u64,
    pub concurrency: usize,
    pub duration: u64,
    pub warmup: u64,
    pub rss_pid: Option<u32>,
    pub json: bool,
    pub bursts: usize,
    /// In burst mode: hold every delivery at the receiver while publishing, so each burst
    /// leaves a backlog, then measure how fast it drains.
    pub hold: bool,
    pub target: Target,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

struct Receiver {
    measuring: AtomicBool,
    /// Deliveries received while measuring, per endpoint index.
    counts: Vec<AtomicU64>,
    latency: Mutex<Histogram<u64>>,
    slow: usize,
    slow_ms: u64,
    /// While closed, requests wait for it to open (the `--hold` bursts build a backlog).
    gate: tokio::sync::watch::Receiver<bool>,
}

async fn receive(
    rx: Arc<Receiver>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let index: usize = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if index < rx.slow {
        tokio::time::sleep(Duration::from_millis(rx.slow_ms)).await;
    }
    let _ = rx.gate.clone().wait_for(|open| *open).await;
    if rx.measuring.load(Ordering::Relaxed)
        && let Some(c) = rx.counts.get(index)
    {
        c.fetch_add(1, Ordering::Relaxed);
        if let Ok(v) = serde_json::from_slice::<Value>(&body)
            && let Some(sent) = v["sent_at"].as_u64()
        {
            let _ = rx.latency.lock().await.record(now_micros().saturating_sub(sent).max(1));
        }
    }
    Ok(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
}

async fn start_receiver(rx: Arc<Receiver>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let port = listener.local_addr().expect("receiver address").port();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let rx = rx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| receive(rx.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    port
}

pub async fn api_post(authority: &str, path: &str, key: &str, body: &Value) -> Result<u16, &'static str> {
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    let req = hyper::Request::post(path)
        .header("host", authority)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid request");
    send(&mut conn, authority, req).await
}

/// Workers publishing until `stop`: `published` counts tickets drawn (the pacing clock),
/// `accepted` the events the server acknowledged.
fn publishers(
    a: &DeliverArgs,
    authority: &str,
    stop: &Arc<AtomicBool>,
    published: &Arc<AtomicU64>,
    accepted: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let started_at = Instant::now();
    (0..a.concurrency)
        .map(|_| {
            let (authority, key, stop, published, accepted) = (
                authority.to_string(),
                a.key.clone(),
                stop.clone(),
                published.clone(),
                accepted.clone(),
            );
            let (rate, target) = (a.rate, a.target);
            tokio::spawn(async move {
                let mut conn: Option<SendRequest<Full<Bytes>>> = None;
                while !stop.load(Ordering::Relaxed) {
                    let n = published.fetch_add(1, Ordering::Relaxed);
                    if let Some(offset) = (n * 1_000_000).checked_div(rate) {
                        let due = started_at + Duration::from_micros(offset);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let (path, body) = target.request(json!({"sent_at": now_micros(), "n": n, "pad": "x".repeat(160)}));
                    let req = hyper::Request::post(path)
                        .header("host", authority.as_str())
                        .header("content-type", "application/json")
                        .header("authorization", format!("Bearer {key}"))
                        .body(Full::new(Bytes::from(body)))
                        .expect("a valid request");
                    if matches!(send(&mut conn, &authority, req).await, Ok(200..=299)) {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect()
}

/// Consecutive bursts, each drained before the next: shows whether the queue slows down as it
/// churns (a claim that walks what earlier jobs left behind gets slower burst after burst).
async fn bursts(a: &DeliverArgs, authority: &str, rx: &Arc<Receiver>, gate: tokio::sync::watch::Sender<bool>) {
    rx.measuring.store(true, Ordering::Relaxed);
    let received = || rx.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>();
    let mut results = Vec::new();
    for burst in 1..=a.bursts {
        let before = received();
        if a.hold {
            gate.send_replace(false);
        }
        let (stop, accepted) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let t = Instant::now();
        let workers = publishers(a, authority, &stop, &Arc::new(AtomicU64::new(0)), &accepted);
        tokio::time::sleep(Duration::from_secs(a.duration)).await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = w.await;
        }
        let publish_secs = t.elapsed().as_secs_f64();
        let accepted = accepted.load(Ordering::Relaxed);
        let opened = Instant::now();
        gate.send_replace(true);
        let deadline = Instant::now() + Duration::from_secs(300);
        while a.target.receives() && received() - before < accepted && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let secs = t.elapsed().as_secs_f64();
        let drain_secs = opened.elapsed().as_secs_f64();
        let delivered = received() - before;
        let result = json!({
            "burst": burst, "accepted": accepted, "delivered": delivered,
            "publish_seconds": publish_secs, "drained_after_seconds": secs,
            "published_per_second": accepted as f64 / publish_secs,
            "deliveries_per_second": delivered as f64 / secs,
            "held": a.hold, "drain_seconds": drain_secs, "drained_per_second": delivered as f64 / drain_secs,
        });
        if !a.json {
            print!(
                "burst {burst}: accepted {accepted} in {publish_secs:.1} s ({:.0}/s), delivered {delivered} by {secs:.1} s: {:.0} deliveries/s end to end",
                accepted as f64 / publish_secs,
                delivered as f64 / secs
            );
            if a.hold {
                print!(
                    "; the held backlog drained in {drain_secs:.1} s: {:.0}/s",
                    delivered as f64 / drain_secs
                );
            }
            println!();
        }
        results.push(result);
    }
    if a.json {
        println!("{}", json!({ "bursts": results }));
    }
}

pub async fn deliver(a: DeliverArgs) {
    let uri: hyper::Uri = a.api.parse().expect("a valid --api URL");
    let authority = uri.authority().expect("--api needs host:port").to_string();
    let (gate, gate_rx) = tokio::sync::watch::channel(true);
    let rx = Arc::new(Receiver {
        gate: gate_rx,
        measuring: AtomicBool::new(false),
        counts: (0..a.endpoints).map(|_| AtomicU64::new(0)).collect(),
        latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")),
        slow: a.slow,
        slow_ms: a.slow_ms,
    });
    let port = start_receiver(rx.clone()).await;
    let receiver = format!("http://127.0.0.1:{port}");
    a.target
        .set_up(&authority, &a.key, &receiver, a.endpoints, a.max_concurrency)
        .await;
    if a.bursts > 0 {
        return bursts(&a, &authority, &rx, gate).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let workers = publishers(&a, &authority, &stop, &published, &accepted);
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = a.rss_pid.map(|pid| {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kb) = rss_kib(pid) {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    tokio::time::sleep(Duration::from_secs(a.warmup)).await;
    let published_before = published.load(Ordering::Relaxed);
    let accepted_before = accepted.load(Ordering::Relaxed);
    rx.measuring.store(true, Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(a.duration)).await;
    rx.measuring.store(false, Ordering::Relaxed);
    let secs = t.elapsed().as_secs_f64();
    let published_during = published.load(Ordering::Relaxed) - published_before;
    let accepted_during = accepted.load(Ordering::Relaxed) - accepted_before;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.abort();
    }
    if let Some(s) = sampler {
        s.abort();
    }
    let counts: Vec<u64> = rx.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    let healthy: Vec<u64> = counts[a.slow.min(counts.len())..].to_vec();
    let healthy_avg = healthy.iter().sum::<u64>() as f64 / healthy.len().max(1) as f64 / secs;
    let hist = rx.latency.lock().await;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let peak = peak_rss.load(Ordering::Relaxed);
    let summary = json!({
        "endpoints": a.endpoints, "slow_endpoints": a.slow, "slow_ms": a.slow_ms,
        "target": format!("{:?}", a.target), "publish_rate_target": a.rate,
        "published_per_second": published_during as f64 / secs, "accepted_per_second": accepted_during as f64 / secs,
        "seconds": secs, "deliveries": total, "deliveries_per_second": total as f64 / secs,
        "per_healthy_endpoint_per_second": healthy_avg,
        "latency_ms": {"p50": ms(0.50), "p99": ms(0.99), "p999": ms(0.999), "max": hist.max() as f64 / 1000.0},
        "peak_rss_mib": (peak > 0).then(|| peak as f64 / 1024.0),
    });
    if a.json {
        println!("{summary}");
    } else {
        println!(
            "endpoints          {} ({} slow, answering in {} ms)",
            a.endpoints, a.slow, a.slow_ms
        );
        println!("target             {:?}", a.target);
        println!("published/s        {:.0}", published_during as f64 / secs);
        println!("accepted/s         {:.0}", accepted_during as f64 / secs);
        println!("deliveries/s       {:.0} ({total} in {secs:.1} s)", total as f64 / secs);
        println!("per healthy ep/s   {healthy_avg:.0}");
        println!(
            "publish→delivered  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            ms(0.50),
            ms(0.99),
            ms(0.999),
            hist.max() as f64 / 1000.0
        );
        if peak > 0 {
            println!("peak RSS           {:.1} MiB", peak as f64 / 1024.0);
        }
    }
}
