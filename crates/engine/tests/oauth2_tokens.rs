//! OAuth2 client credentials against a local token endpoint that answers as RFC 6749 §4.4/§5
//! describes: one token request for fifty concurrent callers, one refresh for many callers
//! rejected with the same token, and a refused client classified without leaking the secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_core::network::Cidr;
use switchyard_engine::destinations::oauth2::{ClientCredentials, TokenCache, TokenError};
use switchyard_engine::outbound::{OutboundClient, OutboundConfig, install_crypto_provider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers every request: a fresh `tok_N` for client `cid:shh` (HTTP Basic), `401 invalid_client`
/// otherwise. Counts requests; checks the grant type and scope are form-encoded.
async fn token_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let issued = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let issued = issued.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers and the short form body arrive together or soon after.
                while !String::from_utf8_lossy(&buf).contains("grant_type=") {
                    let n = sock.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let req = String::from_utf8_lossy(&buf).to_lowercase();
                let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                // base64("cid:shh") = Y2lkOnNoaA==
                let (status, body) = if req.contains("authorization: basic y2lkonnoaa==")
                    && req.contains("grant_type=client_credentials&scope=crm.write+crm.read")
                    && req.contains("content-type: application/x-www-form-urlencoded")
                {
                    (
                        "200 OK",
                        format!(r#"{{"access_token":"tok_{n}","token_type":"bearer","expires_in":3600}}"#),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"error":"invalid_client","error_description":"unknown client"}"#.to_string(),
                    )
                };
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, count)
}

fn cache() -> Arc<TokenCache> {
    install_crypto_provider();
    let client = OutboundClient::new(&OutboundConfig {
        allow_destinations: vec![Cidr::parse("127.0.0.0/8").unwrap()],
        ..OutboundConfig::default()
    })
    .unwrap();
    Arc::new(TokenCache::new(client))
}

fn creds(url: &str, secret: &str) -> ClientCredentials {
    ClientCredentials {
        token_url: url.into(),
        client_id: "cid".into(),
        client_secret: secret.into(),
        scopes: vec!["crm.write".into(), "crm.read".into()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_cause_one_token_request() {
    let (url, count) = token_endpoint().await;
    let cache = cache();
    let c = creds(&url, "shh");
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (cache, c) = (cache.clone(), c.clone());
            tokio::spawn(async move { cache.token(&c).await.unwrap() })
        })
        .collect();
    for call in calls {
        assert_eq!(&*call.await.unwrap(), "tok_1");
    }
    assert_eq!(count.load(Ordering::SeqCst), 1, "single flight");
    // Cached: no new request.
    assert_eq!(&*cache.token(&c).await.unwrap(), "tok_1");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_refreshed_once_for_everyone_rejected_with_it() {
    let (url, count) = token_endpoint().await;
    let cache = cache();
    let c = creds(&url, "shh");
    let first = cache.token(&c).await.unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (cache, c, first) = (cache.clone(), c.clone(), first.clone());
            tokio::spawn(async move { cache.refresh_rejected(&c, &first).await.unwrap() })
        })
        .collect();
    for call in calls {
        assert_eq!(&*call.await.unwrap(), "tok_2");
    }
    assert_eq!(count.load(Ordering::SeqCst), 2, "one refresh for twenty 401s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_is_a_classified_error_without_the_secret() {
    let (url, _) = token_endpoint().await;
    let err = cache().token(&creds(&url, "wrong-secret-value")).await.unwrap_err();
    assert_eq!(
        err,
        TokenError::Refused {
            status: 401,
            error: "invalid_client".into(),
            description: Some("unknown client".into()),
        }
    );
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("wrong-secret-value"));
    // An unreachable endpoint is transient.
    let err = cache().token(&creds("http://127.0.0.1:9/t", "shh")).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}
