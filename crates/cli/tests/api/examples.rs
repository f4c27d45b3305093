//! `examples/form-to-crm` end to end: the built binary with the example's own config file
//! (its `${…}` values from the environment, as `run.sh` sets them) against the fake OAuth2 token
//! endpoint, HubSpot contacts API and Slack webhook. A form becomes one contact and one Slack
//! message with one token; a revoked token is refreshed once on the `401` and the call retried
//! once; a duplicate submission runs nothing; a lead HubSpot refuses (`409`) fails its run at
//! the `contact` step and emits `flow.failed`; no credential or token shows in any run.

use std::time::Duration;

use serde_json::Value;
use switchyard_core::secrets::MasterKey;
use switchyard_testkit::app::{ADMIN_KEY, eventually, get_json};
use switchyard_testkit::fakes::{CLIENT_ID, CLIENT_SECRET, FakeProviders};

use crate::process::start_config_env;

const CONFIG: &str = include_str!("../../../../examples/form-to-crm/switchyard.yaml");

async fn submit(http: &reqwest::Client, base: &str, form: &str) -> Value {
    let resp = http
        .post(format!("{base}/in/website-form"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

async fn run_of(http: &reqwest::Client, base: &str, event_id: &str) -> Value {
    let url = format!("{base}/v1/runs?event={event_id}");
    eventually("the run ends", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let page = get_json(&http, url, ADMIN_KEY).await;
            page["data"][0]["finished_at"].is_string()
        }
    })
    .await;
    let id = get_json(http, url, ADMIN_KEY).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    get_json(http, format!("{base}/v1/runs/{id}"), ADMIN_KEY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_to_crm_example_runs_against_the_fake_providers() {
    switchyard::install_crypto_provider();
    let fakes = FakeProviders::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("example.db").display());
    let key = MasterKey::generate_base64();
    let env = [
        ("HUBSPOT_BASE_URL", fakes.base.clone()),
        ("HUBSPOT_TOKEN_URL", fakes.token_url()),
        ("HUBSPOT_CLIENT_ID", CLIENT_ID.to_string()),
        ("HUBSPOT_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("SLACK_WEBHOOK_URL", fakes.slack_url()),
    ];
    let server = start_config_env(
        &db,
        dir.path(),
        &key,
        &["--allow-destinations", "127.0.0.0/8"],
        CONFIG,
        &env,
    );
    let http = reqwest::Client::new();
    let base = server.base.clone();

    let first = submit(
        &http,
        &base,
        "submission_id=s-1&email=ada%40example.com&first_name=Ada&last_name=Lovelace&company=Analytical",
    )
    .await;
    let run = run_of(&http, &base, first["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let contacts = fakes.contacts();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["properties"]["email"], "ada@example.com");
    assert_eq!(contacts[0]["properties"]["firstname"], "Ada");
    let id = contacts[0]["id"].as_str().unwrap();
    let slack = fakes.slack_messages();
    assert_eq!(slack.len(), 1);
    assert_eq!(
        slack[0]["text"],
        format!("New lead ada@example.com → HubSpot contact {id}")
    );
    assert_eq!(fakes.tokens_issued(), 1);

    // The token is revoked: HubSpot answers 401, the token is refreshed once, the call retried once.
    fakes.revoke_tokens();
    let second = submit(&http, &base, "submission_id=s-2&email=bob%40example.com&first_name=Bob").await;
    let run = run_of(&http, &base, second["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(fakes.tokens_issued(), 2);
    let requests = fakes.contact_requests();
    assert_eq!(requests.len(), 3, "first lead, then the 401 and its one retry");
    assert_eq!(
        requests[1].headers["idempotency-key"],
        requests[2].headers["idempotency-key"]
    );
    assert_ne!(
        requests[1].headers["authorization"],
        requests[2].headers["authorization"]
    );

    // A repeated submission (its submission_id, whatever else changed) runs nothing; a lead
    // HubSpot already has fails at `contact`.
    let dup = submit(
        &http,
        &base,
        "submission_id=s-2&email=bob%40example.com&first_name=Robert",
    )
    .await;
    assert_eq!(dup["status"], "duplicate");
    let third = submit(&http, &base, "submission_id=s-3&email=ada%40example.com").await;
    let failed = run_of(&http, &base, third["id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failed_step"], "contact");
    assert_eq!(failed["error"]["class"], "http_409");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Contact already exists")
    );
    let url = format!("{base}/v1/events?type=flow.failed");
    eventually("flow.failed is published", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            get_json(&http, url, ADMIN_KEY).await["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1)
        }
    })
    .await;
    assert_eq!(fakes.slack_messages().len(), 2);
    assert_eq!(fakes.contacts().len(), 2);

    // No credential or token in any run, destination or event view.
    let mut seen = String::new();
    for path in ["/v1/runs?limit=100", "/v1/destinations", "/v1/events?limit=100"] {
        seen.push_str(&get_json(&http, format!("{base}{path}"), ADMIN_KEY).await.to_string());
    }
    for page in get_json(&http, format!("{base}/v1/runs?limit=100"), ADMIN_KEY).await["data"]
        .as_array()
        .unwrap()
    {
        let id = page["id"].as_str().unwrap();
        seen.push_str(
            &get_json(&http, format!("{base}/v1/runs/{id}"), ADMIN_KEY)
                .await
                .to_string(),
        );
    }
    assert!(!seen.contains(CLIENT_SECRET), "the client secret leaked");
    assert!(!seen.contains("fake_access_token"), "an access token leaked");
    drop(server);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
