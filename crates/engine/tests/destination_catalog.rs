//! The destination catalog over a real SQLite store: config-file destinations apply
//! idempotently, views and stored config never hold a credential, and a masked value sent back
//! keeps the current one while a new value replaces it.

use switchyard_core::destination::{Auth, DestinationSpec, MASK};
use switchyard_engine::destinations::DestinationCatalog;

mod common;

fn spec(secret: &str, header: &str) -> DestinationSpec {
    serde_json::from_value(serde_json::json!({
        "name": "crm", "base_url": "https://api.example.com/v3",
        "headers": {"X-Tenant": header},
        "auth": {"kind": "oauth2_client_credentials", "token_url": "https://auth.example.com/token",
            "client_id": "cid", "client_secret": secret, "scopes": ["crm.write"]}
    }))
    .unwrap()
}

fn client_secret(s: &DestinationSpec) -> &str {
    match &s.auth {
        Some(Auth::OAuth2ClientCredentials { client_secret, .. }) => client_secret,
        other => panic!("unexpected auth {other:?}"),
    }
}

#[tokio::test]
async fn declared_destinations_apply_once_and_credentials_stay_sealed() {
    let (_dir, store) = common::sqlite_store().await;
    let key = common::master_key();
    let catalog = DestinationCatalog::new(store.clone(), key);

    assert!(catalog.apply_declared(spec("s3cret-1", "tenant-1")).await.unwrap());
    assert!(
        !catalog.apply_declared(spec("s3cret-1", "tenant-1")).await.unwrap(),
        "unchanged"
    );
    let view = catalog.get("crm").await.unwrap();
    assert_eq!(client_secret(&view.spec), MASK);
    assert_eq!(view.spec.headers["X-Tenant"], MASK);
    let row = store.get_destination("crm").await.unwrap().unwrap();
    assert!(
        !row.config.contains("s3cret") && !row.config.contains("tenant-1"),
        "{}",
        row.config
    );

    // A changed secret in the file replaces the stored one.
    assert!(catalog.apply_declared(spec("s3cret-2", "tenant-1")).await.unwrap());
    let (_, opened) = catalog.open("crm").await.unwrap();
    assert_eq!(client_secret(&opened), "s3cret-2");

    // Sending the view back (masked values) keeps both values; a new header value replaces one.
    let mut back = view.spec.clone();
    back.headers.insert("X-Tenant".into(), serde_json::json!("tenant-2"));
    catalog.replace("crm", back).await.unwrap();
    let (_, opened) = catalog.open("crm").await.unwrap();
    assert_eq!(client_secret(&opened), "s3cret-2");
    assert_eq!(opened.headers["X-Tenant"], "tenant-2");
}
