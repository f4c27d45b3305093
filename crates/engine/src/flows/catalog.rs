//! The flow catalog: definitions checked before they are stored (structure, every jq expression
//! compiled within the bounds, the source, destinations, endpoints and steps they name), every
//! change a new version, and an in-memory view of the current flows for the fan-out's hot path
//! (refreshed periodically and on every local change). Versions are read through a cache: a
//! version never changes once written.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use switchyard_core::flow::check::{self, References};
use switchyard_core::flow::{FlowSpec, TriggerKind};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::source::{FieldError, type_allowed};
use switchyard_core::time::now_micros;
use switchyard_store::{FlowRow, Page, Store, StoreError};

use crate::endpoints::EndpointCatalog;

/// A flow at one version.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: String,
    pub version: i64,
    pub spec: Arc<FlowSpec>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("the flow definition is invalid: {}", switchyard_core::source::describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("no such flow")]
    NotFound,
    #[error("a flow named {0:?} already exists")]
    NameTaken(String),
    #[error("the flow changed meanwhile; read it again and retry")]
    Changed,
    #[error("the flow has no version {0}")]
    VersionNotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: impl std::fmt::Display) -> FlowError {
    FlowError::Invalid(vec![FieldError {
        field: field.into(),
        message: message.to_string(),
    }])
}

/// Names a file declares, which exist once it is applied.
#[derive(Debug, Default)]
pub struct Planned<'a> {
    pub sources: HashSet<&'a str>,
    pub destinations: HashSet<&'a str>,
    pub endpoints: HashSet<&'a str>,
}

pub struct FlowCatalog {
    store: Arc<dyn Store>,
    endpoints: Arc<EndpointCatalog>,
    current: RwLock<Arc<Vec<Arc<Flow>>>>,
    versions: Mutex<HashMap<(String, i64), Arc<FlowSpec>>>,
}

impl FlowCatalog {
    pub async fn load(store: Arc<dyn Store>, endpoints: Arc<EndpointCatalog>) -> Result<Arc<Self>, FlowError> {
        let catalog = Arc::new(FlowCatalog {
            store,
            endpoints,
            current: RwLock::new(Arc::default()),
            versions: Mutex::new(HashMap::new()),
        });
        catalog.refresh().await?;
        Ok(catalog)
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Flow>>> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc: the Arc is still whole.
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn refresh(&self) -> Result<(), FlowError> {
        let rows = self.store.all_flows().await?;
        let flows = rows.into_iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(flows.into_iter().map(Arc::new).collect());
        Ok(())
    }

    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        crate::refresh::spawn_periodic(self, every, "flow", |c| async move { c.refresh().await })
    }

    /// Flows triggered by inbound events of this source and type.
    pub fn for_source(&self, source_name: &str, event_type: Option<&str>) -> Vec<Arc<Flow>> {
        self.where_trigger(|t| match t {
            TriggerKind::Source { source, types } => {
                source == source_name && (types.is_empty() || event_type.is_some_and(|ty| type_allowed(types, ty)))
            }
            _ => false,
        })
    }

    /// Flows triggered by published (or emitted) events of this type.
    pub fn for_published(&self, event_type: Option<&str>) -> Vec<Arc<Flow>> {
        self.where_trigger(|t| match t {
            TriggerKind::EventTypes(types) => event_type.is_some_and(|ty| type_allowed(types, ty)),
            _ => false,
        })
    }

    /// Flows started by a schedule.
    pub fn cron_flows(&self) -> Vec<Arc<Flow>> {
        self.where_trigger(|t| matches!(t, TriggerKind::Cron { .. }))
    }

    /// The current flow of this id (the manual trigger's fan-out).
    pub fn current(&self, id: &str) -> Option<Arc<Flow>> {
        self.snapshot().iter().find(|f| f.id == id).cloned()
    }

