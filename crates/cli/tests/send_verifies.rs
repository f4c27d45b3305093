//! `switchyard send` output, as a server receives it, verified by the providers' own libraries
//! (Python SDKs and @octokit/webhooks-methods, run as child processes). Without the libraries
//! the check is skipped with a note, unless `SWITCHYARD_TEST_PROVIDER_LIBS=1` (set by `.ci/run`,
//! which installs them) or `CI=true` makes their absence a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;

use serde_json::{Value, json};

/// A request as received: path and query, headers, body.
type Captured = (String, Vec<(String, String)>, String);

/// Accepts one request per connection and reports it.
fn capture_server() -> (u16, mpsc::Receiver<Captured>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            tx.send((target, headers, String::from_utf8(body).unwrap())).unwrap();
        }
    });
    (port, rx)
}

#[test]
fn send_output_verifies_with_provider_libraries() {
    let (port, rx) = capture_server();
    let json_body = r#"{"id":"evt_1","type":"payment.succeeded","event_id":"ev_1","note":"Crème brûlée & more"}"#;
    let form_body = "Body=Hello+from+Switchyard%21+%C3%A9&From=%2B14155550100&To=%2B14155550123";
    let form = "application/x-www-form-urlencoded";
    let cases = [
        (
            "stripe",
            "whsec_test_secret_for_send",
            json_body,
            "application/json",
            "",
        ),
        (
            "slack",
            "8f742231b10e8888abcd99yyyzzz85a5",
            json_body,
            "application/json",
            "",
        ),
        ("twilio", "12345", form_body, form, "form"),
        ("twilio", "12345", json_body, "application/json", "json"),
        (
            "standard-webhooks",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            json_body,
            "application/json",
            "",
        ),
        ("square", "Wl7nG0p9Yt3xQk2VbR8sHc", json_body, "application/json", ""),
        (
            "paddle",
            "pdl_ntfset_01jswydtest_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI",
            json_body,
            "application/json",
            "",
        ),
        ("hubspot", "hubspot-client-secret", json_body, "application/json", ""),
        (
            "github",
            "It's a Secret to Everybody",
            json_body,
            "application/json",
            "",
        ),
    ];
    let mut captured = Vec::new();
    for (scheme, secret, body, content_type, label) in cases {
        let url = format!("http://127.0.0.1:{port}/in/{scheme}?tenant=acme");
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "send", "--scheme", scheme, "--secret", secret, "--url", &url, "--data", body,
            ])
            .args(["--content-type", content_type])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{scheme}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (target, headers, received) = rx.recv().unwrap();
        assert_eq!(received, body, "{scheme}: the body arrives byte for byte");
        let headers: serde_json::Map<String, Value> = headers.into_iter().map(|(k, v)| (k, json!(v))).collect();
        captured.push(json!({
            "scheme": scheme, "label": label, "secret": secret, "method": "POST",
            // The URL the provider library is told it was called at: what the server received.
            "url": format!("http://127.0.0.1:{port}{target}"),
            "headers": headers, "body": received,
        }));
    }
    // Controls: each request again with its body changed must be rejected by the same library,
    // which shows the libraries really check what they are given.
    let controls: Vec<Value> = captured
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c["body"] = json!(format!("{} ", c["body"].as_str().unwrap()));
            c["label"] = json!(format!("{} tampered", c["label"].as_str().unwrap()));
            c["expect"] = json!("reject");
            c
        })
        .collect();
    captured.extend(controls);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("captured.json");
    std::fs::write(&file, serde_json::to_vec(&captured).unwrap()).unwrap();
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/provider_libs");
    // CI (which sets CI=true) and `.ci/run` require the libraries: their absence is a failure
    // there, never a silent pass.
    let required = std::env::var("SWITCHYARD_TEST_PROVIDER_LIBS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    for (program, script) in [("python3", "verify_sent.py"), ("node", "verify_sent_octokit.mjs")] {
        let run = Command::new(program)
            .arg(format!("{here}/{script}"))
            .arg(&file)
            .output();
        let out = match run {
            Ok(out) => out,
            Err(e) if !required => {
                eprintln!("note: provider-library check via {program} skipped: {e}");
                continue;
            }
            Err(e) => panic!("{program} cannot run: {e}"),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        match out.status.code() {
            Some(0) => eprint!("{stdout}"),
            Some(3) if !required => {
                eprintln!(
                    "note: provider-library check skipped ({}); set up as .ci/run does",
                    stdout.trim()
                );
            }
            _ => panic!("{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
        }
    }
}
