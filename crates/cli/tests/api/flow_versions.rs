//! Flow versions (issue 12) on SQLite and PostgreSQL: every change is a new, immutable version;
//! a run keeps the version it started with; activating an earlier version (a rollback) makes its
//! definition current as a new version, audited; an unknown version is a 404. And the CLI's
//! `flows list|show|versions|activate` against the running server.

use serde_json::{Value, json};
use switchyard_testkit::app::{ADMIN_KEY, TestApp, assert_envelope};
use switchyard_testkit::backend_tests;

use crate::process::run;

backend_tests!(an_earlier_version_is_activated_as_a_new_one_and_runs_keep_theirs);

async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn an_earlier_version_is_activated_as_a_new_one_and_runs_keep_theirs(app: TestApp) {
    let v1 = json!({"name": "greet", "trigger": {"manual": true}, "steps": [{"id": "hello", "map": "{greeting: \"hello\"}"}]});
    ok(app.api_post("/v1/flows", &v1).await).await;
    let v2 = ok(app
        .api_patch(
            "/v1/flows/greet",
            &json!({"steps": [{"id": "bye", "map": "{greeting: \"bye\"}"}]}),
        )
        .await)
    .await;
    assert_eq!(v2["version"], 2);
    let on_v2 = ok(app.api_post("/v1/flows/greet/runs", &json!({"payload": {}})).await).await;

    let v3 = ok(app.api_post("/v1/flows/greet/versions/1/activate", &json!({})).await).await;
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["steps"], v1["steps"], "version 1's definition is current again");
    let versions = ok(app.api_get("/v1/flows/greet/versions").await).await;
    let numbers: Vec<i64> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1], "versions are kept, newest first");
    assert_eq!(
        versions["data"][1]["definition"]["steps"][0]["id"], "bye",
        "version 2 is unchanged"
    );
    // Activating what is already current changes nothing.
    assert_eq!(
        ok(app.api_post("/v1/flows/greet/versions/3/activate", &json!({})).await).await["version"],
        3
    );

    let on_v3 = ok(app.api_post("/v1/flows/greet/runs", &json!({"payload": {}})).await).await;
    for (run, version, step) in [(&on_v2, 2, "bye"), (&on_v3, 3, "hello")] {
        let id = run["id"].as_str().unwrap();
        switchyard_testkit::app::eventually("the run ends", || async {
            ok(app.api_get(&format!("/v1/runs/{id}")).await).await["status"] == "succeeded"
        })
        .await;
        let shown = ok(app.api_get(&format!("/v1/runs/{id}")).await).await;
        assert_eq!(shown["flow_version"], version);
        assert_eq!(shown["steps"][0]["id"], step);
    }
    let missing = app.api_post("/v1/flows/greet/versions/9/activate", &json!({})).await;
    assert_envelope(missing, 404, "version_not_found").await;
    let garbled = app.api_post("/v1/flows/greet/versions/x/activate", &json!({})).await;
    assert_envelope(garbled, 404, "version_not_found").await;
    let audit = ok(app
        .api_get(&format!("/v1/audit?resource_id={}", v3["id"].as_str().unwrap()))
        .await)
    .await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "update"),
        "{audit}"
    );

    // The CLI, against this server.
    let base = app.base.clone();
    let cli = move |args: Vec<String>| {
        let base = base.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let dir = tempfile::tempdir().unwrap();
                let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
                all.extend(["--url", base.as_str(), "--key", ADMIN_KEY]);
                let out = run(&all, &[], dir.path());
                assert!(
                    out.status.success(),
                    "{:?}: {}",
                    all,
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            })
            .await
            .unwrap()
        }
    };
    let listed = cli(vec!["flows".into(), "list".into()]).await;
    assert!(listed.contains("greet") && listed.contains("manual"), "{listed}");
    let history = cli(vec!["flows".into(), "versions".into(), "greet".into()]).await;
    assert!(history.contains("hello") && history.contains("bye"), "{history}");
    let rolled = cli(vec!["flows".into(), "activate".into(), "greet".into(), "2".into()]).await;
    assert_eq!(
        rolled.trim(),
        "flow greet is now version 4 (the definition of version 2)"
    );
    let shown = cli(vec!["flows".into(), "show".into(), "greet".into(), "--json".into()]).await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (shown["version"].as_i64(), shown["steps"][0]["id"].as_str()),
        (Some(4), Some("bye"))
    );
}