    fn where_trigger(&self, keep: impl Fn(TriggerKind<'_>) -> bool) -> Vec<Arc<Flow>> {
        self.snapshot()
            .iter()
            .filter(|f| f.spec.trigger.kind().is_ok_and(&keep))
            .cloned()
            .collect()
    }

    /// The definition a run started with.
    pub async fn version(&self, flow_id: &str, version: i64) -> Result<Arc<FlowSpec>, FlowError> {
        let key = (flow_id.to_string(), version);
        if let Some(spec) = self.versions.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(spec.clone());
        }
        let row = self
            .store
            .flow_version(flow_id, version)
            .await?
            .ok_or(FlowError::NotFound)?;
        let spec: Arc<FlowSpec> = Arc::new(
            serde_json::from_str(&row.definition)
                .map_err(|e| StoreError::Corrupt(format!("flow {flow_id} version {version}: {e}")))?,
        );
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, spec.clone());
        Ok(spec)
    }

    /// Every check a definition must pass before it is stored.
    pub async fn check(&self, spec: &FlowSpec) -> Result<(), FlowError> {
        self.check_with(spec, &Planned::default()).await
    }

    /// [`Self::check`], counting what `planned` names as existing: a file that declares a
    /// destination and a flow calling it is checked whole before either is written.
    pub async fn check_with(&self, spec: &FlowSpec, planned: &Planned<'_>) -> Result<(), FlowError> {
        let mut errors = check::check(spec).err().unwrap_or_default();
        for (field, code) in check::expressions(spec) {
            if let Err(e) = switchyard_jq::validate(code) {
                errors.push(FieldError {
                    field,
                    message: e.to_string(),
                });
            }
        }
        for step in spec.all_steps() {
            match &step.action {
                switchyard_core::flow::Action::Http(call) => {
                    if let Some(code) = call.path_template()
                        && let Err(e) = switchyard_jq::validate(&code)
                    {
                        errors.push(FieldError {
                            field: check::step_field(step, "http.path"),
                            message: e.to_string(),
                        });
                    }
                }
                switchyard_core::flow::Action::Validate { schema, .. } => {
                    if let Err(e) = crate::sources::CompiledSchema::compile(schema) {
                        errors.push(FieldError {
                            field: check::step_field(step, "validate.schema"),
                            message: e,
                        });
                    }
                }
                // A flow that emits what triggers it would run forever.
                switchyard_core::flow::Action::Emit { event_type, .. } => {
                    if let Ok(TriggerKind::EventTypes(types)) = spec.trigger.kind()
                        && type_allowed(types, event_type)
                    {
                        errors.push(FieldError {
                            field: check::step_field(step, "emit.type"),
                            message: format!("{event_type:?} would trigger this flow again"),
                        });
                    }
                }
                _ => {}
            }
        }
        if let Some(emit) = spec.on_failure.as_ref().map(|f| &f.emit)
            && let Ok(TriggerKind::EventTypes(types)) = spec.trigger.kind()
            && type_allowed(types, emit)
        {
            errors.push(FieldError {
                field: "on_failure.emit".into(),
                message: format!("{emit:?} would trigger this flow again"),
            });
        }
        if let Some(source) = &spec.trigger.source
            && !planned.sources.contains(source.as_str())
            && self.store.get_source(source).await?.is_none()
        {
            errors.push(FieldError {
                field: "trigger.source".into(),
                message: format!("no source is named {source:?}"),
            });
        }
        let References {
            destinations,
            endpoints,
        } = check::references(spec);
        for (field, name) in destinations {
            if !planned.destinations.contains(name) && self.store.get_destination(name).await?.is_none() {
                errors.push(FieldError {
                    field,
                    message: format!("no destination is named {name:?}"),
                });
            }
        }
        for (field, name) in endpoints {
            if !planned.endpoints.contains(name) && self.endpoints.get(name).await.is_err() {
                errors.push(FieldError {
                    field,
                    message: format!("no endpoint is named {name:?}"),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(FlowError::Invalid(errors))
        }
    }

    pub async fn create(&self, spec: FlowSpec) -> Result<Flow, FlowError> {
        self.check(&spec).await?;
        let now = now_micros();
        let row = FlowRow {
            id: new_id(IdKind::Flow),
            name: spec.name.clone(),
            version: 1,
            definition: definition(&spec),
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_flow(&row)
            .await
            .map_err(|e| name_taken(e, &row.name))?;
        self.changed().await;
        parse(row)
    }

    pub async fn get(&self, id_or_name: &str) -> Result<Flow, FlowError> {
        parse(self.row(id_or_name).await?)
    }

    pub async fn list(&self, before_id: Option<&str>, limit: i64) -> Result<Page<Flow>, FlowError> {
        let page = self.store.list_flows(before_id, limit).await?;
        Ok(Page {
            items: page.items.into_iter().map(parse).collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }

    /// Replaces the definition with a new version; the same definition again changes nothing.
    pub async fn replace(&self, id_or_name: &str, spec: FlowSpec) -> Result<Flow, FlowError> {
        let row = self.row(id_or_name).await?;
        self.replace_row(row, spec).await
    }

    /// A partial update: top-level keys of `patch` replace the current definition's.
    pub async fn update(&self, id_or_name: &str, patch: &Value) -> Result<Flow, FlowError> {
        let row = self.row(id_or_name).await?;
        let current: Value = serde_json::from_str(&row.definition).unwrap_or_default();
        let merged = crate::sources::merge_patch(&current, patch);
        let spec: FlowSpec = serde_json::from_value(merged).map_err(|e| invalid("", e))?;
        self.replace_row(row, spec).await
    }

    async fn replace_row(&self, row: FlowRow, spec: FlowSpec) -> Result<Flow, FlowError> {
        let current = parse(row.clone())?;
        if *current.spec == spec {
            return Ok(current);
        }
        self.check(&spec).await?;
        let new = FlowRow {
            id: row.id.clone(),
            name: spec.name.clone(),
            version: row.version + 1,
            definition: definition(&spec),
            created_at: row.created_at,
            updated_at: now_micros().max(row.updated_at + 1),
        };
        if !self
            .store
            .update_flow(&new)
            .await
            .map_err(|e| name_taken(e, &new.name))?
        {
            return Err(FlowError::Changed);
        }
        self.changed().await;
        parse(new)
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<(), FlowError> {
        let row = self.row(id_or_name).await?;
        if !self.store.delete_flow(&row.id).await? {
            return Err(FlowError::NotFound);
        }
        self.changed().await;
        Ok(())
    }

    /// Every version of a flow, newest first.
    pub async fn versions(&self, id_or_name: &str) -> Result<Vec<(i64, FlowSpec, i64)>, FlowError> {
        let row = self.row(id_or_name).await?;
        self.store
            .flow_versions(&row.id)
            .await?
            .into_iter()
            .map(|v| {
                let spec = serde_json::from_str(&v.definition)
                    .map_err(|e| StoreError::Corrupt(format!("flow {} version {}: {e}", v.flow_id, v.version)))?;
                Ok((v.version, spec, v.created_at))
            })
            .collect()
    }

    /// Makes an earlier version's definition current again (a rollback). It is stored as a new
    /// version, so versions stay immutable and every run keeps the one it started with; it is
    /// checked again (a destination it names may be gone). Activating the current definition
    /// changes nothing.
    pub async fn activate(&self, id_or_name: &str, version: i64) -> Result<Flow, FlowError> {
        let row = self.row(id_or_name).await?;
        let spec = self
            .versions(&row.id)
            .await?
            .into_iter()
            .find(|(v, _, _)| *v == version)
            .map(|(_, spec, _)| spec)
            .ok_or(FlowError::VersionNotFound(version))?;
        self.replace_row(row, spec).await
    }

    /// A flow declared in the config file, found by name: created when missing, a new version
    /// when different, else left alone. True when something was written.
    pub async fn apply_declared(&self, spec: FlowSpec) -> Result<bool, FlowError> {
        match self.store.get_flow(&spec.name).await? {
            None => self.create(spec).await.map(|_| true),
            Some(row) => {
                let version = row.version;
                Ok(self.replace_row(row, spec).await?.version != version)
            }
        }
    }

    async fn row(&self, id_or_name: &str) -> Result<FlowRow, FlowError> {
        self.store.get_flow(id_or_name).await?.ok_or(FlowError::NotFound)
    }

    /// A local change shows in the fan-out at once; other nodes see it at their next refresh.
    async fn changed(&self) {
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "flow refresh after a change failed; the periodic refresh will retry");
        }
    }
}

fn definition(spec: &FlowSpec) -> String {
    // Serialising plain data structures to JSON cannot fail.
    serde_json::to_string(spec).unwrap_or_default()
}

fn parse(row: FlowRow) -> Result<Flow, FlowError> {
    let spec: FlowSpec = serde_json::from_str(&row.definition)
        .map_err(|e| StoreError::Corrupt(format!("flow {} definition: {e}", row.id)))?;
    Ok(Flow {
        id: row.id,
        version: row.version,
        spec: Arc::new(spec),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn name_taken(e: StoreError, name: &str) -> FlowError {
    match e {
        StoreError::Conflict(_) => FlowError::NameTaken(name.to_string()),
        other => FlowError::Store(other),
    }
}
