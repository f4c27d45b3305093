//! The source catalog. Writes go to the store first and then refresh the in-memory map, so a
//! source answered as created is immediately usable by intake on this node; other nodes pick
//! changes up on their next periodic refresh (`spawn_refresher`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::network::Cidr;
use switchyard_core::secrets::{MasterKey, SecretError};
use switchyard_core::source::{FieldError, SourceSpec};
use switchyard_core::time::now_micros;
use switchyard_store::{Page, SourceRow, Store, StoreError};

use super::merge::merge_patch;
use super::schema::CompiledSchema;

/// A source with its secrets opened, as intake and the API need it.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub spec: SourceSpec,
    /// `spec.schema`, compiled.
    pub schema: Option<CompiledSchema>,
    /// `spec.allow_ips` and `spec.trusted_proxies`, parsed.
    pub allow_ips: Vec<Cidr>,
    pub trusted_proxies: Vec<Cidr>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the source definition is invalid: {}", switchyard_core::source::describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("no such source")]
    NotFound,
    #[error("a source named {0:?} already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored secret could not be opened with the master key: {0}")]
    Sealed(#[from] SecretError),
}

type SourceMap = HashMap<String, Arc<Source>>;

pub struct SourceCatalog {
    store: Arc<dyn Store>,
    key: MasterKey,
    by_name: RwLock<Arc<SourceMap>>,
}

impl SourceCatalog {
    /// Builds the catalog and loads every source once.
    pub async fn load(store: Arc<dyn Store>, key: MasterKey) -> Result<Arc<Self>, CatalogError> {
        let catalog = Arc::new(SourceCatalog {
            store,
            key,
            by_name: RwLock::new(Arc::default()),
        });
        catalog.refresh().await?;
        Ok(catalog)
    }

