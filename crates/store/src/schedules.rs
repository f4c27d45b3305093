//! Storage of cron triggers' progress: the latest tick each flow fired (see the migration
//! `0015_cron_ticks.sql`). Moves only forward, whoever writes.

use crate::StoreResult;

#[async_trait::async_trait]
pub trait ScheduleStore: Send + Sync {
    /// The latest tick fired for the flow (µs), if any.
    async fn cron_tick(&self, flow_id: &str) -> StoreResult<Option<i64>>;
    /// Records `tick` as fired unless a later one is recorded.
    async fn record_cron_tick(&self, flow_id: &str, tick: i64) -> StoreResult<()>;
}

macro_rules! impl_schedule_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::ScheduleStore for $ty {
            async fn cron_tick(&self, flow_id: &str) -> $crate::StoreResult<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT last_tick FROM cron_ticks WHERE flow_id = $1")
                    .bind(flow_id)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn record_cron_tick(&self, flow_id: &str, tick: i64) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO cron_ticks (flow_id, last_tick) VALUES ($1, $2) ON CONFLICT (flow_id) \
                     DO UPDATE SET last_tick = excluded.last_tick WHERE cron_ticks.last_tick < excluded.last_tick",
                )
                .bind(flow_id)
                .bind(tick)
                .execute(&self.write)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_schedule_store;
