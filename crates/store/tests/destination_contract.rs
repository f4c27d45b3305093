//! The destination storage contract, on SQLite and PostgreSQL: found by id or name, names
//! unique, updates and deletes report whether the row existed; sealed values (destinations,
//! sources) are listed in id order and replaced only when unchanged since they were read.

use std::sync::Arc;

use switchyard_store::*;

mod common;

contract!(
    destinations_are_found_by_id_or_name_and_names_are_unique,
    sealed_values_are_listed_and_replaced_only_when_unchanged,
    the_audit_log_is_appended_and_listed_newest_first
);

fn row(id: &str, name: &str) -> DestinationRow {
    DestinationRow {
        id: id.into(),
        name: name.into(),
        config: format!(r#"{{"name":"{name}"}}"#),
        sealed: vec![9, 9, 9],
        created_at: 1,
        updated_at: 1,
    }
}

async fn destinations_are_found_by_id_or_name_and_names_are_unique(store: Arc<dyn Store>) {
    store.insert_destination(&row("dst_a", "crm")).await.unwrap();
    store.insert_destination(&row("dst_b", "slack")).await.unwrap();
    assert!(matches!(
        store.insert_destination(&row("dst_c", "crm")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_destination("crm").await.unwrap(), Some(row("dst_a", "crm")));
    assert_eq!(store.get_destination("dst_b").await.unwrap().unwrap().name, "slack");
    let mut changed = row("dst_a", "crm2");
    changed.sealed = vec![1];
    changed.updated_at = 5;
    assert!(store.update_destination(&changed).await.unwrap());
    assert_eq!(store.get_destination("crm2").await.unwrap(), Some(changed));
    assert!(store.get_destination("crm").await.unwrap().is_none());
    let page = store.list_destinations(None, 1).await.unwrap();
    assert_eq!((page.items[0].id.as_str(), page.has_more), ("dst_b", true));
    assert!(store.delete_destination("dst_b").await.unwrap());
    assert!(!store.delete_destination("dst_b").await.unwrap());
    assert!(!store.update_destination(&row("dst_b", "x")).await.unwrap());
    assert_eq!(store.all_destinations().await.unwrap().len(), 1);
}

async fn sealed_values_are_listed_and_replaced_only_when_unchanged(store: Arc<dyn Store>) {
    store.insert_destination(&row("dst_b", "b")).await.unwrap();
    store.insert_destination(&row("dst_a", "a")).await.unwrap();
    for (id, secrets) in [("src_1", Some(vec![7u8, 7])), ("src_2", None)] {
        let source = SourceRow {
            id: id.into(),
            name: id.into(),
            config: "{}".into(),
            secrets,
            enabled: true,
            created_at: 1,
            updated_at: 1,
        };
        store.insert_source(&source).await.unwrap();
    }
    let kind = SealedKind::DestinationCredentials;
    let first = store.sealed_values(kind, None, 1).await.unwrap();
    assert_eq!(
        first,
        vec![SealedValue {
            id: "dst_a".into(),
            sealed: vec![9, 9, 9]
        }]
    );
    let rest = store.sealed_values(kind, Some("dst_a"), 10).await.unwrap();
    assert_eq!(rest.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), ["dst_b"]);
    assert!(
        !store.replace_sealed(kind, "dst_a", &[1], &[2]).await.unwrap(),
        "stale read"
    );
    assert!(store.replace_sealed(kind, "dst_a", &[9, 9, 9], &[2]).await.unwrap());
    let a = store.get_destination("dst_a").await.unwrap().unwrap();
    assert_eq!(
        (a.sealed, a.updated_at),
        (vec![2], 1),
        "the value moves, updated_at stays"
    );
    let sources = store.sealed_values(SealedKind::SourceSecrets, None, 10).await.unwrap();
    assert_eq!(
        sources,
        vec![SealedValue {
            id: "src_1".into(),
            sealed: vec![7, 7]
        }],
        "no secrets, nothing sealed"
    );
    assert!(
        store
            .sealed_values(SealedKind::EndpointSecrets, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_audit_log_is_appended_and_listed_newest_first(store: Arc<dyn Store>) {
    for (n, resource_id) in ["dst_a", "ep_b", "dst_a"].iter().enumerate() {
        let row = AuditRow {
            seq: 0,
            id: format!("aud_{n}"),
            at: n as i64,
            key_id: (n > 0).then(|| "key_1".to_string()),
            action: "update".into(),
            resource: "destination".into(),
            resource_id: resource_id.to_string(),
            changes: "{}".into(),
        };
        store.insert_audit(&row).await.unwrap();
    }
    let page = store
        .list_audit(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["aud_2", "aud_1"]
    );
    assert!(page.has_more);
    let rest = AuditFilter {
        limit: 2,
        before_seq: Some(page.items[1].seq),
        ..AuditFilter::default()
    };
    let rest = store.list_audit(&rest).await.unwrap();
    assert_eq!(
        (
            rest.items[0].id.as_str(),
            rest.items[0].key_id.as_deref(),
            rest.has_more
        ),
        ("aud_0", None, false)
    );
    let one = AuditFilter {
        limit: 10,
        resource_id: Some("dst_a".into()),
        ..AuditFilter::default()
    };
    assert_eq!(store.list_audit(&one).await.unwrap().items.len(), 2);
}
