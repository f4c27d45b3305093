//! The plan: each declared definition against the stored one, compared in the form it would be
//! stored in (normalized), its public part field by field and its secrets only for equality.
//! With `prune`, what the server holds and the file does not declare is to be deleted.

use serde::Serialize;
use serde_json::Value;
use switchyard_core::declared::{Change, ChangeAction, Declared, Plan, ResourceKind, diff, secret_changed};

use super::errors::Classify;
use super::{Catalogs, DeclaredError};
use crate::endpoints::EndpointError;
use crate::sources::CatalogError;

/// A definition split for comparison: what may be shown, and its secrets (never shown).
struct Comparable {
    public: Value,
    secret: Value,
}

fn json(v: &impl Serialize) -> Value {
    // Serialising plain data structures to JSON cannot fail.
    serde_json::to_value(v).unwrap_or_default()
}

/// The change that turns `current` into `declared`, if any.
fn change(
    kind: ResourceKind,
    name: &str,
    secret_field: &str,
    current: Option<Comparable>,
    declared: Comparable,
) -> Option<Change> {
    let Some(current) = current else {
        return Some(Change {
            kind,
            name: name.to_string(),
            action: ChangeAction::Create,
            fields: Vec::new(),
        });
    };
    let mut fields = diff(&current.public, &declared.public);
    if current.secret != declared.secret {
        fields.push(secret_changed(secret_field));
    }
    (!fields.is_empty()).then(|| Change {
        kind,
        name: name.to_string(),
        action: ChangeAction::Update,
        fields,
    })
}

pub(super) async fn plan(cat: &Catalogs, d: &Declared, prune: bool) -> Result<Plan, DeclaredError> {
    let mut changes = Vec::new();
    for spec in &d.sources {
        let current = match cat.sources.get(&spec.name).await {
            Ok(s) => Some(s.spec),
            Err(CatalogError::NotFound) => None,
            Err(e) => return Err(e.classify(&format!("source {:?}", spec.name))),
        };
        let split = |s: switchyard_core::source::SourceSpec| {
            let (public, secrets) = s.take_secrets();
            Comparable {
                public: json(&public),
                secret: json(&secrets),
            }
        };
        changes.extend(change(
            ResourceKind::Source,
            &spec.name,
            "verify.secrets",
            current.map(split),
            split(spec.clone()),
        ));
    }
    for e in &d.endpoints {
        let name = e.spec.name.clone().unwrap_or_default();
        let at = format!("endpoint {name:?}");
        let declared = crate::endpoints::EndpointCatalog::check_declared(&e.spec, e.secret.as_deref())
            .map_err(|x| x.classify(&at))?;
        let current = match cat.endpoints.get(&name).await {
            Ok(c) => Some(c),
            Err(EndpointError::NotFound) => None,
            Err(x) => return Err(x.classify(&at)),
        };
        // Without a declared secret the stored ones are kept, so there is nothing to compare.
        let current = current.map(|c| Comparable {
            public: json(&c.spec),
            secret: match &e.secret {
                Some(_) => json(&c.secrets.first().map(|s| &s.secret)),
                None => Value::Null,
            },
        });
        let declared = Comparable {
            public: json(&declared),
            secret: json(&e.secret),
        };
        changes.extend(change(ResourceKind::Endpoint, &name, "secret", current, declared));
    }
    for spec in &d.destinations {
        let at = format!("destination {:?}", spec.name);
        let current = cat
            .destinations
            .declared_view(&spec.name)
            .await
            .map_err(|e| e.classify(&at))?;
        let declared = spec
            .clone()
            .normalized()
            .map_err(|f| DeclaredError::Invalid(super::errors::under(&at, f)))?;
        let split = |s: switchyard_core::destination::DestinationSpec| {
            let (public, creds) = s.split();
            Comparable {
                public: json(&public),
                secret: json(&creds),
            }
        };
        changes.extend(change(
            ResourceKind::Destination,
            &spec.name,
            "auth",
            current.map(split),
            split(declared),
        ));
    }
    for spec in &d.flows {
        let current = match cat.flows.get(&spec.name).await {
            Ok(f) => Some(Comparable {
                public: json(f.spec.as_ref()),
                secret: Value::Null,
            }),
            Err(crate::flows::FlowError::NotFound) => None,
            Err(e) => return Err(e.classify(&format!("flow {:?}", spec.name))),
        };
        let declared = Comparable {
            public: json(spec),
            secret: Value::Null,
        };
        changes.extend(change(ResourceKind::Flow, &spec.name, "", current, declared));
    }
    for spec in &d.alerts {
        let at = format!("alert {:?}", spec.name);
        let current = cat
            .alerts
            .declared_view(&spec.name)
            .await
            .map_err(|e| e.classify(&at))?;
        let split = |s: &switchyard_core::alert::AlertSpec| {
            let masked = switchyard_core::alert::AlertSpec {
                channel: s.channel.masked(),
                ..s.clone()
            };
            Comparable {
                public: json(&masked),
                secret: json(&s.channel),
            }
        };
        changes.extend(change(
            ResourceKind::Alert,
            &spec.name,
            "channel",
            current.as_ref().map(split),
            split(spec),
        ));
    }
    if prune {
        changes.extend(undeclared(cat, d).await?);
    }
    Ok(Plan {
        changes,
        applied: false,
    })
}

