//! Storage of the audit log (SPEC §4): appended, listed newest first, never rewritten. What goes
//! in (and that it holds no secret) is the engine's business (`switchyard_core::audit`).

use crate::{Page, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub at: i64,
    /// The API key that made the change; `None` for the config file.
    pub key_id: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: String,
    /// JSON: `{"field": {"from", "to"}}`, secrets masked.
    pub changes: String,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries older than this `seq` (the cursor).
    pub before_seq: Option<i64>,
    pub resource_id: Option<String>,
    pub limit: i64,
}

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry (its `seq` is assigned by the store).
    async fn insert_audit(&self, row: &AuditRow) -> StoreResult<()>;
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Page<AuditRow>>;
}

macro_rules! impl_audit_store {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::AuditStore for $ty {
            async fn insert_audit(&self, row: &$crate::AuditRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO audit_log (id, at, key_id, action, resource, resource_id, changes) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&row.id)
                .bind(row.at)
                .bind(&row.key_id)
                .bind(&row.action)
                .bind(&row.resource)
                .bind(&row.resource_id)
                .bind(&row.changes)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn list_audit(&self, f: &$crate::AuditFilter) -> $crate::StoreResult<$crate::Page<$crate::AuditRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT seq, id, at, key_id, action, resource, resource_id, changes FROM audit_log WHERE 1 = 1",
                );
                if let Some(seq) = f.before_seq {
                    qb.push(" AND seq < ").push_bind(seq);
                }
                if let Some(id) = &f.resource_id {
                    qb.push(" AND resource_id = ").push_bind(id.clone());
                }
                qb.push(" ORDER BY seq DESC LIMIT ").push_bind(f.limit + 1);
                let rows = qb
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&self.read)
                    .await?;
                Ok($crate::queries::into_page(rows, f.limit))
            }
        }
    };
}
pub(crate) use impl_audit_store;
