//! The destination storage contract, on SQLite and PostgreSQL: found by id or name, names
//! unique, updates and deletes report whether the row existed.

use std::sync::Arc;

use switchyard_store::*;

mod common;

contract!(destinations_are_found_by_id_or_name_and_names_are_unique);

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
