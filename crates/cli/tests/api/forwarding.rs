//! Forwarding inbound events (SPEC §3): an endpoint whose `sources` name a source receives that
//! source's accepted events exactly as they arrived — body byte for byte, the Content-Type they
//! came with, `webhook-id` = the event id, signed per Standard Webhooks — and never a quarantined
//! or duplicate one. On SQLite and PostgreSQL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::delivery::{deliveries, endpoint, verifies};
use switchyard_testkit::app::{TestApp, assert_envelope};
use switchyard_testkit::backend_tests;
use switchyard_testkit::receiver::Receiver;

backend_tests!(
    inbound_events_are_forwarded_as_received_to_the_endpoints_of_their_source,
    forwarding_is_validated_and_shown_on_the_endpoint,
);

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(10);

async fn post_raw(app: &TestApp, source: &str, content_type: &str, body: &'static [u8]) -> Value {
    let resp = app
        .http
        .post(app.url(&format!("/in/{source}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

async fn inbound_events_are_forwarded_as_received_to_the_endpoints_of_their_source(app: TestApp) {
    let rx = Receiver::start().await;
    let schema = json!({"type": "object", "required": ["kind"]});
    let shop = app
        .create_source(json!({"name": "shop", "schema": schema, "accept": "json_or_form"}))
        .await;
    app.create_source(json!({"name": "other"})).await;
    // By name, by id, by type pattern, by a filter on a JSON or a form field; one for another
    // source and one for published events only.
    let mut ids = std::collections::HashMap::new();
    for (path, extra) in [
        ("/by-name", json!({"secret": SECRET, "sources": ["shop"]})),
        ("/by-id", json!({"sources": [shop["id"]], "event_types": ["order.*"]})),
        ("/big", json!({"sources": ["shop"], "filter": ".amount > 100"})),
        ("/kind-b", json!({"sources": ["shop"], "filter": ".kind == \"b\""})),
        ("/other", json!({"sources": ["other"]})),
        ("/published", json!({})),
    ] {
        let mut body = extra;
        body["url"] = json!(rx.url(path));
        ids.insert(path, endpoint(&app, body).await["id"].as_str().unwrap().to_string());
    }

    // Whitespace and key order kept: the receiver gets the bytes, not a re-serialisation.
    let body: &[u8] = br#"{ "type":"order.created",  "kind":"a", "amount": 500 }"#;
    let accepted = post_raw(&app, "shop", "application/json; charset=utf-8", body).await;
    assert_eq!(accepted["status"], "received");
    let id = accepted["id"].as_str().unwrap().to_string();
    let got = rx.wait_for("/by-name", 1, WAIT).await;
    assert_eq!(got[0].body, body, "byte for byte");
    assert_eq!(got[0].headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(got[0].headers["webhook-id"], id, "webhook-id is the event id");
    assert!(verifies(&got[0], &[SECRET]), "{:?}", got[0].headers);

    // A form is forwarded as a form; its fields are what type patterns and filters see.
    let form: &[u8] = b"type=user.created&kind=b";
    post_raw(&app, "shop", "application/x-www-form-urlencoded", form).await;
    let got = rx.wait_for("/kind-b", 1, WAIT).await;
    assert_eq!(got[0].body, form);
    assert_eq!(got[0].headers["content-type"], "application/x-www-form-urlencoded");

    // A duplicate and a quarantined event are not forwarded.
    let again = post_raw(&app, "shop", "application/json; charset=utf-8", body).await;
    assert_eq!(
        (again["status"].as_str(), again["id"].as_str()),
        (Some("duplicate"), Some(id.as_str()))
    );
    let quarantined = post_raw(&app, "shop", "application/json", br#"{"type":"order.created"}"#).await;
    assert_eq!(quarantined["status"], "quarantined");

    // Stored evidence, not a wait: an event's deliveries commit with it before the answer, so
    // once every request above is answered, each endpoint's delivery rows are final.
    let owed = |path: &'static str| {
        let ep = ids[path].clone();
        let app = &app;
        async move { deliveries(app, &format!("endpoint={ep}")).await.len() }
    };
    assert_eq!(
        owed("/by-name").await,
        2,
        "the JSON and the form; not the duplicate or the quarantined one"
    );
    assert_eq!(
        owed("/by-id").await,
        1,
        "type patterns apply: order.created, not user.created"
    );
    assert_eq!(owed("/big").await, 1, "a filter on a JSON field");
    assert_eq!(owed("/kind-b").await, 1, "a filter on a form field");
    assert_eq!(owed("/other").await, 0, "another source's endpoint gets nothing");
    assert_eq!(
        owed("/published").await,
        0,
        "an endpoint without sources gets no inbound event"
    );
    assert_eq!(deliveries(&app, &format!("event={id}")).await.len(), 3);
    let quarantined_id = quarantined["id"].as_str().unwrap();
    assert!(deliveries(&app, &format!("event={quarantined_id}")).await.is_empty());
    rx.wait_for("/by-name", 2, WAIT).await;
}

async fn forwarding_is_validated_and_shown_on_the_endpoint(app: TestApp) {
    let rx = Receiver::start().await;
    for bad in [json!([]), json!(["Not A Name"]), json!(["src_"])] {
        let resp = app
            .api_post("/v1/endpoints", &json!({"url": rx.url("/x"), "sources": bad}))
            .await;
        let err = assert_envelope(resp, 422, "validation_failed").await;
        assert_eq!(err["details"]["fields"][0]["field"], "sources", "{err}");
    }
    let ep = endpoint(
        &app,
        json!({"url": rx.url("/x"), "sources": ["stripe", "src_01J0000000000000000000000"]}),
    )
    .await;
    assert_eq!(ep["sources"], json!(["stripe", "src_01J0000000000000000000000"]));
    let shown: Value = app
        .api_get(&format!("/v1/endpoints/{}", ep["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["sources"], ep["sources"]);
}
