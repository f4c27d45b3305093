//! Client connections are bounded: half-sent requests and idle keep-alive connections are closed,
//! and beyond the connection cap the server stops accepting instead of running out of descriptors.
//! Oversized bodies are refused from their declared length, and a body that stalls after passing
//! the limit is still a 413. These are properties of the HTTP layer, not of storage, so they run
//! on SQLite only.

use std::time::Duration;

use switchyard_server::connections::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use switchyard_testkit::app::{Backend, Options, TestApp};

/// Guards against a hang only; nothing is asserted about how long closing takes.
const HANG_GUARD: Duration = Duration::from_secs(60);

async fn app_with(limits: ConnectionLimits) -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            connections: Some(limits),
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads until `done` holds for what arrived, or the server closes the connection; `None` when
/// neither happened within the hang guard.
async fn read_until(stream: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(HANG_GUARD, async {
        while !done(&got) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| got)
}

/// Reads until the server closes the connection; returns what it sent before that.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    read_until(stream, |_| false)
        .await
        .expect("the server never closed the connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_and_silent_connections_are_closed() {
    let app = app_with(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_connections: 10_000,
    })
    .await;
    let mut conns = Vec::new();
    for i in 0..300 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        match i % 3 {
            // Headers that never end.
            0 => s
                .write_all(b"POST /in/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
                .await
                .unwrap(),
            // Only the request line, unfinished.
            1 => s.write_all(b"GET /healthz HT").await.unwrap(),
            // Nothing at all.
            _ => {}
        }
        conns.push(s);
    }
    let closed = futures::future::join_all(conns.iter_mut().map(read_to_close)).await;
    for got in closed {
        // hyper may answer 408 before closing; it must never have served the request.
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 408"),
            "unexpected answer: {text}"
        );
    }
    // The server still serves new clients.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let app = app_with(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        max_connections: 100,
    })
    .await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let got = read_to_close(&mut s).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the request was answered first: {text}"
    );
    assert_eq!(
        text.matches("HTTP/1.1").count(),
        1,
        "one answer, then the close: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_new_connections_wait_for_a_free_slot() {
    let app = app_with(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(60),
        max_connections: 2,
    })
    .await;
    // Two silent connections take both slots.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // A third client is queued by the kernel; it is served once a slot frees, i.e. after the
    // server closed a silent connection for sending no request.
    let mut third = TcpStream::connect(addr(&app)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = read_to_close(&mut third).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    // Ordering evidence: at least one silent connection's close had already arrived.
    let mut closed = 0;
    for s in &mut silent {
        let mut buf = [0u8; 64];
        if matches!(s.try_read(&mut buf), Ok(0)) {
            closed += 1;
        }
    }
    assert!(closed >= 1, "the third client was served while both slots were held");
}

/// Sends `head` (and `body`) raw, then returns the status line of the answer.
async fn raw_status(app: &TestApp, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr(app)).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    // The client never finishes its body; the answer must come anyway.
    let got = read_until(&mut s, |got| got.windows(2).any(|w| w == b"\r\n"))
        .await
        .unwrap_or_else(|| panic!("no answer to {head:?}"));
    let text = String::from_utf8_lossy(&got).to_string();
    text.lines().next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_oversized_bodies_are_413_before_any_byte_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.create_source(serde_json::json!({"name": "small", "max_body_bytes": 100}))
        .await;
    // Intake: the source's limit, from the declared length alone.
    let status = raw_status(
        &app,
        "POST /in/small HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n",
        b"{",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // The management API: its own limit, also before reading.
    let status = raw_status(
        &app,
        &format!(
            "POST /v1/sources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
            switchyard_testkit::app::ADMIN_KEY
        ),
        b"{",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // A chunked body that passes the limit and then stalls is still a 413, not a timeout.
    let chunk = format!("{{\"pad\":\"{}\"}}", "x".repeat(200));
    let status = raw_status(
        &app,
        "POST /in/small HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes(),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // Each refusal leaves a receipt (written after the answer, so wait for them).
    switchyard_testkit::app::eventually("two 413 receipts", || async {
        let receipts: serde_json::Value = app.api_get("/v1/receipts?source=small").await.json().await.unwrap();
        let data = receipts["data"].as_array().unwrap();
        data.iter().filter(|r| r["status_code"] == 413).count() == 2
    })
    .await;
}
