//! The examples of issue 12, end to end as their `run.sh` runs them: the built binary, each
//! example's `switchyard.yaml` applied with `switchyard apply` (its `${…}` from the
//! environment), the provider's signed webhook sent with `switchyard send`, and the fake
//! services (documented request and response shapes, `switchyard_testkit::fakes`) checking what
//! arrived.

use std::path::{Path, PathBuf};

use serde_json::Value;
use switchyard_core::secrets::MasterKey;
use switchyard_testkit::app::{ADMIN_KEY, eventually, get_json};
use switchyard_testkit::fakes::{FULFILMENT_TOKEN, FakeProviders, MAILCHIMP_KEY, SENDGRID_KEY, subscriber_hash};

use crate::process::{Server, run, start_with};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

struct Example {
    server: Server,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// A server with nothing declared, then the example applied through its API.
async fn applied(name: &str, env: &[(&str, String)]) -> Example {
    applied_with(name, |_| env.to_vec()).await
}

/// [`applied`] with an environment that may name the server's address (known once it listens).
async fn applied_with<'a>(name: &str, env: impl FnOnce(&str) -> Vec<(&'a str, String)>) -> Example {
    switchyard::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("example.db").display());
    let server = start_with(
        &db,
        dir.path(),
        &MasterKey::generate_base64(),
        &["--allow-destinations", "127.0.0.0/8"],
    );
    let file = example(name).join("switchyard.yaml").display().to_string();
    let mut args = vec![
        "apply".to_string(),
        "-f".into(),
        file,
        "--url".into(),
        server.base.clone(),
    ];
    args.extend(["--key".into(), ADMIN_KEY.into()]);
    let env = env(&server.base);
    let out = cli(args, &env, dir.path()).await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied."));
    Example {
        server,
        dir,
        http: reqwest::Client::new(),
    }
}

async fn cli(args: Vec<String>, env: &[(&str, String)], dir: &Path) -> std::process::Output {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&args, &env, &dir)
    })
    .await
    .unwrap()
}

