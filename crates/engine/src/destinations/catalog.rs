//! The destination catalog. Credential and header values are sealed with the master key before
//! they reach the store and are opened only for a call ([`DestinationCatalog::open`]); what the
//! API shows is the masked definition. A write that sends a masked value back keeps the current
//! one, so a client can round-trip a view without knowing the secrets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_core::destination::{Credentials, DestinationSpec, MASK};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::secrets::{MasterKey, SecretError};
use switchyard_core::source::FieldError;
use switchyard_core::time::now_micros;
use switchyard_store::{DestinationRow, Page, Store, StoreError};

/// A destination as the API shows it: every credential and header value masked.
#[derive(Debug, Clone)]
pub struct Destination {
    pub id: String,
    pub spec: DestinationSpec,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("the destination definition is invalid: {}", switchyard_core::source::describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("no such destination")]
    NotFound,
    #[error("a destination named {0:?} already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored credential could not be opened with the master key: {0}")]
    Sealed(#[from] SecretError),
}

/// How long an opened destination is reused for calls: the same staleness other nodes' changes
/// have in the other catalogs (refreshed every 2 s); a change on this node clears it at once.
const OPENED_FOR: Duration = Duration::from_secs(2);
/// More cached entries than this (destinations are few) and the cache starts over.
const MAX_OPENED: usize = 1024;

type Opened = HashMap<String, (Instant, String, DestinationSpec)>;

pub struct DestinationCatalog {
    store: Arc<dyn Store>,
    key: MasterKey,
    /// Destinations opened for calls, by the id or name a step used: a run's call then costs no
    /// read and no decryption.
    opened: Mutex<Opened>,
}

impl DestinationCatalog {
    pub fn new(store: Arc<dyn Store>, key: MasterKey) -> Arc<Self> {
        Arc::new(DestinationCatalog {
            store,
            key,
            opened: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Opened> {
        // The map holds whole entries only; a panic elsewhere cannot leave one half-written.
        self.opened.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn create(&self, spec: DestinationSpec) -> Result<Destination, DestinationError> {
        let spec = spec.normalized().map_err(DestinationError::Invalid)?;
        let now = now_micros();
        let id = new_id(IdKind::Destination);
        let row = self.seal(&id, spec, now, now);
        self.store
            .insert_destination(&row)
            .await
            .map_err(|e| name_taken(e, &row.name))?;
        self.view(row)
    }

    pub async fn get(&self, id_or_name: &str) -> Result<Destination, DestinationError> {
        self.view(self.row(id_or_name).await?)
    }

    /// The definition with its credentials in the clear, for making a call. Never shown.
    /// The destination with its credentials, for a call (cached for [`OPENED_FOR`]).
    pub async fn open(&self, id_or_name: &str) -> Result<(String, DestinationSpec), DestinationError> {
        if let Some((at, id, spec)) = self.cached().get(id_or_name)
            && at.elapsed() < OPENED_FOR
        {
            return Ok((id.clone(), spec.clone()));
        }
        let row = self.row(id_or_name).await?;
        let spec = self.opened(&row)?;
        let mut cache = self.cached();
        if cache.len() >= MAX_OPENED {
            cache.clear();
        }
        cache.insert(id_or_name.to_string(), (Instant::now(), row.id.clone(), spec.clone()));
        Ok((row.id, spec))
    }

    pub async fn list(&self, before_id: Option<&str>, limit: i64) -> Result<Page<Destination>, DestinationError> {
        let page = self.store.list_destinations(before_id, limit).await?;
        Ok(Page {
            items: page.items.into_iter().map(|r| self.view(r)).collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }

    /// Replaces the definition; a credential or header sent back masked keeps its current value.
    pub async fn replace(&self, id_or_name: &str, spec: DestinationSpec) -> Result<Destination, DestinationError> {
        let row = self.row(id_or_name).await?;
        self.replace_row(row, spec).await
    }

    /// A partial update: top-level keys of `patch` replace the masked definition's (a masked
    /// value sent back keeps the current one, as with [`Self::replace`]).
    pub async fn update(&self, id_or_name: &str, patch: &serde_json::Value) -> Result<Destination, DestinationError> {
        let row = self.row(id_or_name).await?;
        let current = serde_json::to_value(self.masked(&row)?).unwrap_or_default();
        let merged = crate::sources::merge_patch(&current, patch);
        let spec: DestinationSpec = serde_json::from_value(merged).map_err(|e| {
            DestinationError::Invalid(vec![FieldError {
                field: String::new(),
                message: e.to_string(),
            }])
        })?;
        self.replace_row(row, spec).await
    }

    async fn replace_row(&self, row: DestinationRow, spec: DestinationSpec) -> Result<Destination, DestinationError> {
        let current = self.opened(&row)?;
        let spec = keep_masked(spec, &current)
            .normalized()
            .map_err(DestinationError::Invalid)?;
        let updated_at = now_micros().max(row.updated_at + 1);
        let new = self.seal(&row.id, spec, row.created_at, updated_at);
        self.cached().clear();
        if !self
            .store
            .update_destination(&new)
            .await
            .map_err(|e| name_taken(e, &new.name))?
        {
            return Err(DestinationError::NotFound);
        }
        // Again after the write: a call may have cached the old definition meanwhile.
        self.cached().clear();
        self.view(new)
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<(), DestinationError> {
        let row = self.row(id_or_name).await?;
        self.cached().clear();
        let deleted = self.store.delete_destination(&row.id).await?;
        self.cached().clear();
        if !deleted {
            return Err(DestinationError::NotFound);
        }
        Ok(())
    }

    /// The stored definition with its credentials in the clear, read afresh (not cached): what a
    /// declared definition is compared with. Never shown.
    pub async fn declared_view(&self, name: &str) -> Result<Option<DestinationSpec>, DestinationError> {
        match self.store.get_destination(name).await? {
            Some(row) => self.opened(&row).map(Some),
            None => Ok(None),
        }
    }

    /// A destination declared in the config file, found by name: created when missing, replaced
    /// when different, else left alone. True when something was written.
    pub async fn apply_declared(&self, spec: DestinationSpec) -> Result<bool, DestinationError> {
        match self.store.get_destination(&spec.name).await? {
            None => self.create(spec).await.map(|_| true),
            Some(row) => {
                let declared = spec.normalized().map_err(DestinationError::Invalid)?;
                if self.opened(&row)? == declared {
                    return Ok(false);
                }
                self.replace_row(row, declared).await.map(|_| true)
            }
        }
    }

    async fn row(&self, id_or_name: &str) -> Result<DestinationRow, DestinationError> {
        self.store
            .get_destination(id_or_name)
            .await?
            .ok_or(DestinationError::NotFound)
    }

    fn seal(&self, id: &str, spec: DestinationSpec, created_at: i64, updated_at: i64) -> DestinationRow {
        let (masked, creds) = spec.split();
        DestinationRow {
            id: id.to_string(),
            name: masked.name.clone(),
            // Serialising plain data structures to JSON cannot fail.
            config: serde_json::to_string(&masked).unwrap_or_default(),
            sealed: self
                .key
                .seal(serde_json::to_string(&creds).unwrap_or_default().as_bytes()),
            created_at,
            updated_at,
        }
    }

    fn masked(&self, row: &DestinationRow) -> Result<DestinationSpec, DestinationError> {
        serde_json::from_str(&row.config)
            .map_err(|e| StoreError::Corrupt(format!("destination {} config: {e}", row.id)).into())
    }

    fn opened(&self, row: &DestinationRow) -> Result<DestinationSpec, DestinationError> {
        let plain = self.key.open(&row.sealed)?;
        let creds: Credentials = serde_json::from_slice(&plain)
            .map_err(|e| StoreError::Corrupt(format!("destination {} credentials: {e}", row.id)))?;
        Ok(self.masked(row)?.joined(&creds))
    }

    fn view(&self, row: DestinationRow) -> Result<Destination, DestinationError> {
        Ok(Destination {
            spec: self.masked(&row)?,
            id: row.id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Puts the current value back wherever `spec` sends a masked one (same auth kind, same header).
fn keep_masked(spec: DestinationSpec, current: &DestinationSpec) -> DestinationSpec {
    let (mut masked, mut creds) = spec.split();
    let (current_masked, current_creds) = current.clone().split();
    if masked.auth.as_ref().map(std::mem::discriminant) == current_masked.auth.as_ref().map(std::mem::discriminant) {
        for (new, old) in creds.auth.iter_mut().zip(&current_creds.auth) {
            if new == MASK {
                new.clone_from(old);
            }
        }
    }
    let current_headers: Vec<&String> = current_masked.headers.keys().collect();
    for ((name, _), value) in masked.headers.iter_mut().zip(creds.headers.iter_mut()) {
        if value == MASK
            && let Some(i) = current_headers.iter().position(|h| h.eq_ignore_ascii_case(name))
            && let Some(old) = current_creds.headers.get(i)
        {
            value.clone_from(old);
        }
    }
    masked.joined(&creds)
}

fn name_taken(e: StoreError, name: &str) -> DestinationError {
    match e {
        StoreError::Conflict(_) => DestinationError::NameTaken(name.to_string()),
        other => DestinationError::Store(other),
    }
}
