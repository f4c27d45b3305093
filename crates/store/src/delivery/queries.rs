//! The delivery queries, shared by both backends through `impl_delivery_store!`; the only
//! difference is how the claim picks its jobs: PostgreSQL's `FOR UPDATE SKIP LOCKED` into an
//! array, so several nodes never wait on (or take) each other's rows. SQLite has one writer
//! connection, which makes the claim atomic on its own. Waiting and running deliveries are rows
//! of the job queue (`jobs.rs`); `deliveries` is their history.

pub(crate) const DELIVERY_COLUMNS: &str = "seq, id, event_id, endpoint_id, status, attempts, next_attempt_at, \
     last_status_code, last_error, created_at, updated_at";
pub(crate) const ENDPOINT_COLUMNS: &str =
    "id, name, config, sealed, enabled, disabled_reason, failing_since, created_at, updated_at";
pub(crate) const ATTEMPT_COLUMNS: &str =
    "id, delivery_id, at, duration_ms, status_code, error_class, request_headers, response_excerpt";

/// Inserts delivery rows (used inside the intake/publish batch).
macro_rules! push_delivery_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push(
            "INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at, ordering_key) ",
        );
        $qb.push_values($chunk, |mut b, d: &&$crate::NewDelivery| {
            b.push_bind(d.id.clone())
                .push_bind(d.event_id.clone())
                .push_bind(d.endpoint_id.clone())
                .push("'pending', 0")
                .push_bind(d.next_attempt_at)
                .push_bind(d.created_at)
                .push_bind(d.created_at)
                .push_bind(d.ordering_key.clone());
        });
    };
}
pub(crate) use push_delivery_rows;

/// Inserts the queue's job rows for new deliveries (a statement of its own, after
/// [`push_delivery_rows`], in the same transaction).
macro_rules! push_delivery_job_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push("INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key) ");
        $qb.push_values($chunk, |mut b, d: &&$crate::NewDelivery| {
            b.push_bind($crate::JobKind::Delivery.as_str())
                .push_bind(d.id.clone())
                .push_bind(d.endpoint_id.clone())
                .push_bind(d.next_attempt_at)
                .push_bind(d.ordering_key.clone());
        });
    };
}
pub(crate) use push_delivery_job_rows;

/// The claimed delivery joined with what sending it needs from its event.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    #[sqlx(flatten)]
    pub delivery: crate::DeliveryRow,
    pub event_type: Option<String>,
    pub payload: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub received_at: Option<i64>,
}

impl ClaimedRow {
    pub(crate) fn into_claimed(self, job: i64) -> crate::Claimed {
        let r = self;
        // An event deleted by retention leaves an empty payload; the attempt still runs and
        // records what it sent.
        crate::Claimed {
            job,
            delivery: r.delivery,
            event_type: r.event_type,
            payload: r.payload.unwrap_or_default(),
            content_type: r.content_type,
            received_at: r.received_at.unwrap_or(0),
        }
    }
}

/// The deliveries of a replay scope, as a condition on `deliveries` aliased `d`.
macro_rules! push_replay_scope {
    ($qb:expr, $scope:expr) => {
        match $scope {
            $crate::ReplayScope::Delivery(id) => {
                $qb.push(" AND d.id = ").push_bind(id.clone());
            }
            $crate::ReplayScope::Event(id) => {
                $qb.push(" AND d.event_id = ").push_bind(id.clone());
            }
            $crate::ReplayScope::EndpointFailedSince { endpoint_id, since } => {
                $qb.push(" AND d.endpoint_id = ").push_bind(endpoint_id.clone());
                $qb.push(" AND d.status IN ('failed', 'dead') AND d.created_at >= ")
                    .push_bind(*since);
            }
        }
    };
}
pub(crate) use push_replay_scope;

