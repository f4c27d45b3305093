//! Shared circuit-breaker state. Each node keeps its breakers in memory for the hot path, writes
//! its transitions here, and adopts the other nodes' transitions from here. Invariants:
//! - the newest transition wins (`changed_at`); a late write of an older one changes nothing;
//! - at most one node at a time holds an endpoint's half-open probe, until its probe lease ends.

use crate::StoreResult;

/// One endpoint's breaker as last written by any node.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BreakerRow {
    pub endpoint_id: String,
    /// `closed` or `open`; an open breaker past `open_until` is half-open.
    pub state: String,
    pub open_until: i64,
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
    /// Takes the endpoint's half-open probe for `owner` until `until`: true when no breaker is
    /// stored, the stored one is closed or past its open period and no other node holds the
    /// probe, or `owner` already holds it.
    async fn claim_probe(&self, endpoint_id: &str, owner: &str, now: i64, until: i64) -> StoreResult<bool>;
}

macro_rules! impl_breaker_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::BreakerStore for $ty {
            async fn put_breaker(&self, row: &$crate::BreakerRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO endpoint_breakers (endpoint_id, state, open_until, cooldown, paused_until, changed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (endpoint_id) DO UPDATE SET state = excluded.state, open_until = excluded.open_until, \
                     cooldown = excluded.cooldown, paused_until = excluded.paused_until, changed_at = excluded.changed_at, \
                     probe_owner = NULL, probe_until = NULL \
                     WHERE excluded.changed_at >= endpoint_breakers.changed_at",
                )
                .bind(&row.endpoint_id)
                .bind(&row.state)
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
                    "SELECT endpoint_id, state, open_until, cooldown, paused_until, changed_at \
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
                let taken = sqlx::query(
                    "UPDATE endpoint_breakers SET probe_owner = $2, probe_until = $4 \
                     WHERE endpoint_id = $1 AND (state <> 'open' OR open_until <= $3) \
                     AND (probe_until IS NULL OR probe_until <= $3 OR probe_owner = $2)",
                )
                .bind(endpoint_id)
                .bind(owner)
                .bind(now)
                .bind(until)
                .execute(&self.write)
                .await?
                .rows_affected();
                if taken == 1 {
                    return Ok(true);
                }
                // Nothing stored means no other node has seen this breaker open: the probe is ours.
                let stored: Option<(String,)> =
                    sqlx::query_as("SELECT endpoint_id FROM endpoint_breakers WHERE endpoint_id = $1")
                        .bind(endpoint_id)
                        .fetch_optional(&self.write)
                        .await?;
                Ok(stored.is_none())
            }
        }
    };
}
pub(crate) use impl_breaker_store;
