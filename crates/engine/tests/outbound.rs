//! The outbound client against local servers that misbehave in each way a receiver can: the
//! SSRF guard, redirects, hangs, resets and oversized answers.

use std::time::Duration;

use switchyard_core::delivery::outcome::TransportError;
use switchyard_core::network::Cidr;
use switchyard_engine::outbound::{EXCERPT_BYTES, OutboundClient, OutboundConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server that answers every connection with `reply` (after reading the request head), or
/// does something worse when `reply` is one of the special words.
async fn server(reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                match reply {
                    "hang" => tokio::time::sleep(Duration::from_secs(30)).await,
                    "reset" => {
                        // Close without answering: the client sees the connection end early.
                        drop(sock);
                    }
                    "big" => {
                        let body = "x".repeat(100_000);
                        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                        let _ = sock.write_all(head.as_bytes()).await;
                        let _ = sock.write_all(body.as_bytes()).await;
                    }
                    _ => {
                        let _ = sock.write_all(reply.as_bytes()).await;
                    }
                }
            });
        }
    });
    port
}

fn client(allow_loopback: bool) -> OutboundClient {
    let cfg = OutboundConfig {
        total_timeout: Duration::from_millis(500),
        allow_destinations: if allow_loopback {
            vec![Cidr::parse("127.0.0.0/8").unwrap()]
        } else {
            vec![]
        },
        ..OutboundConfig::default()
    };
    OutboundClient::new(&cfg).unwrap()
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-seen: yes\r\n\r\nok";

#[tokio::test]
async fn private_destinations_are_refused_by_default() {
    let port = server(OK).await;
    let c = client(false);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://10.0.0.1/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::1]/".to_string(),
        "http://[::ffff:127.0.0.1]/".to_string(),
        // Forms that embed an IPv4 address are judged by it; the literal is refused before any
        // connection is tried (these would route off this machine).
        "http://[::127.0.0.1]/".to_string(),
        "http://[64:ff9b::7f00:1]/".to_string(),
        "http://[64:ff9b::a9fe:a9fe]/".to_string(),
        "http://[2002:a00:1::1]/".to_string(),
        // A hostname resolving to a private address: refused after resolution.
        format!("http://localhost:{port}/"),
    ] {
        let err = c.post(&url, &[], b"{}".to_vec()).await.unwrap_err();
        assert_eq!(err.kind, TransportError::DestinationRefused, "{url}: {}", err.message);
        assert!(err.message.contains("--allow-destinations"), "{}", err.message);
    }
    // Allowed explicitly, the same server answers.
    let ok = client(true)
        .post(&format!("http://localhost:{port}/"), &[], b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        (ok.status, ok.excerpt.as_str(), ok.header("X-Seen")),
        (200, "ok", Some("yes"))
    );
}

#[tokio::test]
async fn redirects_are_answers_not_followed() {
    let port = server("HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n").await;
    let r = client(true)
        .post(&format!("http://127.0.0.1:{port}/"), &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.status, 302);
}

#[tokio::test]
async fn hangs_resets_and_refusals_are_classified() {
    let c = client(true);
    let hang = server("hang").await;
    let e = c
        .post(&format!("http://127.0.0.1:{hang}/"), &[], vec![])
        .await
        .unwrap_err();
    // The hanging server never answers: only the client's own deadline can have ended this.
    assert_eq!(e.kind, TransportError::Timeout, "{}", e.message);
    let reset = server("reset").await;
    let e = c
        .post(&format!("http://127.0.0.1:{reset}/"), &[], vec![])
        .await
        .unwrap_err();
    assert!(matches!(e.kind, TransportError::Io | TransportError::Connect), "{e:?}");
    // Nothing listens on port 1.
    let e = c.post("http://127.0.0.1:1/", &[], vec![]).await.unwrap_err();
    assert_eq!(e.kind, TransportError::Connect, "{}", e.message);
    let e = c.post("http://no-such-host.invalid/", &[], vec![]).await.unwrap_err();
    assert_eq!(e.kind, TransportError::Dns, "{}", e.message);
}

#[tokio::test]
async fn only_an_excerpt_of_the_answer_is_kept() {
    let port = server("big").await;
    let r = client(true)
        .post(&format!("http://127.0.0.1:{port}/"), &[], vec![])
        .await
        .unwrap();
    assert_eq!(r.excerpt.len(), EXCERPT_BYTES);
}