macro_rules! impl_delivery_store {
    ($ty:ty, $db:ty, $claim_open:expr, $claim_close:expr $(, $extra:item)*) => {
        #[async_trait::async_trait]
        impl $crate::DeliveryStore for $ty {
            $($extra)*

            async fn insert_endpoint(&self, row: &$crate::EndpointRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO endpoints (id, config, sealed, enabled, disabled_reason, failing_since, created_at, updated_at, name) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&row.id)
                .bind(&row.config)
                .bind(&row.sealed)
                .bind(row.enabled)
                .bind(&row.disabled_reason)
                .bind(row.failing_since)
                .bind(row.created_at)
                .bind(row.updated_at)
                .bind(&row.name)
                .execute(&self.write)
                .await?;
                self.after_endpoint_change().await
            }

            async fn update_endpoint(&self, row: &$crate::EndpointRow) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query(
                    "UPDATE endpoints SET config = $2, sealed = $3, enabled = $4, disabled_reason = $5, \
                     failing_since = CASE WHEN $4 THEN NULL ELSE failing_since END, updated_at = $6, name = $7 WHERE id = $1",
                )
                .bind(&row.id)
                .bind(&row.config)
                .bind(&row.sealed)
                .bind(row.enabled)
                .bind(&row.disabled_reason)
                .bind(row.updated_at)
                .bind(&row.name)
                .execute(&self.write)
                .await?;
                self.after_endpoint_change().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_endpoint(&self, id: &str) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let done = sqlx::query("DELETE FROM endpoints WHERE id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM endpoint_breakers WHERE endpoint_id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                self.after_endpoint_change().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_endpoint(&self, id: &str) -> $crate::StoreResult<Option<$crate::EndpointRow>> {
                // Names never start with `ep_`, so the two cannot collide.
                let column = if id.starts_with("ep_") { "id" } else { "name" };
                let sql = format!("SELECT {} FROM endpoints WHERE {column} = $1", $crate::delivery::queries::ENDPOINT_COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.read).await?)
            }

            async fn list_endpoints(
                &self,
                before_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::EndpointRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::delivery::queries::ENDPOINT_COLUMNS).push(" FROM endpoints");
                if let Some(id) = before_id {
                    qb.push(" WHERE id < ").push_bind(id.to_string());
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn all_endpoints(&self) -> $crate::StoreResult<Vec<$crate::EndpointRow>> {
                let sql = format!("SELECT {} FROM endpoints", $crate::delivery::queries::ENDPOINT_COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.read).await?)
            }

            async fn claim_deliveries(
                &self,
                owner: &str,
                now: i64,
                lease_until: i64,
                limit: i64,
                endpoint: Option<&str>,
            ) -> $crate::StoreResult<Vec<$crate::Claimed>> {
                self.check_writable()?;
                let kind = $crate::JobKind::Delivery.as_str();
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE jobs SET lease_until = ");
                qb.push_bind(lease_until).push(", lease_owner = ").push_bind(owner.to_string());
                qb.push($claim_open).push("SELECT seq FROM jobs WHERE kind = ").push_bind(kind);
                if let Some(ep) = endpoint {
                    qb.push(" AND lane = ").push_bind(ep.to_string());
                }
                qb.push(" AND due_at <= ").push_bind(now);
                qb.push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now).push(")");
                // FIFO keys: only the oldest job of a (kind, lane, key) may run.
                qb.push(
                    " AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p \
                     WHERE p.kind = jobs.kind AND p.lane = jobs.lane AND p.ordering_key = jobs.ordering_key \
                     AND p.seq < jobs.seq))",
                );
                qb.push(" ORDER BY due_at LIMIT ").push_bind(limit);
                qb.push($claim_close).push(" RETURNING seq, subject_id");
                // A claim need not survive a power cut (a lost lease only means the delivery is
                // claimed again), so it is committed without waiting for the disk where the
                // backend allows; the next durable commit carries it to disk anyway.
                let mut conn = self.write.acquire().await?;
                self.relax_durability(&mut conn).await?;
                let claimed = qb.build_query_as::<(i64, String)>().fetch_all(&mut *conn).await;
                self.restore_durability(&mut conn).await?;
                drop(conn);
                let jobs: std::collections::HashMap<String, i64> =
                    claimed?.into_iter().map(|(seq, id)| (id, seq)).collect();
                if jobs.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                let mut cols = qb.separated(", ");
                for c in $crate::delivery::queries::DELIVERY_COLUMNS.split(", ") {
                    cols.push(format!("d.{c}"));
                }
                qb.push(
                    ", e.event_type, e.payload, e.content_type, e.received_at \
                     FROM deliveries d LEFT JOIN events e ON e.id = d.event_id WHERE d.id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in jobs.keys() {
                    sep.push_bind(id.clone());
                }
                qb.push(")");
                let rows: Vec<$crate::delivery::queries::ClaimedRow> =
                    qb.build_query_as().persistent(false).fetch_all(&self.read).await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|r| {
                        let job = *jobs.get(&r.delivery.id)?;
                        Some(r.into_claimed(job))
                    })
                    .collect())
            }

            async fn complete_attempts(&self, results: &[$crate::AttemptResult], now: i64) -> $crate::StoreResult<()> {
                if results.is_empty() {
                    return Ok(());
                }
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let mut ended_jobs = 0;
                for chunk in results.chunks(200) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO attempts (");
                    qb.push($crate::delivery::queries::ATTEMPT_COLUMNS).push(") ");
                    qb.push_values(chunk, |mut b, r| {
                        let a = &r.attempt;
                        b.push_bind(a.id.clone())
                            .push_bind(a.delivery_id.clone())
                            .push_bind(a.at)
                            .push_bind(a.duration_ms)
                            .push_bind(a.status_code)
                            .push_bind(a.error_class.clone())
                            .push_bind(a.request_headers.clone())
                            .push_bind(a.response_excerpt.clone());
                    });
                    qb.build().persistent(false).execute(&mut *tx).await?;
                    let kind = $crate::JobKind::Delivery.as_str();
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "WITH v (job, id, owner, status, next_at, code, err) AS (",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        b.push("CAST(")
                            .push_bind_unseparated(r.job)
                            .push_unseparated(" AS BIGINT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.attempt.delivery_id.clone())
                            .push_unseparated(" AS TEXT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.lease_owner.clone())
                            .push_unseparated(" AS TEXT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.status.as_str())
                            .push_unseparated(" AS TEXT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.next_attempt_at)
                            .push_unseparated(" AS BIGINT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.attempt.status_code)
                            .push_unseparated(" AS BIGINT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.attempt.error_class.clone())
                            .push_unseparated(" AS TEXT)");
                    });
                    // Only the lease holder moves a delivery on (its job row says who holds it);
                    // a late result of a lost lease is logged above and changes nothing else.
                    qb.push(
                        ") UPDATE deliveries SET status = v.status, attempts = deliveries.attempts + 1, \
                         next_attempt_at = v.next_at, last_status_code = v.code, last_error = v.err, updated_at = ",
                    );
                    qb.push_bind(now);
                    qb.push(" FROM v WHERE deliveries.id = v.id AND EXISTS (SELECT 1 FROM jobs j WHERE j.seq = v.job");
                    qb.push(" AND j.kind = ").push_bind(kind).push(" AND j.subject_id = v.id AND j.lease_owner = v.owner)");
                    qb.build().persistent(false).execute(&mut *tx).await?;
                    // Then the queue: a retry waits for its due time, anything else ends its job.
                    let (retries, ended): (Vec<_>, Vec<_>) =
                        chunk.iter().partition(|r| r.status == switchyard_core::delivery::DeliveryStatus::Pending);
                    if !retries.is_empty() {
                        let mut qb = sqlx::QueryBuilder::<$db>::new("WITH v (job, owner, next_at) AS (");
                        qb.push_values(&retries, |mut b, r| {
                            b.push("CAST(")
                                .push_bind_unseparated(r.job)
                                .push_unseparated(" AS BIGINT)")
                                .push("CAST(")
                                .push_bind_unseparated(r.lease_owner.clone())
                                .push_unseparated(" AS TEXT)")
                                .push("CAST(")
                                .push_bind_unseparated(r.next_attempt_at.unwrap_or(now))
                                .push_unseparated(" AS BIGINT)");
                        });
                        qb.push(
                            ") UPDATE jobs SET due_at = v.next_at, lease_until = NULL, lease_owner = NULL \
                             FROM v WHERE jobs.seq = v.job AND jobs.lease_owner = v.owner",
                        );
                        qb.build().persistent(false).execute(&mut *tx).await?;
                    }
                    // By owner (one per node in practice), so the jobs are a primary-key list.
                    let mut by_owner: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
                    for r in &ended {
                        by_owner.entry(r.lease_owner.as_str()).or_default().push(r.job);
                    }
                    for (owner, jobs) in by_owner {
                        let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM jobs WHERE lease_owner = ");
                        qb.push_bind(owner.to_string()).push(" AND seq IN (");
                        let mut list = qb.separated(", ");
                        for job in jobs {
                            list.push_bind(job);
                        }
                        qb.push(")");
                        ended_jobs += qb.build().persistent(false).execute(&mut *tx).await?.rows_affected();
                    }
                }
                // Endpoint health: the last word per endpoint in this batch, a disable over all.
                let mut health: std::collections::BTreeMap<&str, &$crate::EndpointHealth> = Default::default();
                for r in results {
                    let slot = health.entry(r.endpoint_id.as_str()).or_insert(&r.health);
                    if !matches!(slot, $crate::EndpointHealth::Disable(_)) {
                        *slot = &r.health;
                    }
                }
                for (endpoint, h) in health {
                    let q = match h {
                        $crate::EndpointHealth::Unchanged => continue,
                        $crate::EndpointHealth::Healthy => sqlx::query(
                            "UPDATE endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                        )
                        .bind(endpoint),
                        $crate::EndpointHealth::Failing => sqlx::query(
                            "UPDATE endpoints SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL",
                        )
                        .bind(endpoint)
                        .bind(now),
                        $crate::EndpointHealth::Disable(reason) => sqlx::query(
                            "UPDATE endpoints SET enabled = false, disabled_reason = $3, updated_at = $2 WHERE id = $1",
                        )
                        .bind(endpoint)
                        .bind(now)
                        .bind(reason.clone()),
                    };
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                self.after_jobs_ended(ended_jobs);
                Ok(())
            }

            async fn release_claims(&self, owner: &str, jobs: &[i64]) -> $crate::StoreResult<()> {
                if jobs.is_empty() {
                    return Ok(());
                }
                self.check_writable()?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE jobs SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = ",
                );
                qb.push_bind(owner.to_string()).push(" AND seq IN (");
                let mut sep = qb.separated(", ");
                for job in jobs {
                    sep.push_bind(*job);
                }
                qb.push(")");
                // Like a claim, giving one back need not wait for the disk.
                let mut conn = self.write.acquire().await?;
                self.relax_durability(&mut conn).await?;
                let done = qb.build().persistent(false).execute(&mut *conn).await;
                self.restore_durability(&mut conn).await?;
                done?;
                Ok(())
            }

            async fn due_endpoints(&self) -> $crate::StoreResult<Vec<(String, i64)>> {
                Ok(sqlx::query_as("SELECT lane, MIN(due_at) FROM jobs WHERE kind = $1 GROUP BY lane")
                    .bind($crate::JobKind::Delivery.as_str())
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn replay(&self, scope: &$crate::ReplayScope, now: i64) -> $crate::StoreResult<u64> {
                self.check_writable()?;
                let kind = $crate::JobKind::Delivery.as_str();
                let mut tx = self.write.begin().await?;
                // A delivery in flight (its job under a live lease) is left alone: resetting it
                // could send it twice at once. The others' waiting jobs are dropped, every one of
                // them gets a job due now, and they are made pending again. The queue has no
                // index by subject (workers name jobs by `seq`), so each step reads the jobs
                // once into a set — a replay is rare, the queue holds only unfinished jobs — and
                // on PostgreSQL the rows written stay locked until commit.
                let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM jobs WHERE kind = ");
                qb.push_bind(kind).push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now);
                qb.push(") AND subject_id IN (SELECT d.id FROM deliveries d WHERE 1 = 1");
                $crate::delivery::queries::push_replay_scope!(qb, scope);
                qb.push(")");
                qb.build().persistent(false).execute(&mut *tx).await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key) SELECT ",
                );
                qb.push_bind(kind).push(", d.id, d.endpoint_id, ").push_bind(now);
                qb.push(", d.ordering_key FROM deliveries d WHERE 1 = 1");
                $crate::delivery::queries::push_replay_scope!(qb, scope);
                qb.push(" AND d.id NOT IN (SELECT subject_id FROM jobs WHERE kind = ").push_bind(kind).push(")");
                qb.push(" ORDER BY d.seq");
                qb.build().persistent(false).execute(&mut *tx).await?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ",
                );
                qb.push_bind(now).push(", updated_at = ").push_bind(now);
                qb.push(" WHERE id IN (SELECT d.id FROM deliveries d WHERE 1 = 1");
                $crate::delivery::queries::push_replay_scope!(qb, scope);
                qb.push(" AND d.id NOT IN (SELECT subject_id FROM jobs WHERE kind = ").push_bind(kind);
                qb.push(" AND lease_until > ").push_bind(now).push(")");
                qb.push(")");
                let n = qb.build().persistent(false).execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                self.after_replay(n).await?;
                Ok(n)
            }

            async fn list_deliveries(
                &self,
                f: &$crate::DeliveryFilter,
            ) -> $crate::StoreResult<$crate::Page<$crate::DeliveryRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::delivery::queries::DELIVERY_COLUMNS).push(" FROM deliveries WHERE 1 = 1");
                if let Some(e) = &f.event_id {
                    qb.push(" AND event_id = ").push_bind(e.clone());
                }
                if let Some(e) = &f.endpoint_id {
                    qb.push(" AND endpoint_id = ").push_bind(e.clone());
                }
                if let Some(s) = &f.status {
                    qb.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(seq) = f.before_seq {
                    qb.push(" AND seq < ").push_bind(seq);
                }
                qb.push(" ORDER BY seq DESC LIMIT ").push_bind(f.limit + 1);
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, f.limit))
            }

            async fn get_delivery(&self, id: &str) -> $crate::StoreResult<Option<$crate::DeliveryRow>> {
                let sql = format!("SELECT {} FROM deliveries WHERE id = $1", $crate::delivery::queries::DELIVERY_COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.read).await?)
            }

            async fn list_attempts(&self, delivery_id: &str) -> $crate::StoreResult<Vec<$crate::AttemptRow>> {
                let sql = format!(
                    "SELECT {} FROM attempts WHERE delivery_id = $1 ORDER BY seq",
                    $crate::delivery::queries::ATTEMPT_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(delivery_id).fetch_all(&self.read).await?)
            }
        }
    };
}
pub(crate) use impl_delivery_store;
