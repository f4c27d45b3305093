//! `switchyard keys create|list|revoke`: works on the database directly, because the first key
//! has to come from somewhere other than the API it unlocks.

use serde_json::json;
use switchyard_core::apikey::{generate_key, hash_key, key_hint};
use switchyard_core::audit::{AuditAction, AuditResource};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::{now_micros, to_rfc3339};
use switchyard_engine::audit::record;
use switchyard_store::ApiKeyRow;

use super::{CmdError, open_store};
use crate::cli::KeysCommand;

pub async fn run(cmd: KeysCommand) -> Result<(), CmdError> {
    match cmd {
        KeysCommand::Create {
            scope,
            name,
            database,
            json,
        } => {
            let store = open_store(&database).await?;
            store.migrate().await?;
            let key = generate_key();
            let row = ApiKeyRow {
                id: new_id(IdKind::ApiKey),
                name,
                scope,
                hash: hash_key(&key),
                hint: key_hint(&key),
                created_at: now_micros(),
                revoked_at: None,
            };
            store.insert_api_key(&row).await?;
            // Made on the database directly, by no API key: the entry's key_id is null.
            let view = json!({"name": row.name, "scope": row.scope, "hint": row.hint});
            record(
                store.as_ref(),
                None,
                AuditAction::Create,
                AuditResource::Key,
                &row.id,
                None,
                Some(&view),
            )
            .await;
            if json {
                println!(
                    "{}",
                    json!({"id": row.id, "scope": row.scope, "name": row.name, "key": key})
                );
            } else {
                println!("{key}");
                eprintln!("created {} ({} scope); the key is shown only once", row.id, row.scope);
            }
            Ok(())
        }
        KeysCommand::List { database, json } => {
            let store = open_store(&database).await?;
            store.migrate().await?;
            let mut cursor: Option<String> = None;
            let mut rows = Vec::new();
            loop {
                let page = store.list_api_keys(cursor.as_deref(), 1000).await?;
                cursor = page.items.last().map(|k| k.id.clone());
                rows.extend(page.items);
                if !page.has_more {
                    break;
                }
            }
            if json {
                let data: Vec<_> = rows
                    .iter()
                    .map(|k| {
                        json!({"id": k.id, "name": k.name, "scope": k.scope, "hint": k.hint,
                        "created_at": to_rfc3339(k.created_at), "revoked_at": k.revoked_at.map(to_rfc3339)})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(data));
            } else {
                println!("{:<30}  {:<6}  {:<8}  {:<27}  NAME", "ID", "SCOPE", "HINT", "CREATED");
                for k in rows {
                    let state = if k.revoked_at.is_some() { " (revoked)" } else { "" };
                    println!(
                        "{:<30}  {:<6}  {:<8}  {:<27}  {}{state}",
                        k.id,
                        k.scope,
                        k.hint,
                        to_rfc3339(k.created_at),
                        k.name
                    );
                }
            }
            Ok(())
        }
        KeysCommand::RotateMaster { database, json } => super::rotate_master::run(&database, json).await,
        KeysCommand::Revoke { id, database } => {
            let store = open_store(&database).await?;
            if store.revoke_api_key(&id, now_micros()).await? {
                record(
                    store.as_ref(),
                    None,
                    AuditAction::Revoke,
                    AuditResource::Key,
                    &id,
                    None,
                    None,
                )
                .await;
                eprintln!("revoked {id}");
                Ok(())
            } else {
                Err(CmdError::Message(format!("no active key with id {id}")))
            }
        }
    }
}