/// Deletions: everything stored that the file does not declare (an endpoint without a name,
/// which no file can declare, is named by its id).
async fn undeclared(cat: &Catalogs, d: &Declared) -> Result<Vec<Change>, DeclaredError> {
    let delete = |kind, name: String| Change {
        kind,
        name,
        action: ChangeAction::Delete,
        fields: Vec::new(),
    };
    let mut out = Vec::new();
    let sources = every(
        |b| async move { cat.sources.list(b.as_deref(), 500).await },
        |s| s.id.clone(),
        "sources",
    )
    .await?;
    for s in sources {
        if !d.sources.iter().any(|x| x.name == s.spec.name) {
            out.push(delete(ResourceKind::Source, s.spec.name));
        }
    }
    let endpoints = every(
        |b| async move { cat.endpoints.list(b.as_deref(), 500).await },
        |e| e.id.clone(),
        "endpoints",
    )
    .await?;
    for e in endpoints {
        let declared = e
            .spec
            .name
            .as_ref()
            .is_some_and(|n| d.endpoints.iter().any(|x| x.spec.name.as_ref() == Some(n)));
        if !declared {
            out.push(delete(ResourceKind::Endpoint, e.spec.name.unwrap_or(e.id)));
        }
    }
    let destinations = every(
        |b| async move { cat.destinations.list(b.as_deref(), 500).await },
        |s| s.id.clone(),
        "destinations",
    )
    .await?;
    for s in destinations {
        if !d.destinations.iter().any(|x| x.name == s.spec.name) {
            out.push(delete(ResourceKind::Destination, s.spec.name));
        }
    }
    for row in cat.store.all_flows().await? {
        if !d.flows.iter().any(|x| x.name == row.name) {
            out.push(delete(ResourceKind::Flow, row.name));
        }
    }
    for a in cat.alerts.list().await.map_err(|e| e.classify("alerts"))? {
        if !d.alerts.iter().any(|x| x.name == a.spec.name) {
            out.push(delete(ResourceKind::Alert, a.spec.name));
        }
    }
    Ok(out)
}

/// Every item of a paged listing (pages follow the last id seen).
async fn every<T, E, Fut>(
    page: impl Fn(Option<String>) -> Fut,
    id: impl Fn(&T) -> String,
    at: &str,
) -> Result<Vec<T>, DeclaredError>
where
    E: Classify,
    Fut: std::future::Future<Output = Result<switchyard_store::Page<T>, E>>,
{
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let got = page(before.take()).await.map_err(|e| e.classify(at))?;
        before = got.items.last().map(&id);
        all.extend(got.items);
        if !got.has_more || before.is_none() {
            return Ok(all);
        }
    }
}
