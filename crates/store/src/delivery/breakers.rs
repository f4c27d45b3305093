//! Shared circuit-breaker state. Each node keeps its breakers in memory for the hot path, writes
//! its transitions here, and adopts the other nodes' transitions from here. Invariants:
//! - the newest transition wins (`changed_at`); a late write of an older one changes nothing;
//! - at most one node at a time holds an endpoint's half-open probe, until its probe lease ends.

use crate::StoreResult;

/// One endpoint's breaker as last written by any node.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BreakerRow {
    pub endpoint_id: String,
    /// `None` while closed; an open breaker past `open_until` is half-open.
    pub open_until: Option<i64>,
    pub cooldown: i64,
    pub paused_until: i64,
    pub changed_at: i64,
}

#[async_trait::async_trait]
pub trait BreakerStore: Send + Sync {
    /// Stores a transition unless a newer one is stored; any probe lease ends with it (the
    /// probe's result is what moved the breaker).
    async fn put_breaker(&self, row: &BreakerRow) -> StoreResult<()>;
    /// Breakers changed at or after `since` (µs).
    async fn breakers_changed_since(&self, since: i64) -> StoreResult<Vec<BreakerRow>>;
    /// Takes the endpoint's half-open probe for `owner` until `until`: true when the stored
    /// breaker (if any) is closed or past its open period and no other node holds the probe, or
    /// `owner` already holds it.
    async fn claim_probe(&self, endpoint_id: &str, owner: &str, now: i64, until: i64) -> StoreResult<bool>;
}

macro_rules! impl_breaker_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::BreakerStore for $ty {
            async fn put_breaker(&self, row: &$crate::BreakerRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO endpoint_breakers (endpoint_id, open_until, cooldown, paused_until, changed_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (endpoint_id) DO UPDATE SET open_until = excluded.open_until, \
                     cooldown = excluded.cooldown, paused_until = excluded.paused_until, changed_at = excluded.changed_at, \
                     probe_owner = NULL, probe_until = NULL \
                     WHERE excluded.changed_at >= endpoint_breakers.changed_at",
                )
                .bind(&row.endpoint_id)
                .bind(row.open_until)
                .bind(row.cooldown)
                .bind(row.paused_until)
                .bind(row.changed_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn breakers_changed_since(&self, since: i64) -> $crate::StoreResult<Vec<$crate::BreakerRow>> {
                Ok(sqlx::query_as(
                    "SELECT endpoint_id, open_until, cooldown, paused_until, changed_at \
                     FROM endpoint_breakers WHERE changed_at >= $1",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?)
            }

            async fn claim_probe(
                &self,
                endpoint_id: &str,
                owner: &str,
                now: i64,
                until: i64,
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                // With no breaker stored yet (its first write may still be on the way), a closed
                // placeholder holds the probe lease, so even then only one node probes.
                let taken: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO endpoint_breakers (endpoint_id, cooldown, paused_until, changed_at, probe_owner, probe_until) \
                     VALUES ($1, 0, 0, 0, $2, $4) \
                     ON CONFLICT (endpoint_id) DO UPDATE SET probe_owner = excluded.probe_owner, probe_until = excluded.probe_until \
                     WHERE (endpoint_breakers.open_until IS NULL OR endpoint_breakers.open_until <= $3) \
                     AND (endpoint_breakers.probe_until IS NULL OR endpoint_breakers.probe_until <= $3 \
                     OR endpoint_breakers.probe_owner = $2) \
                     RETURNING endpoint_id",
                )
                .bind(endpoint_id)
                .bind(owner)
                .bind(now)
                .bind(until)
                .fetch_optional(&self.write)
                .await?;
                Ok(taken.is_some())
            }
        }
    };
}
pub(crate) use impl_breaker_store;
