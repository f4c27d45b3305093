//! The endpoint catalog over a real SQLite store: an endpoint that a delivery result is about to
//! disable leaves the fan-out before that write, and stays out of it across a refresh that read
//! the row from before the write, until the write is stored.

use switchyard_core::endpoint::EndpointSpec;
use switchyard_engine::endpoints::EndpointCatalog;

mod common;

#[tokio::test]
async fn an_endpoint_being_disabled_gets_no_new_delivery() {
    let (_dir, store) = common::sqlite_store().await;
    let key = common::master_key();
    let catalog = EndpointCatalog::load(store.clone(), key).await.unwrap();
    let spec = |url: &str| -> EndpointSpec {
        serde_json::from_value(serde_json::json!({"url": url, "event_types": ["order.paid"]})).unwrap()
    };
    let gone = catalog
        .create(spec("https://gone.example.com/hook"), None)
        .await
        .unwrap();
    let kept = catalog
        .create(spec("https://kept.example.com/hook"), None)
        .await
        .unwrap();
    let fanned = || -> Vec<String> {
        catalog
            .subscribed(Some("order.paid"))
            .iter()
            .map(|e| e.id.clone())
            .collect()
    };
    let mut both = vec![gone.id.clone(), kept.id.clone()];
    both.sort();
    assert_eq!(fanned(), both);

    catalog.disabling([gone.id.clone()]);
    assert_eq!(fanned(), vec![kept.id.clone()], "held out before the write");
    // A refresh that still reads the endpoint enabled (the write not stored yet) keeps it out.
    catalog.refresh().await.unwrap();
    assert_eq!(fanned(), vec![kept.id.clone()], "still held out after a refresh");
    assert!(
        catalog.lookup(&gone.id).is_some(),
        "its deliveries in flight still find it"
    );

    // Here the write never disabled it (the row says enabled): once released it is back.
    catalog.disable_stored([&gone.id]);
    assert_eq!(fanned(), both);
}