    /// The current definition of the source called `name`, from memory (the intake hot path).
    pub fn lookup(&self, name: &str) -> Option<Arc<Source>> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc: the Arc is still whole.
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner()).clone();
        map.get(name).cloned()
    }

    /// The live source with this `src_` id, if any (views that must survive a rename).
    pub fn lookup_id(&self, id: &str) -> Option<Arc<Source>> {
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner()).clone();
        map.values().find(|s| s.id == id).cloned()
    }

    /// Reloads every source from the store.
    pub async fn refresh(&self) -> Result<(), CatalogError> {
        let rows = self.store.all_sources().await?;
        let current = self.by_name.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut map = SourceMap::with_capacity(rows.len());
        for row in rows {
            // An unchanged source keeps its opened secrets and compiled schema: a refresh then
            // costs one query, not a decryption and a schema compile per source every tick.
            let unchanged = current
                .get(&row.name)
                .filter(|s| s.id == row.id && s.updated_at == row.updated_at && s.spec.enabled == row.enabled);
            let s = match unchanged {
                Some(s) => s.clone(),
                None => Arc::new(self.open(row)?),
            };
            map.insert(s.spec.name.clone(), s);
        }
        *self.by_name.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        Ok(())
    }

    /// Refreshes every `every` so changes made by other nodes reach this one.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        crate::refresh::spawn_periodic(self, every, "source", |c| async move { c.refresh().await })
    }

    pub async fn create(&self, spec: SourceSpec) -> Result<Source, CatalogError> {
        let schema = checked(&spec)?;
        let now = now_micros();
        let (allow_ips, trusted_proxies) = networks(&spec);
        let source = Source {
            id: new_id(IdKind::Source),
            spec,
            schema,
            allow_ips,
            trusted_proxies,
            created_at: now,
            updated_at: now,
        };
        let row = self.seal(&source);
        self.store
            .insert_source(&row)
            .await
            .map_err(|e| name_taken(e, &source.spec.name))?;
        self.refresh().await?;
        Ok(source)
    }

    pub async fn get(&self, id_or_name: &str) -> Result<Source, CatalogError> {
        let row = self.store.get_source(id_or_name).await?.ok_or(CatalogError::NotFound)?;
        self.open(row)
    }

    pub async fn list(&self, before_id: Option<&str>, limit: i64) -> Result<Page<Source>, CatalogError> {
        let page = self.store.list_sources(before_id, limit).await?;
        let items = page.items.into_iter().map(|r| self.open(r)).collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            has_more: page.has_more,
        })
    }

    /// Applies a partial update (see [`merge_patch`]) and re-validates the whole definition.
    pub async fn update(&self, id_or_name: &str, patch: &Value) -> Result<Source, CatalogError> {
        let current = self.get(id_or_name).await?;
        let current_json = serde_json::to_value(&current.spec).map_err(|e| invalid("", e))?;
        let merged = merge_patch(&current_json, patch);
        let spec: SourceSpec = serde_json::from_value(merged).map_err(|e| invalid("", e))?;
        self.replace(current, spec).await
    }

    /// Every check a definition must pass before it is stored (for a plan that writes nothing).
    pub fn check(spec: &SourceSpec) -> Result<(), CatalogError> {
        checked(spec).map(|_| ())
    }

    /// Creates the source or, when one with the same name exists, replaces its definition.
    /// Used for config-as-code; applying the same definition twice changes nothing.
    pub async fn upsert(&self, spec: SourceSpec) -> Result<Source, CatalogError> {
        match self.get(&spec.name).await {
            Ok(current) if current.spec == spec => Ok(current),
            Ok(current) => self.replace(current, spec).await,
            Err(CatalogError::NotFound) => self.create(spec).await,
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<(), CatalogError> {
        let current = self.get(id_or_name).await?;
        if !self
            .store
            .delete_source(&current.id, switchyard_core::time::now_micros())
            .await?
        {
            return Err(CatalogError::NotFound);
        }
        self.refresh().await
    }

    async fn replace(&self, current: Source, spec: SourceSpec) -> Result<Source, CatalogError> {
        let schema = checked(&spec)?;
        let (allow_ips, trusted_proxies) = networks(&spec);
        let updated = Source {
            spec,
            schema,
            allow_ips,
            trusted_proxies,
            updated_at: now_micros(),
            ..current
        };
        let row = self.seal(&updated);
        if !self
            .store
            .update_source(&row)
            .await
            .map_err(|e| name_taken(e, &updated.spec.name))?
        {
            return Err(CatalogError::NotFound);
        }
        self.refresh().await?;
        Ok(updated)
    }

    fn seal(&self, s: &Source) -> SourceRow {
        let (public, secrets) = s.spec.clone().take_secrets();
        SourceRow {
            id: s.id.clone(),
            name: public.name.clone(),
            // Serialising plain data structures to JSON cannot fail.
            config: serde_json::to_string(&public).unwrap_or_default(),
            secrets: (!secrets.is_empty()).then(|| {
                self.key
                    .seal(serde_json::to_string(&secrets).unwrap_or_default().as_bytes())
            }),
            enabled: public.enabled,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }

    fn open(&self, row: SourceRow) -> Result<Source, CatalogError> {
        let mut spec: SourceSpec =
            serde_json::from_str(&row.config).map_err(|e| StoreError::Corrupt(format!("source {}: {e}", row.id)))?;
        if let Some(sealed) = &row.secrets {
            let plain = self.key.open(sealed)?;
            spec.verify.secrets = serde_json::from_slice(&plain)
                .map_err(|e| StoreError::Corrupt(format!("source {} secrets: {e}", row.id)))?;
        }
        spec.enabled = row.enabled;
        let schema = match spec.schema.as_ref().filter(|s| !s.is_null()) {
            Some(s) => Some(
                CompiledSchema::compile(s)
                    .map_err(|e| StoreError::Corrupt(format!("source {} schema: {e}", row.id)))?,
            ),
            None => None,
        };
        let (allow_ips, trusted_proxies) = networks(&spec);
        Ok(Source {
            id: row.id,
            spec,
            schema,
            allow_ips,
            trusted_proxies,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The parsed network lists (validation already refused unparsable entries).
fn networks(spec: &SourceSpec) -> (Vec<Cidr>, Vec<Cidr>) {
    let parse = |list: &[String]| list.iter().filter_map(|b| Cidr::parse(b).ok()).collect();
    (parse(&spec.allow_ips), parse(&spec.trusted_proxies))
}

/// Validates a definition and compiles its schema, reporting every problem at once.
fn checked(spec: &SourceSpec) -> Result<Option<CompiledSchema>, CatalogError> {
    let mut errs = spec.validate().err().unwrap_or_default();
    let schema = match spec.schema.as_ref().filter(|s| !s.is_null()) {
        Some(s) => match CompiledSchema::compile(s) {
            Ok(c) => Some(c),
            Err(e) => {
                errs.push(FieldError {
                    field: "schema".into(),
                    message: format!("not a usable JSON Schema: {e}"),
                });
                None
            }
        },
        None => None,
    };
    if errs.is_empty() {
        Ok(schema)
    } else {
        Err(CatalogError::Invalid(errs))
    }
}

fn invalid(field: &str, e: serde_json::Error) -> CatalogError {
    CatalogError::Invalid(vec![FieldError {
        field: field.into(),
        message: e.to_string(),
    }])
}

fn name_taken(e: StoreError, name: &str) -> CatalogError {
    match e {
        StoreError::Conflict(_) => CatalogError::NameTaken(name.to_string()),
        other => CatalogError::Store(other),
    }
}
