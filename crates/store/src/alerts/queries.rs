//! The alert store's SQL, shared by both backends. PostgreSQL's claim skips rows other nodes
//! hold (`$claim_open`/`$claim_close`, as for deliveries); sums are cast because PostgreSQL
//! sums `BIGINT` into `NUMERIC`.

pub(crate) const ALERT_COLUMNS: &str = "id, name, definition, sealed, state, since, detail, notified_state, \
     last_notified_at, created_at, updated_at";
pub(crate) const NOTIFICATION_COLUMNS: &str =
    "seq, id, alert_id, state, body, status, attempts, next_attempt_at, last_error, created_at, updated_at";
pub(crate) const NOTIFICATION_KIND: &str = "notification";

/// A claimed notification read with its rule's sealed channel.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    #[sqlx(flatten)]
    pub notification: crate::NotificationRow,
    pub sealed: Vec<u8>,
}

macro_rules! impl_alert_store {
    ($ty:ty, $db:ty, $claim_open:expr, $claim_close:expr) => {
        #[async_trait::async_trait]
        impl $crate::AlertStore for $ty {
            async fn insert_alert(&self, row: &$crate::AlertRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO alerts (id, name, definition, sealed, state, since, detail, notified_state, \
                     last_notified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(&row.definition)
                .bind(&row.sealed)
                .bind(&row.state)
                .bind(row.since)
                .bind(&row.detail)
                .bind(&row.notified_state)
                .bind(row.last_notified_at)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn update_alert(&self, row: &$crate::AlertRow) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query(
                    "UPDATE alerts SET name = $2, definition = $3, sealed = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(&row.definition)
                .bind(&row.sealed)
                .bind(row.updated_at)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_alert(&self, id: &str) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let kind = $crate::alerts::queries::NOTIFICATION_KIND;
                let mut tx = self.write.begin().await?;
                // Its waiting notifications can no longer be sent (the channel goes with it).
                sqlx::query("DELETE FROM jobs WHERE kind = $1 AND lane = $2")
                    .bind(kind)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE notifications SET status = 'dead', next_attempt_at = NULL, \
                     last_error = 'the alert was deleted' WHERE alert_id = $1 AND status = 'pending'",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query("DELETE FROM alerts WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_alert(&self, id_or_name: &str) -> $crate::StoreResult<Option<$crate::AlertRow>> {
                let sql = format!(
                    "SELECT {} FROM alerts WHERE id = $1 OR name = $1",
                    $crate::alerts::queries::ALERT_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(id_or_name).fetch_optional(&self.read).await?)
            }

            async fn all_alerts(&self) -> $crate::StoreResult<Vec<$crate::AlertRow>> {
                let sql = format!("SELECT {} FROM alerts ORDER BY name", $crate::alerts::queries::ALERT_COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.read).await?)
            }

            async fn transition_alert(&self, t: &$crate::AlertTransition) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let announced = t.notification.as_ref().map(|n| n.state.clone());
                let done = sqlx::query(
                    "UPDATE alerts SET state = $2, since = $3, detail = $4, \
                     notified_state = CASE WHEN $5 THEN $6 ELSE notified_state END, \
                     last_notified_at = CASE WHEN $5 THEN $7 ELSE last_notified_at END \
                     WHERE id = $1 AND state = $8 AND COALESCE(notified_state, '') = $9",
                )
                .bind(&t.alert_id)
                .bind(&t.to_state)
                .bind(t.since)
                .bind(&t.detail)
                .bind(announced.is_some())
                .bind(&announced)
                .bind(t.now)
                .bind(&t.from_state)
                .bind(t.from_notified.as_deref().unwrap_or(""))
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if let Some(n) = &t.notification {
                    sqlx::query(
                        "INSERT INTO notifications (id, alert_id, state, body, status, attempts, next_attempt_at, \
                         last_error, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, NULL, $5, $5)",
                    )
                    .bind(&n.id)
                    .bind(&t.alert_id)
                    .bind(&n.state)
                    .bind(&n.body)
                    .bind(t.now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("INSERT INTO jobs (kind, subject_id, lane, due_at) VALUES ($1, $2, $3, $4)")
                        .bind($crate::alerts::queries::NOTIFICATION_KIND)
                        .bind(&n.id)
                        .bind(&t.alert_id)
                        .bind(t.now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn claim_notifications(
                &self,
                owner: &str,
                now: i64,
                lease_until: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ClaimedNotification>> {
                self.check_writable()?;
                let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE jobs SET lease_until = ");
                qb.push_bind(lease_until).push(", lease_owner = ").push_bind(owner.to_string());
                qb.push($claim_open).push("SELECT seq FROM jobs WHERE kind = ");
                qb.push_bind($crate::alerts::queries::NOTIFICATION_KIND);
                qb.push(" AND due_at <= ").push_bind(now);
                qb.push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now).push(")");
                qb.push(" ORDER BY due_at LIMIT ").push_bind(limit);
                qb.push($claim_close).push(" RETURNING seq, subject_id");
                let claimed: Vec<(i64, String)> = qb.build_query_as().fetch_all(&self.write).await?;
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                // The batch with each rule's sealed channel, in one read (a rule deleted meanwhile
                // drops its notification: it can no longer be sent).
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                let mut cols = qb.separated(", ");
                for c in $crate::alerts::queries::NOTIFICATION_COLUMNS.split(", ") {
                    cols.push(format!("n.{c}"));
                }
                qb.push(", a.sealed FROM notifications n JOIN alerts a ON a.id = n.alert_id WHERE n.id IN (");
                let mut ids = qb.separated(", ");
                for (_, id) in &claimed {
                    ids.push_bind(id.clone());
                }
                qb.push(")");
                let rows: Vec<$crate::alerts::queries::ClaimedRow> =
                    qb.build_query_as().persistent(false).fetch_all(&self.read).await?;
                let out = rows
                    .into_iter()
                    .filter_map(|r| {
                        let job = claimed.iter().find(|(_, id)| *id == r.notification.id)?.0;
                        Some($crate::ClaimedNotification {
                            job,
                            notification: r.notification,
                            sealed_channel: r.sealed,
                        })
                    })
                    .collect();
                Ok(out)
            }

            async fn complete_notification(&self, r: &$crate::NotificationResult, now: i64) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let a = &r.attempt;
                sqlx::query(
                    "INSERT INTO notification_attempts (notification_id, at, duration_ms, status_code, error_class, \
                     response_excerpt) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&a.notification_id)
                .bind(a.at)
                .bind(a.duration_ms)
                .bind(a.status_code)
                .bind(&a.error_class)
                .bind(&a.response_excerpt)
                .execute(&mut *tx)
                .await?;
                let held = if r.status == "pending" {
                    sqlx::query(
                        "UPDATE jobs SET due_at = $3, lease_until = NULL, lease_owner = NULL \
                         WHERE seq = $1 AND lease_owner = $2",
                    )
                    .bind(r.job)
                    .bind(&r.lease_owner)
                    .bind(r.next_attempt_at.unwrap_or(now))
                    .execute(&mut *tx)
                    .await?
                } else {
                    sqlx::query("DELETE FROM jobs WHERE seq = $1 AND lease_owner = $2")
                        .bind(r.job)
                        .bind(&r.lease_owner)
                        .execute(&mut *tx)
                        .await?
                };
                let owned = held.rows_affected() == 1;
                if owned {
                    let error = a.error_class.clone().or_else(|| a.status_code.filter(|c| !(200..300).contains(c)).map(|c| format!("http_{c}")));
                    sqlx::query(
                        "UPDATE notifications SET status = $2, attempts = attempts + 1, next_attempt_at = $3, \
                         last_error = $4, updated_at = $5 WHERE id = $1",
                    )
                    .bind(&a.notification_id)
                    .bind(&r.status)
                    .bind(r.next_attempt_at)
                    .bind(error)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(owned)
            }

            async fn list_notifications(&self, alert_id: &str, limit: i64) -> $crate::StoreResult<Vec<$crate::NotificationRow>> {
                let sql = format!(
                    "SELECT {} FROM notifications WHERE alert_id = $1 ORDER BY seq DESC LIMIT $2",
                    $crate::alerts::queries::NOTIFICATION_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(alert_id).bind(limit).fetch_all(&self.read).await?)
            }

            async fn list_notification_attempts(
                &self,
                notification_id: &str,
            ) -> $crate::StoreResult<Vec<$crate::NotificationAttemptRow>> {
                Ok(sqlx::query_as(
                    "SELECT notification_id, at, duration_ms, status_code, error_class, response_excerpt \
                     FROM notification_attempts WHERE notification_id = $1 ORDER BY seq",
                )
                .bind(notification_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn add_health_samples(&self, samples: &[$crate::HealthSample]) -> $crate::StoreResult<()> {
                if samples.is_empty() {
                    return Ok(());
                }
                self.check_writable()?;
                for chunk in samples.chunks(200) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO health_samples (bucket, scope, name, total, failed, rejected, refused) ",
                    );
                    qb.push_values(chunk, |mut b, s: &$crate::HealthSample| {
                        b.push_bind(s.bucket)
                            .push_bind(s.scope.clone())
                            .push_bind(s.name.clone())
                            .push_bind(s.total)
                            .push_bind(s.failed)
                            .push_bind(s.rejected)
                            .push_bind(s.refused);
                    });
                    qb.push(
                        " ON CONFLICT (bucket, scope, name) DO UPDATE SET total = health_samples.total + excluded.total, \
                         failed = health_samples.failed + excluded.failed, \
                         rejected = health_samples.rejected + excluded.rejected, \
                         refused = health_samples.refused + excluded.refused",
                    );
                    qb.build().persistent(false).execute(&self.write).await?;
                }
                Ok(())
            }

            async fn health_totals(&self, since: i64) -> $crate::StoreResult<Vec<$crate::HealthTotals>> {
                Ok(sqlx::query_as(
                    "SELECT scope, name, CAST(SUM(total) AS BIGINT) AS total, CAST(SUM(failed) AS BIGINT) AS failed, \
                     CAST(SUM(rejected) AS BIGINT) AS rejected, CAST(SUM(refused) AS BIGINT) AS refused, \
                     MAX(CASE WHEN total > failed THEN bucket END) AS last_ok_bucket, \
                     MAX(CASE WHEN rejected + refused > 0 THEN bucket END) AS last_rejected_bucket \
                     FROM health_samples WHERE bucket >= $1 GROUP BY scope, name",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?)
            }

            async fn health_series(&self, since: i64) -> $crate::StoreResult<Vec<$crate::HealthSample>> {
                Ok(sqlx::query_as(
                    "SELECT bucket, scope, '' AS name, CAST(SUM(total) AS BIGINT) AS total, \
                     CAST(SUM(failed) AS BIGINT) AS failed, CAST(SUM(rejected) AS BIGINT) AS rejected, \
                     CAST(SUM(refused) AS BIGINT) AS refused \
                     FROM health_samples WHERE bucket >= $1 GROUP BY bucket, scope ORDER BY bucket, scope",
                )
                .bind(since)
                .fetch_all(&self.read)
                .await?)
            }

            async fn purge_health_samples(&self, before: i64) -> $crate::StoreResult<u64> {
                self.check_writable()?;
                let done = sqlx::query("DELETE FROM health_samples WHERE bucket < $1")
                    .bind(before)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn quarantine_summary(&self) -> $crate::StoreResult<(i64, Option<i64>)> {
                Ok(sqlx::query_as("SELECT COUNT(*), MIN(received_at) FROM events WHERE status = 'quarantined'")
                    .fetch_one(&self.read)
                    .await?)
            }
        }
    };
}
pub(crate) use impl_alert_store;
