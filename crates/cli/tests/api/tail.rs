//! Following what happens (issue 11, `events tail`): `GET /v1/events/stream` sends new events and
//! run outcomes as server-sent events, filtered by source; `switchyard events tail` prints them
//! as they come. On SQLite and PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_testkit::app::{ADMIN_KEY, TestApp};
use switchyard_testkit::backend_tests;

use crate::flows::flow;
use crate::process::BIN;

backend_tests!(
    the_stream_follows_new_events_and_run_outcomes,
    the_cli_tails_events_as_lines
);

/// Reads the stream until `want` holds for the messages so far (`(event, data)`), or 20 s pass.
async fn read_until(resp: &mut reqwest::Response, want: impl Fn(&[(String, Value)]) -> bool) -> Vec<(String, Value)> {
    let mut messages = Vec::new();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !want(&messages) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("the stream went quiet");
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream ended")));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let event = frame
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(|e| e.trim().to_string());
            let data = frame.lines().find_map(|l| l.strip_prefix("data:")).map(str::trim);
            if let (Some(event), Some(data)) = (event, data) {
                messages.push((event, serde_json::from_str(data).unwrap()));
            }
        }
    }
    messages
}

async fn the_stream_follows_new_events_and_run_outcomes(app: TestApp) {
    app.create_source(json!({"name": "shop"})).await;
    app.create_source(json!({"name": "other"})).await;
    assert_eq!(
        app.send("shop", &json!({"type": "old"})).await.status(),
        202,
        "before: not sent"
    );
    flow(
        &app,
        json!({"name": "echo", "trigger": {"manual": true}, "steps": [{"id": "m", "map": "."}]}),
    )
    .await;
    let mut all = app
        .http
        .get(app.url("/v1/events/stream"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 200);
    assert!(
        all.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut shop_only = app
        .http
        .get(app.url("/v1/events/stream?source=shop&runs=false"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let other = app
        .send("other", &json!({"type": "o.created"}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let shop = app
        .send("shop", &json!({"type": "s.created"}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let run = app.api_post("/v1/flows/echo/runs", &json!({"payload": {"n": 1}})).await;
    let run: Value = run.json().await.unwrap();
    let seen = read_until(&mut all, |m| {
        m.iter()
            .any(|(e, d)| e == "run" && d["id"] == run["id"] && d["status"] == "succeeded")
    })
    .await;
    let events: Vec<&Value> = seen
        .iter()
        .filter(|(e, _)| e == "event")
        .map(|(_, d)| &d["id"])
        .collect();
    assert_eq!(
        events.first(),
        Some(&&other["id"]),
        "in commit order, from the connection on"
    );
    assert!(events.contains(&&shop["id"]) && events.contains(&&run["event_id"]));
    assert!(!seen.iter().any(|(_, d)| d["type"] == "old"));
    let filtered = read_until(&mut shop_only, |m| m.iter().any(|(_, d)| d["id"] == shop["id"])).await;
    assert!(
        filtered.iter().all(|(e, d)| e == "event" && d["source"] == "shop"),
        "{filtered:?}"
    );
    let denied = app.http.get(app.url("/v1/events/stream")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
}

async fn the_cli_tails_events_as_lines(app: TestApp) {
    app.create_source(json!({"name": "shop"})).await;
    let mut child = Command::new(BIN)
        .args([
            "events", "tail", "--json", "--source", "shop", "--url", &app.base, "--key", ADMIN_KEY,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The tail connects in the background: send until one of ours shows.
    let mut sent = Vec::new();
    let line = loop {
        let n = sent.len();
        let e = app
            .send("shop", &json!({"type": "s.created", "n": n}))
            .await
            .json::<Value>()
            .await
            .unwrap();
        sent.push(e["id"].clone());
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(700)) {
            break line;
        }
        assert!(sent.len() < 30, "the tail printed nothing");
    };
    let _ = child.kill();
    let _ = child.wait();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["kind"], "event");
    assert!(sent.contains(&v["data"]["id"]), "{line}");
    assert_eq!(v["data"]["source"], "shop");
}
