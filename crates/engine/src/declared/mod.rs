//! Configuration as code: reconciles the catalogs with a declared set of definitions (a config
//! file, through `switchyard apply`, the API, or at start-up). The whole file is checked before
//! anything is written; the plan names every changed field (secrets only as "changed"); applying
//! writes exactly the plan, each write audited. Applying the same file twice changes nothing.

mod check;
mod compare;
mod errors;

use std::sync::Arc;

use switchyard_core::audit::{AuditAction, AuditResource};
use switchyard_core::declared::{Change, ChangeAction, Declared, Plan, ResourceKind};
use switchyard_core::secrets::MasterKey;
use switchyard_store::Store;

use crate::alerts::AlertBook;
use crate::destinations::DestinationCatalog;
use crate::endpoints::EndpointCatalog;
use crate::flows::FlowCatalog;
use crate::sources::SourceCatalog;

use errors::Classify;
pub use errors::DeclaredError;

/// The catalogs a declaration reconciles.
#[derive(Clone)]
pub struct Catalogs {
    pub store: Arc<dyn Store>,
    pub sources: Arc<SourceCatalog>,
    pub endpoints: Arc<EndpointCatalog>,
    pub destinations: Arc<DestinationCatalog>,
    pub flows: Arc<FlowCatalog>,
    pub alerts: Arc<AlertBook>,
}

