//! The alert rules as the API and the config file manage them. The channel (whose URL may carry
//! a token) is sealed with the master key; the stored definition and every view carry it
//! masked, and a write that sends the mask back keeps the stored URL.

use std::sync::Arc;

use switchyard_core::alert::{AlertChannel, AlertSpec, AlertState};
use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::secrets::{MasterKey, SecretError};
use switchyard_core::source::FieldError;
use switchyard_core::time::now_micros;
use switchyard_store::{AlertRow, Store, StoreError};

/// A rule as the API shows it (channel masked) with its state.
#[derive(Debug, Clone)]
pub struct Alert {
    pub id: String,
    pub spec: AlertSpec,
    pub state: AlertState,
    pub since: Option<i64>,
    pub detail: Option<serde_json::Value>,
    pub notified_state: Option<String>,
    pub last_notified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("the alert definition is invalid: {}", switchyard_core::source::describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("no such alert")]
    NotFound,
    #[error("an alert named {0:?} already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored alert channel could not be opened with the master key: {0}")]
    Sealed(#[from] SecretError),
    #[error("a stored alert definition is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

pub struct AlertBook {
    store: Arc<dyn Store>,
    key: MasterKey,
}

impl AlertBook {
    pub fn new(store: Arc<dyn Store>, key: MasterKey) -> Arc<AlertBook> {
        Arc::new(AlertBook { store, key })
    }

    pub async fn create(&self, spec: AlertSpec) -> Result<Alert, AlertError> {
        spec.validate().map_err(AlertError::Invalid)?;
        let now = now_micros();
        let row = AlertRow {
            id: new_id(IdKind::Alert),
            name: spec.name.clone(),
            definition: String::new(),
            sealed: Vec::new(),
            state: AlertState::Ok.as_str().into(),
            since: None,
            detail: None,
            notified_state: None,
            last_notified_at: None,
            created_at: now,
            updated_at: now,
        };
        let row = self.sealed(row, &spec)?;
        self.store
            .insert_alert(&row)
            .await
            .map_err(|e| name_taken(e, &spec.name))?;
        self.view(row)
    }

    pub async fn get(&self, id_or_name: &str) -> Result<Alert, AlertError> {
        self.view(self.row(id_or_name).await?)
    }

    pub async fn list(&self) -> Result<Vec<Alert>, AlertError> {
        self.store
            .all_alerts()
            .await?
            .into_iter()
            .map(|r| self.view(r))
            .collect()
    }

    /// Every rule with its stored (masked) definition: what the monitor judges. Judging needs
    /// no channel, so nothing is decrypted; only a notification's send opens one.
    pub async fn rules(&self) -> Result<Vec<(AlertRow, AlertSpec)>, AlertError> {
        let mut out = Vec::new();
        for row in self.store.all_alerts().await? {
            let spec = serde_json::from_str(&row.definition)?;
            out.push((row, spec));
        }
        Ok(out)
    }

    /// The channel of a stored rule, in the clear: only for sending.
    pub fn open_channel(&self, sealed: &[u8]) -> Result<AlertChannel, AlertError> {
        Ok(serde_json::from_slice(&self.key.open(sealed)?)?)
    }

    /// Replaces the definition (a masked channel URL keeps the stored one). Its state stays:
    /// the next evaluation judges the new rule.
    pub async fn replace(&self, id_or_name: &str, mut spec: AlertSpec) -> Result<Alert, AlertError> {
        let row = self.row(id_or_name).await?;
        let stored = self.open(&row)?;
        spec.channel.keeps_url_of(&stored.channel);
        spec.validate().map_err(AlertError::Invalid)?;
        let row = self.sealed(
            AlertRow {
                updated_at: now_micros(),
                ..row
            },
            &spec,
        )?;
        if !self
            .store
            .update_alert(&row)
            .await
            .map_err(|e| name_taken(e, &spec.name))?
        {
            return Err(AlertError::NotFound);
        }
        self.view(row)
    }

    /// A partial update: top-level keys of `patch` replace those of the masked definition.
    pub async fn update(&self, id_or_name: &str, patch: &serde_json::Value) -> Result<Alert, AlertError> {
        let current = self.get(id_or_name).await?;
        let merged = crate::sources::merge_patch(&serde_json::to_value(&current.spec)?, patch);
        let spec: AlertSpec = serde_json::from_value(merged).map_err(|e| {
            AlertError::Invalid(vec![FieldError {
                field: String::new(),
                message: e.to_string(),
            }])
        })?;
        self.replace(&current.id, spec).await
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<Alert, AlertError> {
        let row = self.row(id_or_name).await?;
        let view = self.view(row.clone())?;
        if !self.store.delete_alert(&row.id).await? {
            return Err(AlertError::NotFound);
        }
        Ok(view)
    }

    /// The stored rule with its channel in the clear: what a declared rule is compared with.
    /// Never shown.
    pub async fn declared_view(&self, name: &str) -> Result<Option<AlertSpec>, AlertError> {
        match self.store.get_alert(name).await? {
            Some(row) => self.open(&row).map(Some),
            None => Ok(None),
        }
    }

    /// Applies a rule declared in the config file, found by name; true when it changed.
    pub async fn apply_declared(&self, spec: AlertSpec) -> Result<bool, AlertError> {
        match self.row(&spec.name).await {
            Ok(row) if self.open(&row)? == spec => Ok(false),
            Ok(row) => self.replace(&row.id, spec).await.map(|_| true),
            Err(AlertError::NotFound) => self.create(spec).await.map(|_| true),
            Err(e) => Err(e),
        }
    }

    async fn row(&self, id_or_name: &str) -> Result<AlertRow, AlertError> {
        self.store.get_alert(id_or_name).await?.ok_or(AlertError::NotFound)
    }

    fn sealed(&self, row: AlertRow, spec: &AlertSpec) -> Result<AlertRow, AlertError> {
        let masked = AlertSpec {
            channel: spec.channel.masked(),
            ..spec.clone()
        };
        Ok(AlertRow {
            name: spec.name.clone(),
            definition: serde_json::to_string(&masked)?,
            sealed: self.key.seal(serde_json::to_string(&spec.channel)?.as_bytes()),
            ..row
        })
    }

    fn open(&self, row: &AlertRow) -> Result<AlertSpec, AlertError> {
        let masked: AlertSpec = serde_json::from_str(&row.definition)?;
        Ok(AlertSpec {
            channel: self.open_channel(&row.sealed)?,
            ..masked
        })
    }

    fn view(&self, row: AlertRow) -> Result<Alert, AlertError> {
        Ok(Alert {
            spec: serde_json::from_str(&row.definition)?,
            state: row.state.parse().unwrap_or(AlertState::Ok),
            since: row.since,
            detail: row.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()),
            notified_state: row.notified_state,
            last_notified_at: row.last_notified_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            id: row.id,
        })
    }
}

fn name_taken(e: StoreError, name: &str) -> AlertError {
    match e {
        StoreError::Conflict(_) => AlertError::NameTaken(name.to_string()),
        other => AlertError::Store(other),
    }
}