impl Example {
    /// `switchyard send` as the provider would sign it.
    async fn send(&self, scheme: &str, secret: &str, source: &str, file: PathBuf, extra: &[&str]) {
        let mut args: Vec<String> = ["send", "--scheme", scheme, "--secret", secret]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--url".into(), format!("{}/in/{source}", self.server.base)]);
        args.extend(["--data".into(), format!("@{}", file.display())]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = cli(args, &[], self.dir.path()).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("202"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The flow's newest run once it ended.
    async fn ended_run(&self, flow: &str) -> Value {
        let url = format!("{}/v1/runs?flow={flow}", self.server.base);
        eventually("the run ends", || {
            let (http, url) = (self.http.clone(), url.clone());
            async move { get_json(&http, url, ADMIN_KEY).await["data"][0]["finished_at"].is_string() }
        })
        .await;
        let id = get_json(&self.http, url, ADMIN_KEY).await["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        get_json(&self.http, format!("{}/v1/runs/{id}", self.server.base), ADMIN_KEY).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_checkout_becomes_an_order_and_an_email() {
    let fakes = FakeProviders::start().await;
    let secret = "whsec_example_0123456789";
    let ex = applied(
        "stripe-fulfilment",
        &[
            ("STRIPE_WEBHOOK_SECRET", secret.into()),
            ("FULFILMENT_BASE_URL", fakes.base.clone()),
            ("FULFILMENT_TOKEN", FULFILMENT_TOKEN.into()),
            ("SENDGRID_BASE_URL", fakes.base.clone()),
            ("SENDGRID_API_KEY", SENDGRID_KEY.into()),
        ],
    )
    .await;
    let event = example("stripe-fulfilment").join("checkout.session.completed.json");
    ex.send("stripe", secret, "stripe", event, &[]).await;
    let run = ex.ended_run("checkout-to-fulfilment").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let orders = fakes.accepted("fulfilment");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].body["order_id"], "cs_test_a1B2c3D4e5");
    assert_eq!(orders[0].body["items"][0]["sku"], "ENGINE-NOTES-1843");
    assert_eq!(orders[0].body["items"][0]["quantity"], 2);
    assert_eq!(orders[0].body["ship_to"]["address"]["city"], "London");
    assert!(orders[0].headers["idempotency-key"].starts_with("swy_"));
    let mails = fakes.accepted("sendgrid");
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].body["personalizations"][0]["to"][0]["email"],
        "ada@example.com"
    );
    let text = mails[0].body["content"][0]["value"].as_str().unwrap();
    assert!(
        text.contains("ful_0001") && text.contains("cs_test_a1B2c3D4e5"),
        "{text}"
    );
    let shown = run.to_string();
    assert!(!shown.contains(FULFILMENT_TOKEN) && !shown.contains(SENDGRID_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_pull_request_is_announced_in_slack() {
    let fakes = FakeProviders::start().await;
    let secret = "github-example-secret";
    let ex = applied(
        "github-pr-to-slack",
        &[
            ("GITHUB_WEBHOOK_SECRET", secret.into()),
            ("SLACK_WEBHOOK_URL", fakes.slack_url()),
        ],
    )
    .await;
    let event = example("github-pr-to-slack").join("pull_request.opened.json");
    ex.send(
        "github",
        secret,
        "github",
        event,
        &["--header", "X-GitHub-Event:pull_request"],
    )
    .await;
    let run = ex.ended_run("pr-to-slack").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let messages = fakes.slack_messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["text"],
        "PR #42 opened <https://github.com/acme/gateway/pull/42|Retry deliveries with jitter> by octocat in acme/gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typeform_response_upserts_the_mailchimp_member_by_md5() {
    let fakes = FakeProviders::start().await;
    let secret = "typeform-example-secret";
    let list = "a1b2c3d4e5";
    let ex = applied(
        "typeform-to-mailchimp",
        &[
            ("TYPEFORM_SECRET", secret.into()),
            ("MAILCHIMP_BASE_URL", format!("{}/3.0", fakes.base)),
            ("MAILCHIMP_API_KEY", MAILCHIMP_KEY.into()),
            ("MAILCHIMP_LIST_ID", list.into()),
        ],
    )
    .await;
    let event = example("typeform-to-mailchimp").join("form_response.json");
    ex.send("typeform", secret, "typeform", event, &[]).await;
    let run = ex.ended_run("response-to-audience").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let hash = subscriber_hash("grace.hopper@example.com");
    let puts = fakes.accepted("mailchimp");
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].path, format!("/3.0/lists/{list}/members/{hash}"));
    let members = fakes.members(list);
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["id"], hash.as_str());
    assert_eq!(members[0]["merge_fields"]["FNAME"], "Grace");
    let shown = run.to_string();
    assert!(
        !shown.contains("Hopper") && !shown.contains("Grace"),
        "the answers are redacted in the run's view, wherever copied: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_cron_posts_a_report() {
    let fakes = FakeProviders::start().await;
    // The flow reads this server's own API.
    let ex = applied_with("nightly-report", |base| {
        vec![
            ("SWITCHYARD_API_URL", base.to_string()),
            ("REPORT_API_KEY", ADMIN_KEY.to_string()),
            ("REPORT_WEBHOOK_URL", format!("{}/reports/ops", fakes.base)),
        ]
    })
    .await;
    let flow = get_json(
        &ex.http,
        format!("{}/v1/flows/nightly-report", ex.server.base),
        ADMIN_KEY,
    )
    .await;
    let next = flow["next_runs"].as_array().unwrap();
    assert!(!next.is_empty(), "the planned firings are shown: {flow}");
    // In place of tonight's tick: a run by hand, with the tick's payload shape.
    let started = ex
        .http
        .post(format!("{}/v1/flows/nightly-report/runs", ex.server.base))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"payload": {"scheduled_at": "2026-12-06T01:00:00Z"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let run = ex.ended_run("nightly-report").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let reports = fakes.accepted("reports");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].body["title"], "Switchyard nightly report");
    assert_eq!(reports[0].body["scheduled_at"], "2026-12-06T01:00:00Z");
    let figures = &reports[0].body["figures"];
    assert!(figures["totals"]["received"].is_number(), "{figures}");
    assert_eq!(figures["queues"].as_array().map(Vec::len), Some(3), "{figures}");
}
