//! Log lines (SPEC §5) from the built binary: one JSON object per line, carrying the ids of what
//! they are about, at the level their meaning calls for — DEBUG for detail (an attempt or a run
//! that went well), WARN for a retry, ERROR for what needs a human (a delivery that ended
//! undelivered, a run that failed).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::secrets::MasterKey;
use switchyard_testkit::app::eventually;
use switchyard_testkit::receiver::{Receiver, Reply};

use crate::secrets::{BOOT, start};

fn lines(logs: &Arc<Mutex<Vec<String>>>) -> Vec<Value> {
    let logs = logs.lock().unwrap();
    logs.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn find<'a>(lines: &'a [Value], message: &str, id_field: &str, id: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l["message"] == message && l[id_field] == id)
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let resp = http.post(url).bearer_auth(BOOT).json(&body).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_their_ids_at_the_level_their_meaning_calls_for() {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("logs.db").display());
    let logs = Arc::new(Mutex::new(Vec::new()));
    let server = start(&db, dir.path(), &MasterKey::generate_base64(), logs.clone());
    let api = |path: &str| format!("{}{path}", server.base);
    let http = reqwest::Client::new();
    let rx = Receiver::start().await;
    rx.script("/flaky", vec![Reply::Status(500, vec![]), Reply::Status(200, vec![])]);
    rx.script("/bad", vec![Reply::Status(400, vec![])]);
    let retry = json!({"retry_schedule_seconds": [0, 0, 0]});
    let mut flaky = json!({"url": rx.url("/flaky"), "event_types": ["a.*"]});
    flaky
        .as_object_mut()
        .unwrap()
        .extend(retry.as_object().unwrap().clone());
    post(&http, api("/v1/endpoints"), flaky).await;
    post(
        &http,
        api("/v1/endpoints"),
        json!({"url": rx.url("/bad"), "event_types": ["b.*"]}),
    )
    .await;
    post(
        &http,
        api("/v1/destinations"),
        json!({"name": "api", "base_url": rx.url("")}),
    )
    .await;
    post(
        &http,
        api("/v1/flows"),
        json!({"name": "strict", "trigger": {"manual": true},
               "steps": [{"id": "call", "http": {"destination": "api", "path": "/bad", "body": "{}"}}]}),
    )
    .await;
    let a = post(&http, api("/v1/events"), json!({"type": "a.x", "payload": {}})).await;
    let b = post(&http, api("/v1/events"), json!({"type": "b.x", "payload": {}})).await;
    let run = post(&http, api("/v1/flows/strict/runs"), json!({"payload": {}})).await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let run_id = run["id"].as_str().unwrap();
    rx.wait_for("/flaky", 2, Duration::from_secs(15)).await;
    eventually("the outcomes are logged", || {
        let logs = logs.clone();
        async move {
            let l = lines(&logs);
            find(&l, "delivery attempt succeeded", "event_id", a_id).is_some()
                && find(
                    &l,
                    "delivery ended undelivered; replay it once the endpoint is fixed",
                    "event_id",
                    b_id,
                )
                .is_some()
                && find(&l, "flow run ended", "run_id", run_id).is_some()
        }
    })
    .await;
    let l = lines(&logs);
    let retried = find(&l, "delivery attempt failed; retry scheduled", "event_id", a_id).expect("the retry is logged");
    assert_eq!(retried["level"], "WARN");
    assert_eq!(retried["status_code"], 500);
    let delivered = find(&l, "delivery attempt succeeded", "event_id", a_id).unwrap();
    assert_eq!(delivered["level"], "DEBUG");
    assert_eq!(
        delivered["delivery_id"], retried["delivery_id"],
        "both lines name the delivery"
    );
    assert!(retried["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    let dead = find(
        &l,
        "delivery ended undelivered; replay it once the endpoint is fixed",
        "event_id",
        b_id,
    )
    .unwrap();
    assert_eq!(
        (dead["level"].as_str(), dead["status_code"].as_i64()),
        (Some("ERROR"), Some(400))
    );
    let failed = find(&l, "flow run ended", "run_id", run_id).unwrap();
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["event_id"], run["event_id"]);
    assert_eq!(
        (failed["failed_step"].as_str(), failed["error_class"].as_str()),
        (Some("call"), Some("http_400"))
    );
    drop(server);
}
