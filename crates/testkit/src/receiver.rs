//! A local webhook receiver for delivery tests: records every request and answers from a script
//! per path (the last step repeats), the way real receivers misbehave — errors, 429 with
//! `Retry-After`, 410, redirects, hangs and dropped connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub enum Reply {
    /// A status with extra headers and a small body.
    Status(u16, Vec<(&'static str, String)>),
    /// Read the request, then never answer.
    Hang,
    /// Read the request, then close the connection without answering.
    Close,
    /// Answer 200 after this many milliseconds.
    Slow(u64),
    /// A status with a JSON body.
    Json(u16, serde_json::Value),
}

pub fn ok() -> Reply {
    Reply::Status(200, vec![])
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The request target: the path with its query.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub port: u16,
    scripts: Arc<Mutex<HashMap<String, Vec<Reply>>>>,
    log: Arc<Mutex<Vec<Received>>>,
    /// Requests being answered, by `webhook-id` (else `Idempotency-Key`), and how often one
    /// arrived while another with the same id was still being answered.
    active: Arc<Mutex<HashMap<String, usize>>>,
    /// (body substring, answers left): matching requests get a 503 while answers are left.
    failing_bodies: Arc<Mutex<Vec<(String, usize)>>>,
    overlaps: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            port: listener.local_addr().unwrap().port(),
            ..Receiver::default()
        };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { return };
                tokio::spawn(me.clone().serve(sock));
            }
        });
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers on `path` in this order; the last reply repeats.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.scripts.lock().unwrap().insert(path.to_string(), replies);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received `n` requests (or panics after `within`).
    pub async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {n} requests arrived in {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next `times` requests whose body contains `needle` are answered 503, whatever the
    /// path's script says.
    pub fn fail_body(&self, needle: &str, times: usize) {
        self.failing_bodies.lock().unwrap().push((needle.to_string(), times));
    }

    /// How many requests arrived while one with the same `webhook-id` (or, for flow calls,
    /// `Idempotency-Key`) was in progress.
    pub fn concurrent_duplicates(&self) -> usize {
        self.overlaps.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests being answered right now.
    pub fn in_progress(&self) -> usize {
        self.active.lock().unwrap().values().sum()
    }

    fn next_reply(&self, path: &str) -> Reply {
        let mut scripts = self.scripts.lock().unwrap();
        match scripts.get_mut(path) {
            Some(s) if s.len() > 1 => s.remove(0),
            Some(s) => s.first().cloned().unwrap_or_else(ok),
            None => ok(),
        }
    }

    async fn serve(self, sock: tokio::net::TcpStream) {
        let mut reader = BufReader::new(sock);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let method = line.split_whitespace().next().unwrap_or("").to_string();
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            // Scripts and lookups go by path; the query stays in the record.
            let path = target.split('?').next().unwrap_or("/").to_string();
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            // A webhook's identity, or a flow call's: requests that must never overlap.
            let webhook_id = headers
                .get("webhook-id")
                .or_else(|| headers.get("idempotency-key"))
                .cloned()
                .unwrap_or_default();
            {
                let mut active = self.active.lock().unwrap();
                let n = active.entry(webhook_id.clone()).or_insert(0);
                if *n > 0 {
                    self.overlaps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                *n += 1;
            }
            self.log.lock().unwrap().push(Received {
                method,
                path: path.clone(),
                target,
                headers,
                body,
            });
            let body_rule = {
                let mut rules = self.failing_bodies.lock().unwrap();
                let text = String::from_utf8_lossy(&self.log.lock().unwrap().last().unwrap().body).into_owned();
                rules
                    .iter_mut()
                    .find(|(needle, left)| *left > 0 && text.contains(needle.as_str()))
                    .map(|(_, left)| *left -= 1)
                    .is_some()
            };
            let reply = if body_rule {
                Reply::Status(503, vec![])
            } else {
                self.next_reply(&path)
            };
            if let Reply::Slow(ms) = reply {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if let Some(n) = self.active.lock().unwrap().get_mut(&webhook_id) {
                *n -= 1;
            }
            match reply {
                Reply::Slow(_) => {
                    if reader
                        .get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Reply::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                Reply::Close => return,
                Reply::Json(code, value) => {
                    let body = value.to_string();
                    let head = format!(
                        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if reader.get_mut().write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Reply::Status(code, extra) => {
                    let mut head = format!("HTTP/1.1 {code} X\r\ncontent-length: 2\r\n");
                    for (k, v) in extra {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\nok");
                    if reader.get_mut().write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
