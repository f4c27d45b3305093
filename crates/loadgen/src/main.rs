//! `switchyard-loadgen`: drives a Switchyard endpoint at a fixed concurrency with unique payloads
//! and reports acknowledgements per second and latency percentiles. Measurement only: it never
//! retries, so every failure shows up in the counts. Each worker owns one keep-alive HTTP/1.1
//! connection driven by bare hyper, so the generator spends as little of the shared CPU as possible.
//!
//! `switchyard-loadgen intake --url http://127.0.0.1:8080/in/bench --concurrency 64 --duration 20`
//! `switchyard-loadgen deliver --api http://127.0.0.1:8080 --key K --endpoints 10 --slow 1`
//! `switchyard-loadgen deliver --api http://127.0.0.1:8080 --key K --target flow --rate 1000`

mod deliver;
mod targets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use switchyard_core::source::{Scheme, VerifySpec};
use switchyard_core::verify::{Outgoing, sign};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Load generator for Switchyard benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// POST unique JSON payloads to an intake URL.
    Intake {
        /// Full URL, e.g. http://127.0.0.1:8080/in/bench
        #[arg(long)]
        url: String,
        /// Requests in flight at all times (one connection each).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Seconds of measured load.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Seconds of unmeasured load first.
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        /// Approximate payload size in bytes.
        #[arg(long, default_value_t = 256)]
        payload_bytes: usize,
        /// Extra header `name:value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
        /// Sample this process's resident memory during the run and report the peak.
        #[arg(long)]
        rss_pid: Option<u32>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Sign every request as Stripe does (`Stripe-Signature`) with this secret.
        #[arg(long)]
        sign_stripe: Option<String>,
        /// Event ids in the bodies: `random` (like real providers' `evt_…` ids, so dedup keys
        /// land on random index pages) or `sequential` (kind to the B-tree; hides that cost).
        #[arg(long, default_value = "random", value_parser = ["random", "sequential"])]
        ids: String,
    },
    /// Publish events and receive their deliveries: deliveries/s and publish→delivered latency.
    Deliver {
        /// The server's base URL, e.g. http://127.0.0.1:8080 (serve it with
        /// --allow-destinations 127.0.0.0/8 so it may call this generator's receiver).
        #[arg(long)]
        api: String,
        /// An API key with the write scope.
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 1)]
        endpoints: usize,
        /// How many of the endpoints answer slowly.
        #[arg(long, default_value_t = 0)]
        slow: usize,
        #[arg(long, default_value_t = 2000)]
        slow_ms: u64,
        /// Each endpoint's max_concurrency.
        #[arg(long, default_value_t = 64)]
        max_concurrency: u32,
        /// Events per second to publish (0: as fast as --concurrency allows).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 20)]
        duration: u64,
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        #[arg(long)]
        rss_pid: Option<u32>,
        #[arg(long)]
        json: bool,
        /// Instead of one measured window: this many bursts, each publishing flat out for
        /// --duration seconds and then waiting until every accepted event is delivered; each
        /// burst reports deliveries per second end to end (publish start → last delivery).
        #[arg(long, default_value_t = 0)]
        bursts: usize,
        /// With --bursts: the receiver holds every request while a burst publishes, so a backlog
        /// builds; the drain rate after it opens shows the queue's claim cost.
        #[arg(long)]
        hold: bool,
        /// What the published events reach: `endpoint` (published through /v1/events to
        /// --endpoints endpoints), `forward` (posted to a source's /in/bench, forwarded to one
        /// endpoint listing the source), `flow` (published; a three-step flow — filter, map, http
        /// to the receiver — runs per event), `source` (posted to /in/bench, nothing attached:
        /// the intake rate alone), `source-flow` (the same with the flow triggered by the source) or
        /// `flow-ordered` (the published-event flow with `ordering` on 1,000 keys).
        #[arg(long, default_value = "endpoint", value_parser = ["endpoint", "forward", "flow", "flow-ordered", "source", "source-flow"])]
        target: String,
    },
}

struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    seq: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    statuses: Mutex<BTreeMap<String, u64>>,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match cli.cmd {
        Cmd::Intake {
            url,
            concurrency,
            duration,
            warmup,
            payload_bytes,
            headers,
            rss_pid,
            json,
            sign_stripe,
            ids,
        } => rt.block_on(intake(
            url,
            concurrency,
            duration,
            warmup,
            payload_bytes,
            headers,
            rss_pid,
            json,
            sign_stripe,
            ids == "random",
        )),
        Cmd::Deliver {
            api,
            key,
            endpoints,
            slow,
            slow_ms,
            max_concurrency,
            rate,
            concurrency,
            duration,
            warmup,
            rss_pid,
            json,
            bursts,
            hold,
            target,
        } => rt.block_on(deliver::deliver(deliver::DeliverArgs {
            api,
            key,
            endpoints,
            slow,
            slow_ms,
            max_concurrency,
            rate,
            concurrency,
            duration,
            warmup,
            rss_pid,
            json,
            bursts,
            hold,
            target: target.parse().expect("a --target value clap checked"),
        })),
    }
}

