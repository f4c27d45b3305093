//! The delivery queries, shared by both backends through `impl_delivery_store!`; the only
//! difference is PostgreSQL's `FOR UPDATE SKIP LOCKED` in the claim, so several nodes never
//! wait on (or take) each other's rows. SQLite has one writer connection, which makes the claim
//! atomic on its own.

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

macro_rules! impl_delivery_store {
    ($ty:ty, $db:ty, $skip_locked:expr $(, $extra:item)*) => {
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
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE deliveries SET lease_until = ");
                qb.push_bind(lease_until).push(", lease_owner = ").push_bind(owner.to_string());
                qb.push(" WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending'");
                if let Some(ep) = endpoint {
                    qb.push(" AND endpoint_id = ").push_bind(ep.to_string());
                }
                qb.push(" AND next_attempt_at <= ").push_bind(now);
                qb.push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now).push(")");
                // FIFO keys: only the oldest pending delivery of an (endpoint, key) may run.
                qb.push(
                    " AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries p \
                     WHERE p.endpoint_id = deliveries.endpoint_id AND p.ordering_key = deliveries.ordering_key \
                     AND p.status = 'pending' AND p.seq < deliveries.seq))",
                );
                qb.push(" ORDER BY next_attempt_at LIMIT ").push_bind(limit);
                qb.push($skip_locked).push(") RETURNING ").push($crate::delivery::queries::DELIVERY_COLUMNS);
                // A claim need not survive a power cut (a lost lease only means the delivery is
                // claimed again), so it is committed without waiting for the disk where the
                // backend allows; the next durable commit carries it to disk anyway.
                let mut conn = self.write.acquire().await?;
                self.relax_durability(&mut conn).await?;
                let claimed = qb.build_query_as::<$crate::DeliveryRow>().fetch_all(&mut *conn).await;
                self.restore_durability(&mut conn).await?;
                drop(conn);
                let rows = claimed?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, event_type, payload, content_type, received_at FROM events WHERE id IN (",
                );
                let mut sep = qb.separated(", ");
                for r in &rows {
                    sep.push_bind(r.event_id.clone());
                }
                qb.push(")");
                type EventParts = (Option<String>, Vec<u8>, Option<String>, i64);
                let events: Vec<(String, Option<String>, Vec<u8>, Option<String>, i64)> =
                    qb.build_query_as().fetch_all(&self.read).await?;
                let by_id: std::collections::HashMap<String, EventParts> =
                    events.into_iter().map(|(id, t, p, ct, at)| (id, (t, p, ct, at))).collect();
                Ok(rows
                    .into_iter()
                    .map(|delivery| {
                        // An event deleted by retention leaves an empty payload; the attempt
                        // still runs and records what it sent.
                        let (event_type, payload, content_type, received_at) =
                            by_id.get(&delivery.event_id).cloned().unwrap_or((None, Vec::new(), None, 0));
                        $crate::Claimed { delivery, event_type, payload, content_type, received_at }
                    })
                    .collect())
            }

            async fn complete_attempts(&self, results: &[$crate::AttemptResult], now: i64) -> $crate::StoreResult<()> {
                if results.is_empty() {
                    return Ok(());
                }
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
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
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "WITH v (id, owner, status, next_at, code, err) AS (",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        b.push("CAST(")
                            .push_bind_unseparated(r.attempt.delivery_id.clone())
                            .push_unseparated(" AS TEXT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.lease_owner.clone())
                            .push_unseparated(" AS TEXT)")
                            .push("CAST(")
                            .push_bind_unseparated(r.status.clone())
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
                    qb.push(
                        ") UPDATE deliveries SET status = v.status, attempts = deliveries.attempts + 1, \
                         next_attempt_at = v.next_at, lease_until = NULL, lease_owner = NULL, \
                         last_status_code = v.code, last_error = v.err, updated_at = ",
                    );
                    qb.push_bind(now);
                    qb.push(" FROM v WHERE deliveries.id = v.id AND deliveries.lease_owner = v.owner");
                    qb.build().persistent(false).execute(&mut *tx).await?;
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
                Ok(())
            }

            async fn release_claims(&self, owner: &str, ids: &[String]) -> $crate::StoreResult<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                self.check_writable()?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = ",
                );
                qb.push_bind(owner.to_string()).push(" AND id IN (");
                let mut sep = qb.separated(", ");
                for id in ids {
                    sep.push_bind(id.clone());
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
                Ok(sqlx::query_as(
                    "SELECT endpoint_id, MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' GROUP BY endpoint_id",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn replay(&self, scope: &$crate::ReplayScope, now: i64) -> $crate::StoreResult<u64> {
                self.check_writable()?;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, lease_until = NULL, lease_owner = NULL, next_attempt_at = ",
                );
                qb.push_bind(now).push(", updated_at = ").push_bind(now);
                // A delivery in flight (pending under a live lease) is left alone: resetting it
                // could send it twice at once.
                qb.push(" WHERE (status <> 'pending' OR lease_until IS NULL OR lease_until <= ").push_bind(now).push(")");
                match scope {
                    $crate::ReplayScope::Delivery(id) => {
                        qb.push(" AND id = ").push_bind(id.clone());
                    }
                    $crate::ReplayScope::Event(id) => {
                        qb.push(" AND event_id = ").push_bind(id.clone());
                    }
                    $crate::ReplayScope::EndpointFailedSince { endpoint_id, since } => {
                        qb.push(" AND endpoint_id = ").push_bind(endpoint_id.clone());
                        qb.push(" AND status IN ('failed', 'dead') AND created_at >= ").push_bind(*since);
                    }
                }
                let n = qb.build().persistent(false).execute(&self.write).await?.rows_affected();
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
                    qb.push(" AND status = ").push_bind(s.clone());
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
