//! Storage side of retention: every table that grows is walked in primary-key (`seq`) windows and
//! the rows the engine judged expired are deleted in small transactions, so no statement holds
//! the writer for long. What expires is decided by the engine (`switchyard_engine::housekeeping`);
//! what must survive is enforced here, in the delete itself:
//! - an event with a pending delivery is never deleted (its payload is what the delivery sends);
//! - a pending delivery is never deleted (it is being retried);
//! - an event with an unfinished flow run is never deleted either (the run reads its payload);
//! - an event takes its finished deliveries, their attempts, its finished flow runs and their
//!   step records, and the receipts naming it along, so nothing is left pointing at a payload
//!   that is gone.
//!
//! Statements here vary with the number of rows, so none is kept in the statement cache.
//!
//! Deleted sources leave a tombstone (`source_tombstones`) holding their definition, so the
//! events they left keep their redaction and retention until they expire.

/// Which growing table a retention walk covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retained {
    Events,
    Receipts,
    Deliveries,
}

/// One row as retention sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RetainedRow {
    pub seq: i64,
    /// The source (events, receipts) or endpoint (deliveries) whose rules apply; `None` for
    /// published events and receipts of unknown source names.
    pub owner: Option<String>,
    pub created_at: i64,
    /// When the row stopped changing: its creation for events and receipts, the last update of a
    /// delivery that is no longer pending, `None` for a pending one.
    pub ended_at: Option<i64>,
}

/// A deleted source's definition, kept while its events are.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TombstoneRow {
    pub id: String,
    pub name: String,
    pub config: String,
    pub deleted_at: i64,
}

#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// Up to `limit` rows of `kind` after `after_seq`, in `seq` order (read from a reader).
    async fn retained_window(&self, kind: Retained, after_seq: i64, limit: i64)
    -> crate::StoreResult<Vec<RetainedRow>>;
    /// Deletes the named rows of `kind` in one transaction, keeping what must survive (see the
    /// module docs); returns how many rows of `kind` went.
    async fn delete_retained(&self, kind: Retained, seqs: &[i64]) -> crate::StoreResult<u64>;
    /// How many rows `kind` holds (tests and diagnostics).
    async fn count_retained(&self, kind: Retained) -> crate::StoreResult<i64>;
    async fn source_tombstones(&self) -> crate::StoreResult<Vec<TombstoneRow>>;
    async fn source_tombstone(&self, id: &str) -> crate::StoreResult<Option<TombstoneRow>>;
    async fn drop_source_tombstone(&self, id: &str) -> crate::StoreResult<()>;
}

impl Retained {
    pub(crate) fn window_sql(self) -> &'static str {
        match self {
            Retained::Events => {
                "SELECT seq, source_id AS owner, received_at AS created_at, received_at AS ended_at \
                 FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
            }
            Retained::Receipts => {
                "SELECT seq, source_id AS owner, at AS created_at, at AS ended_at \
                 FROM receipts WHERE seq > $1 ORDER BY seq LIMIT $2"
            }
            Retained::Deliveries => {
                "SELECT seq, endpoint_id AS owner, created_at, \
                 CASE WHEN status = 'pending' THEN NULL ELSE updated_at END AS ended_at \
                 FROM deliveries WHERE seq > $1 ORDER BY seq LIMIT $2"
            }
        }
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            Retained::Events => "events",
            Retained::Receipts => "receipts",
            Retained::Deliveries => "deliveries",
        }
    }
}

/// Appends `(s1, s2, …)` binding each seq.
macro_rules! push_seq_list {
    ($qb:expr, $seqs:expr) => {{
        $qb.push("(");
        let mut list = $qb.separated(", ");
        for s in $seqs {
            list.push_bind(*s);
        }
        list.push_unseparated(")");
    }};
}
pub(crate) use push_seq_list;