#[allow(clippy::too_many_arguments)]
async fn intake(
    url: String,
    concurrency: usize,
    duration: u64,
    warmup: u64,
    payload_bytes: usize,
    headers: Vec<String>,
    rss_pid: Option<u32>,
    json: bool,
    sign_stripe: Option<String>,
    random_ids: bool,
) {
    let uri: hyper::Uri = url.parse().expect("a valid --url");
    let authority = uri.authority().expect("--url needs host:port").to_string();
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let extra: Vec<(String, String)> = headers
        .iter()
        .filter_map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(warmup == 0),
        stop: AtomicBool::new(false),
        seq: AtomicU64::new(0),
        hist: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")),
        statuses: Mutex::new(BTreeMap::new()),
    });
    let pad = "x".repeat(payload_bytes.saturating_sub(80));
    let run_id = std::process::id();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let stripe = sign_stripe.clone();
            let (authority, path, shared, pad, extra) = (
                authority.clone(),
                path.clone(),
                shared.clone(),
                pad.clone(),
                extra.clone(),
            );
            tokio::spawn(async move {
                let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                let mut local_status: BTreeMap<String, u64> = BTreeMap::new();
                let mut conn: Option<SendRequest<Full<Bytes>>> = None;
                while !shared.stop.load(Ordering::Relaxed) {
                    let n = shared.seq.fetch_add(1, Ordering::Relaxed);
                    let id = if random_ids {
                        use rand::Rng;
                        let tail: String = rand::thread_rng()
                            .sample_iter(&rand::distributions::Alphanumeric)
                            .take(24)
                            .map(char::from)
                            .collect();
                        format!("evt_{tail}")
                    } else {
                        format!("{run_id}-{n}")
                    };
                    let body = format!(r#"{{"type":"bench.event","id":"{id}","n":{n},"pad":"{pad}"}}"#);
                    let mut req = hyper::Request::post(path.as_str())
                        .header("host", authority.as_str())
                        .header("content-type", "application/json");
                    if let Some(secret) = &stripe {
                        let spec = VerifySpec {
                            scheme: Scheme::Stripe,
                            ..VerifySpec::default()
                        };
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs() as i64)
                            .unwrap_or_default();
                        let out = Outgoing {
                            body: body.as_bytes(),
                            timestamp: now,
                            id: "",
                            url: "",
                            method: "POST",
                        };
                        for (k, v) in sign(&spec, secret, &out).expect("stripe signing cannot fail") {
                            req = req.header(k, v);
                        }
                    }
                    for (k, v) in &extra {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    let req = req.body(Full::new(Bytes::from(body))).expect("a valid request");
                    let t = Instant::now();
                    let outcome = match send(&mut conn, &authority, req).await {
                        Ok(status) => status.to_string(),
                        Err(kind) => kind.to_string(),
                    };
                    if shared.measuring.load(Ordering::Relaxed) {
                        let _ = local.record(t.elapsed().as_micros().max(1) as u64);
                        *local_status.entry(outcome).or_default() += 1;
                    }
                }
                shared.hist.lock().await.add(&local).expect("same histogram bounds");
                let mut all = shared.statuses.lock().await;
                for (k, v) in local_status {
                    *all.entry(k).or_default() += v;
                }
            })
        })
        .collect();
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = rss_pid.map(|pid| {
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
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    shared.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(duration)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    if let Some(s) = sampler {
        s.abort();
    }
    let hist = shared.hist.lock().await;
    let statuses = shared.statuses.lock().await;
    let acks: u64 = statuses
        .iter()
        .filter(|(k, _)| k.starts_with('2'))
        .map(|(_, v)| v)
        .sum();
    let total: u64 = statuses.values().sum();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let peak = peak_rss.load(Ordering::Relaxed);
    if json {
        let summary = serde_json::json!({
            "url": url, "concurrency": concurrency, "seconds": elapsed, "requests": total, "acks": acks,
            "acks_per_second": acks as f64 / elapsed, "statuses": *statuses,
            "latency_ms": {"p50": ms(0.50), "p99": ms(0.99), "p999": ms(0.999), "max": hist.max() as f64 / 1000.0},
            "peak_rss_mib": (peak > 0).then(|| peak as f64 / 1024.0),
        });
        println!("{summary}");
    } else {
        println!("url            {url}");
        println!("concurrency    {concurrency}");
        println!("measured       {elapsed:.1} s, {total} requests");
        println!("statuses       {:?}", *statuses);
        println!("acks/s         {:.0}", acks as f64 / elapsed);
        println!(
            "latency ms     p50 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            ms(0.50),
            ms(0.99),
            ms(0.999),
            hist.max() as f64 / 1000.0
        );
        if peak > 0 {
            println!(
                "peak RSS       {:.1} MiB (pid {})",
                peak as f64 / 1024.0,
                rss_pid.unwrap_or_default()
            );
        }
    }
}

/// Sends one request on the worker's connection, (re)connecting when there is none; returns the
/// status code, or the kind of failure.
async fn send(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    authority: &str,
    req: hyper::Request<Full<Bytes>>,
) -> Result<u16, &'static str> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|_| "connect_error")?;
        let _ = stream.set_nodelay(true);
        let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| "connect_error")?;
        tokio::spawn(driver);
        *conn = Some(sender);
    }
    let Some(sender) = conn.as_mut() else {
        return Err("connect_error");
    };
    if sender.ready().await.is_err() {
        *conn = None;
        return Err("connection_closed");
    }
    match tokio::time::timeout(Duration::from_secs(30), sender.send_request(req)).await {
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let _ = resp.into_body().collect().await;
            Ok(status)
        }
        Ok(Err(_)) => {
            *conn = None;
            Err("connection_error")
        }
        Err(_) => {
            *conn = None;
            Err("timeout")
        }
    }
}

/// Resident set size of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
