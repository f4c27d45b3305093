//! The endpoint catalog. Like the source catalog, writes go to the store first and then refresh
//! the in-memory view, so an endpoint answered as created receives the next publish on this
//! node; other nodes pick changes up on their periodic refresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_core::endpoint::{DEFAULT_ROTATION_GRACE_SECONDS, EndpointSpec};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::secrets::{MasterKey, SecretError};
use switchyard_core::source::FieldError;
use switchyard_core::time::now_micros;
use switchyard_store::{EndpointRow, Page, Store, StoreError};

use crate::sources::merge_patch;

/// A signing secret and, once rotated out, when it stops signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub secret: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// What is sealed at rest: everything an endpoint holds that a reader of the database must not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sealed {
    secrets: Vec<SigningSecret>,
    #[serde(default)]
    headers: Map<String, Value>,
}

/// An endpoint with its secrets opened.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub spec: EndpointSpec,
    /// Newest first; the first never expires.
    pub secrets: Vec<SigningSecret>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    /// The secrets that sign at `now` (µs): the current one, plus rotated-out ones in their grace.
    pub fn signing_secrets(&self, now: i64) -> impl Iterator<Item = &str> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|t| t > now))
            .map(|s| s.secret.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("the endpoint definition is invalid: {}", switchyard_core::source::describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("no such endpoint")]
    NotFound,
    #[error("an endpoint named {0:?} already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored secret could not be opened with the master key: {0}")]
    Sealed(#[from] SecretError),
}

fn invalid(field: &str, message: impl std::fmt::Display) -> EndpointError {
    EndpointError::Invalid(vec![FieldError {
        field: field.into(),
        message: message.to_string(),
    }])
}

/// The unique index on names is the only conflict an endpoint write can meet.
fn name_taken(e: StoreError, spec: &EndpointSpec) -> EndpointError {
    match (e, &spec.name) {
        (StoreError::Conflict(_), Some(name)) => EndpointError::NameTaken(name.clone()),
        (e, _) => EndpointError::Store(e),
    }
}

/// A new `whsec_` secret: 24 random bytes, base64.
pub fn generate_secret() -> String {
    let mut key = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

fn check_secret(secret: &str) -> Result<(), EndpointError> {
    if !secret.starts_with("whsec_") {
        return Err(invalid("secret", "must be a whsec_ secret (base64 after the prefix)"));
    }
    switchyard_core::verify::check_standard_webhooks_secret(secret).map_err(|e| invalid("secret", e))
}

type EndpointMap = HashMap<String, Arc<Endpoint>>;

pub struct EndpointCatalog {
    store: Arc<dyn Store>,
    key: MasterKey,
    by_id: RwLock<Arc<EndpointMap>>,
    /// Endpoints that a delivery result about to be stored disables (410 Gone, failing too
    /// long): kept out of the fan-out from before that write until the refresh after it, so an
    /// endpoint the API already shows disabled gets no new delivery on this node.
    disabling: std::sync::Mutex<HashSet<String>>,
}

impl EndpointCatalog {
    pub async fn load(store: Arc<dyn Store>, key: MasterKey) -> Result<Arc<Self>, EndpointError> {
        let catalog = Arc::new(EndpointCatalog {
            store,
            key,
            by_id: RwLock::new(Arc::default()),
            disabling: std::sync::Mutex::default(),
        });
        catalog.refresh().await?;
        Ok(catalog)
    }

    fn snapshot(&self) -> Arc<EndpointMap> {
        // A poisoned lock only means a writer panicked mid-swap of an Arc: the Arc is still whole.
        self.by_id.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every endpoint in memory (the metrics page lists their breakers).
    pub fn all(&self) -> Vec<Arc<Endpoint>> {
        self.snapshot().values().cloned().collect()
    }

    /// The current definition from memory (the dispatch hot path).
    pub fn lookup(&self, id: &str) -> Option<Arc<Endpoint>> {
        self.snapshot().get(id).cloned()
    }

    /// Enabled endpoints subscribed to `event_type` (their jq filters are the fan-out's job).
    pub fn subscribed(&self, event_type: Option<&str>) -> Vec<Arc<Endpoint>> {
        self.enabled_where(|spec| spec.wants_type(event_type))
    }

    /// The enabled endpoints that forward this source's inbound events of `event_type`.
    pub fn forwarding(&self, source_id: &str, source_name: &str, event_type: Option<&str>) -> Vec<Arc<Endpoint>> {
        self.enabled_where(|spec| spec.forwards_source(source_id, source_name) && spec.wants_type(event_type))
    }

    /// Keeps `ids` out of the fan-out until [`Self::disable_stored`]: called before the write
    /// that disables them.
    pub fn disabling(&self, ids: impl IntoIterator<Item = String>) {
        self.held().extend(ids);
    }

    /// The disable of `ids` is stored and the view refreshed (or the refresh failed, and the
    /// periodic one catches up): they leave the hold.
    pub fn disable_stored<'a>(&self, ids: impl IntoIterator<Item = &'a String>) {
        let mut held = self.held();
        for id in ids {
            held.remove(id);
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A poisoned lock only means a panic mid-insert of a whole string: the set is usable.
        self.disabling.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The enabled endpoints whose spec passes `keep`, in id order.
    fn enabled_where(&self, keep: impl Fn(&EndpointSpec) -> bool) -> Vec<Arc<Endpoint>> {
        let held = self.held();
        let mut out: Vec<Arc<Endpoint>> = self
            .snapshot()
            .values()
            .filter(|e| e.spec.enabled && (held.is_empty() || !held.contains(&e.id)) && keep(&e.spec))
            .cloned()
            .collect();
        drop(held);
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub async fn refresh(&self) -> Result<(), EndpointError> {
        let rows = self.store.all_endpoints().await?;
        let current = self.snapshot();
        let mut map = EndpointMap::with_capacity(rows.len());
        for row in rows {
            let unchanged = current.get(&row.id).filter(|e| {
                e.updated_at == row.updated_at && e.spec.enabled == row.enabled && e.failing_since == row.failing_since
            });
            let e = match unchanged {
                Some(e) => e.clone(),
                None => Arc::new(self.open(row)?),
            };
            map.insert(e.id.clone(), e);
        }
        *self.by_id.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        Ok(())
    }

    /// Refreshes every `every` so changes made by other nodes reach this one even without a
    /// notification.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        crate::refresh::spawn_periodic(self, every, "endpoint", |c| async move { c.refresh().await })
    }

    /// Creates an endpoint; `secret` is generated when absent.
    pub async fn create(&self, spec: EndpointSpec, secret: Option<String>) -> Result<Endpoint, EndpointError> {
        let spec = spec.normalized().map_err(EndpointError::Invalid)?;
        let secret = match secret {
            Some(s) => {
                check_secret(&s)?;
                s
            }
            None => generate_secret(),
        };
        let now = now_micros();
        let endpoint = Endpoint {
            id: new_id(IdKind::Endpoint),
            secrets: vec![SigningSecret {
                secret,
                expires_at: None,
            }],
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            spec,
        };
        self.store
            .insert_endpoint(&self.seal(&endpoint))
            .await
            .map_err(|e| name_taken(e, &endpoint.spec))?;
        self.refresh().await?;
        Ok(endpoint)
    }

    pub async fn get(&self, id: &str) -> Result<Endpoint, EndpointError> {
        let row = self.store.get_endpoint(id).await?.ok_or(EndpointError::NotFound)?;
        self.open(row)
    }

    pub async fn list(&self, before_id: Option<&str>, limit: i64) -> Result<Page<Endpoint>, EndpointError> {
        let page = self.store.list_endpoints(before_id, limit).await?;
        let items = page.items.into_iter().map(|r| self.open(r)).collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            has_more: page.has_more,
        })
    }
}

/// The disabled reason of an endpoint an operator disabled (not Switchyard: alerts tell apart).
pub const DISABLED_BY_OPERATOR: &str = "disabled through the API";

impl EndpointCatalog {
    /// A partial update (top-level keys replace); re-enabling clears the disabled reason.
    pub async fn update(&self, id: &str, patch: &Value) -> Result<Endpoint, EndpointError> {
        let current = self.get(id).await?;
        let current_json = serde_json::to_value(&current.spec).map_err(|e| invalid("", e))?;
        let merged = merge_patch(&current_json, patch);
        let spec: EndpointSpec = serde_json::from_value(merged).map_err(|e| invalid("", e))?;
        let spec = spec.normalized().map_err(EndpointError::Invalid)?;
        let disabled_reason = if spec.enabled {
            None
        } else {
            current.disabled_reason.clone().or(Some(DISABLED_BY_OPERATOR.into()))
        };
        self.replace(Endpoint {
            spec,
            disabled_reason,
            ..current
        })
        .await
    }

    /// The checks [`Self::apply_declared`] makes before writing: the definition as it would be
    /// stored (normalized), and the declared secret's form.
    pub fn check_declared(spec: &EndpointSpec, secret: Option<&str>) -> Result<EndpointSpec, EndpointError> {
        if spec.name.is_none() {
            return Err(invalid("name", "endpoints in the config file need a name"));
        }
        if let Some(s) = secret {
            check_secret(s)?;
        }
        spec.clone().normalized().map_err(EndpointError::Invalid)
    }

    /// Applies an endpoint declared in the config file, found by its `name`: created when missing
    /// (with `secret`, or a generated one), replaced when its definition differs, left alone when
    /// equal — so starting twice with the same file changes nothing. A declared `secret` that
    /// differs from the current one becomes the only signing secret; without one, the stored
    /// secrets are kept. Returns whether anything changed.
    pub async fn apply_declared(&self, spec: EndpointSpec, secret: Option<String>) -> Result<bool, EndpointError> {
        let Some(name) = spec.name.clone() else {
            return Err(invalid("name", "endpoints in the config file need a name"));
        };
        let spec = spec.normalized().map_err(EndpointError::Invalid)?;
        let current = match self.get(&name).await {
            Ok(e) => e,
            Err(EndpointError::NotFound) => {
                self.create(spec, secret).await?;
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        let new_secret = match secret {
            Some(s) if current.secrets.first().is_none_or(|c| c.secret != s) => {
                check_secret(&s)?;
                Some(s)
            }
            _ => None,
        };
        if current.spec == spec && new_secret.is_none() {
            return Ok(false);
        }
        let mut updated = Endpoint {
            disabled_reason: if spec.enabled {
                None
            } else {
                current.disabled_reason.clone()
            },
            spec,
            ..current
        };
        if let Some(s) = new_secret {
            updated.secrets = vec![SigningSecret {
                secret: s,
                expires_at: None,
            }];
        }
        self.replace(updated).await?;
        Ok(true)
    }

    /// Makes `new` (or a generated secret) the signing secret; the previous ones keep signing
    /// beside it for `grace_seconds` (default 24 h) so receivers can switch without a gap.
    pub async fn rotate_secret(
        &self,
        id: &str,
        new: Option<String>,
        grace_seconds: Option<u64>,
    ) -> Result<Endpoint, EndpointError> {
        let mut current = self.get(id).await?;
        let new = match new {
            Some(s) => {
                check_secret(&s)?;
                s
            }
            None => generate_secret(),
        };
        let now = now_micros();
        let grace = grace_seconds
            .unwrap_or(DEFAULT_ROTATION_GRACE_SECONDS)
            .min(switchyard_core::endpoint::MAX_ROTATION_GRACE_SECONDS) as i64;
        let until = now.saturating_add(grace.saturating_mul(1_000_000));
        for s in &mut current.secrets {
            s.expires_at = Some(s.expires_at.map_or(until, |t| t.min(until)));
        }
        current.secrets.retain(|s| s.expires_at.is_none_or(|t| t > now));
        current.secrets.insert(
            0,
            SigningSecret {
                secret: new,
                expires_at: None,
            },
        );
        self.replace(current).await
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<(), EndpointError> {
        let id = self.get(id_or_name).await?.id;
        if !self.store.delete_endpoint(&id).await? {
            return Err(EndpointError::NotFound);
        }
        self.refresh().await
    }

    async fn replace(&self, mut updated: Endpoint) -> Result<Endpoint, EndpointError> {
        updated.updated_at = now_micros().max(updated.updated_at + 1);
        let done = self
            .store
            .update_endpoint(&self.seal(&updated))
            .await
            .map_err(|e| name_taken(e, &updated.spec))?;
        if !done {
            return Err(EndpointError::NotFound);
        }
        self.refresh().await?;
        Ok(updated)
    }

    fn seal(&self, e: &Endpoint) -> EndpointRow {
        let mut public = e.spec.clone();
        let headers = std::mem::take(&mut public.headers);
        let sealed = Sealed {
            secrets: e.secrets.clone(),
            headers,
        };
        EndpointRow {
            id: e.id.clone(),
            name: public.name.clone(),
            // Serialising plain data structures to JSON cannot fail.
            config: serde_json::to_string(&public).unwrap_or_default(),
            sealed: self
                .key
                .seal(serde_json::to_string(&sealed).unwrap_or_default().as_bytes()),
            enabled: public.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }

    fn open(&self, row: EndpointRow) -> Result<Endpoint, EndpointError> {
        let corrupt =
            |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("endpoint {} {what}: {e}", row.id));
        let mut spec: EndpointSpec = serde_json::from_str(&row.config).map_err(|e| corrupt("config", &e))?;
        let plain = self.key.open(&row.sealed)?;
        let sealed: Sealed = serde_json::from_slice(&plain).map_err(|e| corrupt("secrets", &e))?;
        spec.headers = sealed.headers;
        spec.enabled = row.enabled;
        Ok(Endpoint {
            id: row.id,
            spec,
            secrets: sealed.secrets,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