macro_rules! impl_retention_store {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::retention::RetentionStore for $ty {
            async fn retained_window(
                &self,
                kind: $crate::retention::Retained,
                after_seq: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::retention::RetainedRow>> {
                Ok(sqlx::query_as::<_, $crate::retention::RetainedRow>(kind.window_sql())
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn delete_retained(
                &self,
                kind: $crate::retention::Retained,
                seqs: &[i64],
            ) -> $crate::StoreResult<u64> {
                use $crate::retention::{Retained, push_seq_list};
                if seqs.is_empty() {
                    return Ok(0);
                }
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let deleted = match kind {
                    Retained::Events => {
                        // Only events without a pending delivery or an unfinished run; decided
                        // once, inside the transaction, and everything below keys on that list.
                        let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT id FROM events e WHERE e.seq IN ");
                        push_seq_list!(qb, seqs);
                        qb.push(
                            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')",
                        );
                        qb.push(
                            " AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id \
                             AND r.status IN ('pending', 'running', 'waiting'))",
                        );
                        let ids: Vec<String> = qb.build_query_scalar().persistent(false).fetch_all(&mut *tx).await?;
                        if ids.is_empty() {
                            tx.rollback().await?;
                            return Ok(0);
                        }
                        // What refers to the events first, the events last; each statement is
                        // `head (ids…) tail`, and the count is the last one's.
                        let mut deleted = 0;
                        for (head, tail) in [
                            ("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id IN ", ")"),
                            ("DELETE FROM deliveries WHERE event_id IN ", ""),
                            ("DELETE FROM run_steps WHERE run_id IN (SELECT id FROM runs WHERE event_id IN ", ")"),
                            ("DELETE FROM runs WHERE event_id IN ", ""),
                            ("DELETE FROM receipts WHERE event_id IN ", ""),
                            ("DELETE FROM events WHERE id IN ", ""),
                        ] {
                            let mut qb = sqlx::QueryBuilder::<$db>::new(head);
                            qb.push("(");
                            let mut list = qb.separated(", ");
                            for id in &ids {
                                list.push_bind(id.clone());
                            }
                            list.push_unseparated(")");
                            qb.push(tail);
                            deleted = qb.build().persistent(false).execute(&mut *tx).await?.rows_affected();
                        }
                        deleted
                    }
                    Retained::Receipts => {
                        let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM receipts WHERE seq IN ");
                        push_seq_list!(qb, seqs);
                        qb.build().persistent(false).execute(&mut *tx).await?.rows_affected()
                    }
                    Retained::Deliveries => {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE status <> 'pending' AND seq IN ",
                        );
                        push_seq_list!(qb, seqs);
                        qb.push(")");
                        qb.build().persistent(false).execute(&mut *tx).await?;
                        let mut qb =
                            sqlx::QueryBuilder::<$db>::new("DELETE FROM deliveries WHERE status <> 'pending' AND seq IN ");
                        push_seq_list!(qb, seqs);
                        qb.build().persistent(false).execute(&mut *tx).await?.rows_affected()
                    }
                };
                tx.commit().await?;
                Ok(deleted)
            }

            async fn count_retained(&self, kind: $crate::retention::Retained) -> $crate::StoreResult<i64> {
                let sql = format!("SELECT COUNT(*) FROM {}", kind.table());
                Ok(sqlx::query_scalar::<_, i64>(&sql).fetch_one(&self.read).await?)
            }

            async fn source_tombstones(&self) -> $crate::StoreResult<Vec<$crate::retention::TombstoneRow>> {
                Ok(sqlx::query_as::<_, $crate::retention::TombstoneRow>(
                    "SELECT id, name, config, deleted_at FROM source_tombstones",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn source_tombstone(&self, id: &str) -> $crate::StoreResult<Option<$crate::retention::TombstoneRow>> {
                Ok(sqlx::query_as::<_, $crate::retention::TombstoneRow>(
                    "SELECT id, name, config, deleted_at FROM source_tombstones WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn drop_source_tombstone(&self, id: &str) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query("DELETE FROM source_tombstones WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_retention_store;
