//! Storage of destinations (SPEC §7): the masked definition in the clear, the credential values
//! sealed. The store never sees a credential in the clear; the engine seals and opens them.

use crate::{Page, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DestinationRow {
    pub id: String,
    pub name: String,
    /// `DestinationSpec` as JSON, every credential and header value masked.
    pub config: String,
    /// Sealed JSON of the values (`Credentials`).
    pub sealed: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[async_trait::async_trait]
pub trait DestinationStore: Send + Sync {
    /// `Conflict` when the name is taken.
    async fn insert_destination(&self, row: &DestinationRow) -> StoreResult<()>;
    /// Replaces name, config and sealed; false when the destination is gone.
    async fn update_destination(&self, row: &DestinationRow) -> StoreResult<bool>;
    async fn delete_destination(&self, id: &str) -> StoreResult<bool>;
    /// By `dst_` id or by name.
    async fn get_destination(&self, id_or_name: &str) -> StoreResult<Option<DestinationRow>>;
    /// Newest first, by id.
    async fn list_destinations(&self, before_id: Option<&str>, limit: i64) -> StoreResult<Page<DestinationRow>>;
    async fn all_destinations(&self) -> StoreResult<Vec<DestinationRow>>;
}

pub(crate) const COLUMNS: &str = "id, name, config, sealed, created_at, updated_at";

macro_rules! impl_destination_store {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::DestinationStore for $ty {
            async fn insert_destination(&self, row: &$crate::DestinationRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO destinations (id, name, config, sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(&row.config)
                .bind(&row.sealed)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn update_destination(&self, row: &$crate::DestinationRow) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query(
                    "UPDATE destinations SET name = $2, config = $3, sealed = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(&row.config)
                .bind(&row.sealed)
                .bind(row.updated_at)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_destination(&self, id: &str) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query("DELETE FROM destinations WHERE id = $1").bind(id).execute(&self.write).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_destination(&self, id_or_name: &str) -> $crate::StoreResult<Option<$crate::DestinationRow>> {
                // Names never start with `dst_`, so the two cannot collide.
                let column = if id_or_name.starts_with("dst_") { "id" } else { "name" };
                let sql = format!("SELECT {} FROM destinations WHERE {column} = $1", $crate::destinations::COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id_or_name).fetch_optional(&self.read).await?)
            }

            async fn list_destinations(
                &self,
                before_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::DestinationRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::destinations::COLUMNS).push(" FROM destinations");
                if let Some(id) = before_id {
                    qb.push(" WHERE id < ").push_bind(id.to_string());
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn all_destinations(&self) -> $crate::StoreResult<Vec<$crate::DestinationRow>> {
                let sql = format!("SELECT {} FROM destinations ORDER BY name", $crate::destinations::COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.read).await?)
            }
        }
    };
}
pub(crate) use impl_destination_store;