impl Catalogs {
    /// The catalogs alone over a migrated store, for `apply` straight against the database (no
    /// server, no workers; running servers see the changes at their next refresh).
    pub async fn open(store: Arc<dyn Store>, key: MasterKey) -> Result<Catalogs, DeclaredError> {
        store.migrate().await?;
        let sources = SourceCatalog::load(store.clone(), key.clone())
            .await
            .map_err(|e| e.classify("sources"))?;
        let endpoints = EndpointCatalog::load(store.clone(), key.clone())
            .await
            .map_err(|e| e.classify("endpoints"))?;
        let flows = FlowCatalog::load(store.clone(), endpoints.clone())
            .await
            .map_err(|e| e.classify("flows"))?;
        Ok(Catalogs {
            destinations: DestinationCatalog::new(store.clone(), key.clone()),
            alerts: AlertBook::new(store.clone(), key),
            sources,
            endpoints,
            flows,
            store,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Only plan: write nothing.
    pub dry_run: bool,
    /// Also delete what the file does not declare.
    pub prune: bool,
}

/// Who applies, for the audit log: an API key, the server's own config file at start-up, or
/// `switchyard apply --database` (no key: whoever can reach the database).
#[derive(Debug, Clone, Copy)]
pub enum Applier<'a> {
    Key(&'a str),
    ConfigFile,
    Database,
}

/// Checks the whole declaration, plans, and (unless a dry run) applies the plan.
pub async fn reconcile(
    cat: &Catalogs,
    declared: Declared,
    options: ApplyOptions,
    by: Applier<'_>,
) -> Result<Plan, DeclaredError> {
    check::check(cat, &declared).await?;
    let mut plan = compare::plan(cat, &declared, options.prune).await?;
    if options.dry_run || plan.changes.is_empty() {
        return Ok(plan);
    }
    write(cat, declared, &plan.changes, by).await?;
    plan.applied = true;
    Ok(plan)
}

/// Writes the planned changes: creations and updates in dependency order (sources, endpoints,
/// destinations, flows, alerts), then deletions in reverse.
async fn write(cat: &Catalogs, declared: Declared, changes: &[Change], by: Applier<'_>) -> Result<(), DeclaredError> {
    let planned = |kind: ResourceKind, name: &str| {
        changes
            .iter()
            .find(|c| c.kind == kind && c.name == name && c.action != ChangeAction::Delete)
    };
    for spec in declared.sources {
        if let Some(change) = planned(ResourceKind::Source, &spec.name) {
            let at = format!("source {:?}", spec.name);
            cat.sources.upsert(spec).await.map_err(|e| e.classify(&at))?;
            audit(cat, change, by).await;
        }
    }
    for e in declared.endpoints {
        let name = e.spec.name.clone().unwrap_or_default();
        if let Some(change) = planned(ResourceKind::Endpoint, &name) {
            let at = format!("endpoint {name:?}");
            cat.endpoints
                .apply_declared(e.spec, e.secret)
                .await
                .map_err(|e| e.classify(&at))?;
            audit(cat, change, by).await;
        }
    }
    for spec in declared.destinations {
        if let Some(change) = planned(ResourceKind::Destination, &spec.name) {
            let at = format!("destination {:?}", spec.name);
            cat.destinations
                .apply_declared(spec)
                .await
                .map_err(|e| e.classify(&at))?;
            audit(cat, change, by).await;
        }
    }
    for spec in declared.flows {
        if let Some(change) = planned(ResourceKind::Flow, &spec.name) {
            let at = format!("flow {:?}", spec.name);
            cat.flows.apply_declared(spec).await.map_err(|e| e.classify(&at))?;
            audit(cat, change, by).await;
        }
    }
    for spec in declared.alerts {
        if let Some(change) = planned(ResourceKind::Alert, &spec.name) {
            let at = format!("alert {:?}", spec.name);
            cat.alerts.apply_declared(spec).await.map_err(|e| e.classify(&at))?;
            audit(cat, change, by).await;
        }
    }
    let mut deletions: Vec<&Change> = changes.iter().filter(|c| c.action == ChangeAction::Delete).collect();
    deletions.sort_by_key(|c| std::cmp::Reverse(c.kind));
    for change in deletions {
        let at = format!("{} {:?}", change.kind.as_str(), change.name);
        let name = change.name.as_str();
        let id = id_of(cat, change.kind, name).await;
        match change.kind {
            ResourceKind::Source => cat.sources.delete(name).await.map_err(|e| e.classify(&at))?,
            ResourceKind::Endpoint => cat.endpoints.delete(name).await.map_err(|e| e.classify(&at))?,
            ResourceKind::Destination => cat.destinations.delete(name).await.map_err(|e| e.classify(&at))?,
            ResourceKind::Flow => cat.flows.delete(name).await.map_err(|e| e.classify(&at))?,
            ResourceKind::Alert => cat.alerts.delete(name).await.map(|_| ()).map_err(|e| e.classify(&at))?,
        }
        note(cat, change, &id, by).await;
    }
    Ok(())
}

/// The audit entry of a created or updated definition, under its id.
async fn audit(cat: &Catalogs, change: &Change, by: Applier<'_>) {
    let id = id_of(cat, change.kind, &change.name).await;
    note(cat, change, &id, by).await;
}

/// The id of a definition found by name (the name itself when it cannot be read: the audit
/// entry is still written).
async fn id_of(cat: &Catalogs, kind: ResourceKind, name: &str) -> String {
    let store = cat.store.as_ref();
    let id = match kind {
        ResourceKind::Source => store.get_source(name).await.ok().flatten().map(|r| r.id),
        ResourceKind::Endpoint => store.get_endpoint(name).await.ok().flatten().map(|r| r.id),
        ResourceKind::Destination => store.get_destination(name).await.ok().flatten().map(|r| r.id),
        ResourceKind::Flow => store.get_flow(name).await.ok().flatten().map(|r| r.id),
        ResourceKind::Alert => store.get_alert(name).await.ok().flatten().map(|r| r.id),
    };
    id.unwrap_or_else(|| name.to_string())
}

/// One audit entry per applied change: the fields it changed, by name only (no values, so no
/// secret can reach the log).
async fn note(cat: &Catalogs, change: &Change, id: &str, by: Applier<'_>) {
    let action = match change.action {
        ChangeAction::Create => AuditAction::Create,
        ChangeAction::Update => AuditAction::Update,
        ChangeAction::Delete => AuditAction::Delete,
    };
    let resource = match change.kind {
        ResourceKind::Source => AuditResource::Source,
        ResourceKind::Endpoint => AuditResource::Endpoint,
        ResourceKind::Destination => AuditResource::Destination,
        ResourceKind::Flow => AuditResource::Flow,
        ResourceKind::Alert => AuditResource::Alert,
    };
    let (key, from) = match by {
        Applier::Key(id) => (Some(id), "apply"),
        Applier::ConfigFile => (None, "config file"),
        Applier::Database => (None, "apply --database"),
    };
    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
    let note = serde_json::json!({"applied_from": from, "fields": fields});
    crate::audit::record(cat.store.as_ref(), key, action, resource, id, None, Some(&note)).await;
}
