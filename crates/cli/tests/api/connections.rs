//! Client connections are bounded: half-sent requests and idle keep-alive connections are closed,
//! and beyond the connection cap the server stops accepting instead of running out of descriptors.
//! These are properties of the HTTP layer, not of storage, so they run on SQLite only.

use std::time::Duration;

use switchyard_server::connections::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, Options, TestApp};

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

/// Reads until the server closes the connection; returns what it sent before that.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    got
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
