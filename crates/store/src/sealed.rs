//! Every value sealed with the master key, wherever it is kept, so a key rotation can re-seal
//! them all. A value is replaced only if it is still the one that was read: a concurrent write
//! through the API (sealed under the current key already) is never overwritten.

use crate::StoreResult;

/// Where sealed values live: one column per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SealedKind {
    /// `sources.secrets`: the verification secrets of a source.
    SourceSecrets,
    /// `endpoints.sealed`: an endpoint's signing secrets and header values.
    EndpointSecrets,
    /// `destinations.sealed`: a destination's credentials and header values.
    DestinationCredentials,
    /// `alerts.sealed`: an alert's channel (its URL may carry a token).
    AlertChannel,
}

impl SealedKind {
    pub const ALL: [SealedKind; 4] = [
        SealedKind::SourceSecrets,
        SealedKind::EndpointSecrets,
        SealedKind::DestinationCredentials,
        SealedKind::AlertChannel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SealedKind::SourceSecrets => "sources",
            SealedKind::EndpointSecrets => "endpoints",
            SealedKind::DestinationCredentials => "destinations",
            SealedKind::AlertChannel => "alerts",
        }
    }

    /// The table and the column; fixed strings, never input.
    pub(crate) fn column(self) -> (&'static str, &'static str) {
        match self {
            SealedKind::SourceSecrets => ("sources", "secrets"),
            SealedKind::EndpointSecrets => ("endpoints", "sealed"),
            SealedKind::DestinationCredentials => ("destinations", "sealed"),
            SealedKind::AlertChannel => ("alerts", "sealed"),
        }
    }
}

/// One sealed value and the row that holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SealedValue {
    pub id: String,
    pub sealed: Vec<u8>,
}

#[async_trait::async_trait]
pub trait SealedStore: Send + Sync {
    /// A page of `kind`'s sealed values in id order, after `after_id`.
    async fn sealed_values(
        &self,
        kind: SealedKind,
        after_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<SealedValue>>;
    /// Writes `new` where the row still holds `old`; false when it changed meanwhile or is gone.
    /// The row's `updated_at` is kept: what it means has not changed.
    async fn replace_sealed(&self, kind: SealedKind, id: &str, old: &[u8], new: &[u8]) -> StoreResult<bool>;
}

macro_rules! impl_sealed_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::SealedStore for $ty {
            async fn sealed_values(
                &self,
                kind: $crate::SealedKind,
                after_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::SealedValue>> {
                let (table, column) = kind.column();
                let sql = format!(
                    "SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL AND id > $1 ORDER BY id LIMIT $2"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(after_id.unwrap_or(""))
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn replace_sealed(
                &self,
                kind: $crate::SealedKind,
                id: &str,
                old: &[u8],
                new: &[u8],
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let (table, column) = kind.column();
                let sql = format!("UPDATE {table} SET {column} = $3 WHERE id = $1 AND {column} = $2");
                let done = sqlx::query(&sql).bind(id).bind(old).bind(new).execute(&self.write).await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_sealed_store;
