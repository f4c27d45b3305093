//! The queries both backends share. `impl_store!` expands one `Store` implementation for a
//! backend type that provides `read`/`write` pools and six backend hooks:
//! `backend_migrate`, `backend_ping`, `check_writable`, `backend_commit_intake`,
//! `backend_release_idle` and `backend_purge_dedup_keys`.
//! SQL here sticks to what SQLite and PostgreSQL both accept (`$n` placeholders, `ON CONFLICT`).

/// Rows per multi-row `INSERT`; keeps bind parameters far below both databases' limits.
pub(crate) const INSERT_CHUNK: usize = 400;

pub(crate) const EVENT_SUMMARY_COLUMNS: &str =
    "seq, id, source_id, source_name, event_type, status, received_at, content_type";
pub(crate) const SOURCE_COLUMNS: &str = "id, name, config, secrets, enabled, created_at, updated_at";
pub(crate) const KEY_COLUMNS: &str = "id, name, scope, hash, hint, created_at, revoked_at";

/// Trims the extra row fetched to learn whether another page follows.
pub(crate) fn into_page<T>(mut items: Vec<T>, limit: i64) -> crate::Page<T> {
    let has_more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    crate::Page { items, has_more }
}

/// The columns an event is inserted with, in the order [`bind_event_columns`] binds them.
pub(crate) const EVENT_COLUMNS: &str = "id, source_id, source_name, event_type, status, received_at, \
     content_type, headers, payload, request_id, validation_errors";

/// Binds an event's values in [`EVENT_COLUMNS`] order onto a `push_values` row builder.
macro_rules! bind_event_columns {
    ($b:expr, $e:expr) => {
        $b.push_bind($e.id.clone())
            .push_bind($e.source_id.clone())
            .push_bind($e.source_name.clone())
            .push_bind($e.event_type.clone())
            .push_bind($e.status.clone())
            .push_bind($e.received_at)
            .push_bind($e.content_type.clone())
            .push_bind($e.headers.clone())
            .push_bind($e.payload.clone())
            .push_bind($e.request_id.clone())
            .push_bind($e.validation_errors.clone())
    };
}

/// Appends `INSERT INTO events … VALUES (…), (…)` for `chunk` (a slice of `&NewEvent`).
macro_rules! push_event_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push("INSERT INTO events (")
            .push($crate::queries::EVENT_COLUMNS)
            .push(") ");
        $qb.push_values($chunk, |mut b, e| {
            $crate::queries::bind_event_columns!(b, e);
        });
    };
}

/// Appends `INSERT INTO receipts … VALUES (…), (…)` for `chunk` (a slice of `&Receipt`).
macro_rules! push_receipt_rows {
    ($qb:expr, $chunk:expr) => {
        $qb.push(
            "INSERT INTO receipts (id, at, source_name, source_id, request_id, status_code, \
             outcome, reason, event_id) ",
        );
        $qb.push_values($chunk, |mut b, r| {
            b.push_bind(r.id.clone())
                .push_bind(r.at)
                .push_bind(r.source_name.clone())
                .push_bind(r.source_id.clone())
                .push_bind(r.request_id.clone())
                .push_bind(r.status_code)
                .push_bind(r.outcome.clone())
                .push_bind(r.reason.clone())
                .push_bind(r.event_id.clone());
        });
    };
}

macro_rules! impl_store {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Store for $ty {
            fn kind(&self) -> $crate::StoreKind {
                Self::KIND
            }

            async fn migrate(&self) -> $crate::StoreResult<()> {
                self.backend_migrate().await
            }

            async fn ping(&self) -> $crate::StoreResult<()> {
                self.check_writable()?;
                self.backend_ping().await
            }

            async fn commit_intake(
                &self,
                batch: &[$crate::IntakeWrite],
            ) -> $crate::StoreResult<Vec<$crate::IntakeOutcome>> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                self.check_writable()?;
                self.backend_commit_intake(batch).await
            }

            async fn set_event_status(
                &self,
                id: &str,
                from: &str,
                to: &str,
                validation_errors: Option<&str>,
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query("UPDATE events SET status = $3, validation_errors = $4 WHERE id = $1 AND status = $2")
                    .bind(id)
                    .bind(from)
                    .bind(to)
                    .bind(validation_errors)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_idle(&self) -> $crate::StoreResult<()> {
                self.backend_release_idle().await
            }

            async fn purge_dedup_keys(&self, now: i64) -> $crate::StoreResult<u64> {
                self.backend_purge_dedup_keys(now).await
            }

            async fn list_events(
                &self,
                f: &$crate::EventFilter,
            ) -> $crate::StoreResult<$crate::Page<$crate::EventSummary>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::queries::EVENT_SUMMARY_COLUMNS)
                    .push(" FROM events WHERE 1=1");
                if let Some(seq) = f.before_seq {
                    qb.push(" AND seq < ").push_bind(seq);
                }
                if let Some(seq) = f.after_seq {
                    qb.push(" AND seq > ").push_bind(seq);
                }
                if let Some(src) = &f.source {
                    let column = if src.starts_with("src_") {
                        " AND source_id = "
                    } else {
                        " AND source_name = "
                    };
                    qb.push(column).push_bind(src.clone());
                }
                match f.status.as_deref() {
                    // Written as literals so the planner can use the partial index on them.
                    Some("failed") => {
                        qb.push(" AND status IN ('failed', 'quarantined') AND status = 'failed'");
                    }
                    Some("quarantined") => {
                        qb.push(" AND status IN ('failed', 'quarantined') AND status = 'quarantined'");
                    }
                    Some(s) => {
                        qb.push(" AND status = ").push_bind(s.to_string());
                    }
                    None => {}
                }
                if let Some(t) = &f.event_type {
                    qb.push(" AND event_type = ").push_bind(t.clone());
                }
                if let Some(t) = f.since {
                    qb.push(" AND received_at >= ").push_bind(t);
                }
                if let Some(t) = f.until {
                    qb.push(" AND received_at < ").push_bind(t);
                }
                let order = if f.after_seq.is_some() { "ASC" } else { "DESC" };
                qb.push(" ORDER BY seq ").push(order).push(" LIMIT ").push_bind(f.limit + 1);
                let rows = qb
                    .build_query_as::<$crate::EventSummary>()
                    .fetch_all(&self.read)
                    .await?;
                Ok($crate::queries::into_page(rows, f.limit))
            }

            async fn event_by_dedup_key(&self, source_id: &str, key: &str, now: i64) -> $crate::StoreResult<Option<String>> {
                let digest = $crate::key_digest::KeyDigest::of(source_id, key).to_vec();
                self.backend_dedup_lookup(&digest, now).await
            }

            async fn get_event(&self, id: &str) -> $crate::StoreResult<Option<$crate::EventRecord>> {
                Ok(sqlx::query_as::<_, $crate::EventRecord>(
                    &format!("SELECT seq, {} FROM events WHERE id = $1", $crate::queries::EVENT_COLUMNS),
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn event_receipts(&self, event_id: &str) -> $crate::StoreResult<Vec<$crate::Receipt>> {
                Ok(sqlx::query_as::<_, $crate::Receipt>(
                    "SELECT id, at, source_name, source_id, request_id, status_code, outcome, reason, event_id \
                     FROM receipts WHERE event_id = $1 ORDER BY seq",
                )
                .bind(event_id)
                .fetch_all(&self.read)
                .await?)
            }

            async fn list_receipts(
                &self,
                source: Option<&str>,
                cursor: Option<&$crate::ReceiptCursor>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::Receipt>> {
                // Two ordered, limited scans merged: stored receipts, and accepted events as receipts.
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT at, id, source_name, source_id, request_id, status_code, outcome, reason, event_id FROM (\
                     SELECT at, id, source_name, source_id, request_id, status_code, outcome, reason, event_id \
                     FROM receipts WHERE 1=1",
                );
                let source_column = |s: &str| if s.starts_with("src_") { " AND source_id = " } else { " AND source_name = " };
                if let Some(s) = source {
                    qb.push(source_column(s)).push_bind(s.to_string());
                }
                if let Some(c) = cursor {
                    qb.push(" AND (at < ").push_bind(c.at).push(" OR (at = ").push_bind(c.at);
                    qb.push(" AND id < ").push_bind(c.id.clone()).push("))");
                }
                qb.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(limit + 1);
                qb.push(
                    ") AS r UNION ALL SELECT at, id, source_name, source_id, request_id, status_code, outcome, reason, \
                     event_id FROM (SELECT received_at AS at, id, COALESCE(source_name, '') AS source_name, source_id, \
                     request_id, 202 AS status_code, 'received' AS outcome, NULL AS reason, id AS event_id \
                     FROM events WHERE source_name IS NOT NULL",
                );
                if let Some(s) = source {
                    qb.push(source_column(s)).push_bind(s.to_string());
                }
                if let Some(c) = cursor {
                    qb.push(" AND (received_at < ").push_bind(c.at).push(" OR (received_at = ").push_bind(c.at);
                    qb.push(" AND id < ").push_bind(c.id.clone()).push("))");
                }
                qb.push(" ORDER BY received_at DESC, id DESC LIMIT ").push_bind(limit + 1);
                qb.push(") AS e ORDER BY at DESC, id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb.build_query_as::<$crate::Receipt>().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn insert_source(&self, r: &$crate::SourceRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO sources (id, name, config, secrets, enabled, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.config)
                .bind(&r.secrets)
                .bind(r.enabled)
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn update_source(&self, r: &$crate::SourceRow) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query(
                    "UPDATE sources SET name = $2, config = $3, secrets = $4, enabled = $5, updated_at = $6 \
                     WHERE id = $1",
                )
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.config)
                .bind(&r.secrets)
                .bind(r.enabled)
                .bind(r.updated_at)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_source(&self, id: &str, at: i64) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                // The tombstone and the delete commit together: the source's events are never
                // left without the rules (redaction, retention) that govern them.
                let mut tx = self.write.begin().await?;
                sqlx::query(
                    "INSERT INTO source_tombstones (id, name, config, deleted_at) \
                     SELECT id, name, config, $2 FROM sources WHERE id = $1 ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let done = sqlx::query("DELETE FROM sources WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_source(&self, id_or_name: &str) -> $crate::StoreResult<Option<$crate::SourceRow>> {
                let sql = if id_or_name.starts_with("src_") {
                    "SELECT id, name, config, secrets, enabled, created_at, updated_at FROM sources WHERE id = $1"
                } else {
                    "SELECT id, name, config, secrets, enabled, created_at, updated_at FROM sources WHERE name = $1"
                };
                Ok(sqlx::query_as::<_, $crate::SourceRow>(sql)
                    .bind(id_or_name)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn list_sources(
                &self,
                before_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::SourceRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::queries::SOURCE_COLUMNS).push(" FROM sources");
                if let Some(id) = before_id {
                    qb.push(" WHERE id < ").push_bind(id.to_string());
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb
                    .build_query_as::<$crate::SourceRow>()
                    .fetch_all(&self.read)
                    .await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn all_sources(&self) -> $crate::StoreResult<Vec<$crate::SourceRow>> {
                Ok(sqlx::query_as::<_, $crate::SourceRow>(
                    "SELECT id, name, config, secrets, enabled, created_at, updated_at FROM sources",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn insert_api_key(&self, r: &$crate::ApiKeyRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "INSERT INTO api_keys (id, name, scope, hash, hint, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.scope)
                .bind(&r.hash)
                .bind(&r.hint)
                .bind(r.created_at)
                .bind(r.revoked_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn api_key_by_hash(&self, hash: &str) -> $crate::StoreResult<Option<$crate::ApiKeyRow>> {
                Ok(sqlx::query_as::<_, $crate::ApiKeyRow>(
                    "SELECT id, name, scope, hash, hint, created_at, revoked_at FROM api_keys WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn list_api_keys(
                &self,
                before_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::ApiKeyRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::queries::KEY_COLUMNS).push(" FROM api_keys");
                if let Some(id) = before_id {
                    qb.push(" WHERE id < ").push_bind(id.to_string());
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb
                    .build_query_as::<$crate::ApiKeyRow>()
                    .fetch_all(&self.read)
                    .await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn revoke_api_key(&self, id: &str, at: i64) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .execute(&self.write)
                    .await?;
                // Every node forgets the key it remembered (after the key's own revocation, so
                // a node that reads it again sees it revoked). The revocation has committed: a
                // lost notification only leaves other nodes to their one-second recheck.
                if let Err(e) = self.after_key_revoked().await {
                    tracing::warn!(error = %e, key_id = %id, "could not notify other nodes of a revoked API key");
                }
                Ok(done.rows_affected() == 1)
            }

            async fn idempotency_begin(
                &self,
                principal: &str,
                key: &str,
                fingerprint: &str,
                now: i64,
            ) -> $crate::StoreResult<$crate::IdempotencyState> {
                self.check_writable()?;
                let stale_before = now - $crate::IDEMPOTENCY_LEASE.as_micros() as i64;
                // Two rounds at most: a reservation can be released between our insert and select.
                for _ in 0..2 {
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (principal, key) DO NOTHING",
                    )
                    .bind(principal)
                    .bind(key)
                    .bind(fingerprint)
                    .bind(now)
                    .execute(&self.write)
                    .await?;
                    if inserted.rows_affected() == 1 {
                        return Ok($crate::IdempotencyState::Started);
                    }
                    // A reservation whose request never finished (its node died) is taken over.
                    let taken = sqlx::query(
                        "UPDATE idempotency_keys SET fingerprint = $3, created_at = $4 \
                         WHERE principal = $1 AND key = $2 AND status_code IS NULL AND created_at < $5",
                    )
                    .bind(principal)
                    .bind(key)
                    .bind(fingerprint)
                    .bind(now)
                    .bind(stale_before)
                    .execute(&self.write)
                    .await?;
                    if taken.rows_affected() == 1 {
                        return Ok($crate::IdempotencyState::Started);
                    }
                    let row: Option<(String, Option<i32>, Option<Vec<u8>>)> = sqlx::query_as(
                        "SELECT fingerprint, status_code, response FROM idempotency_keys WHERE principal = $1 AND key = $2",
                    )
                    .bind(principal)
                    .bind(key)
                    .fetch_optional(&self.write)
                    .await?;
                    match row {
                        Some((fingerprint, Some(status_code), Some(response))) => {
                            return Ok($crate::IdempotencyState::Completed { fingerprint, status_code, response });
                        }
                        Some((fingerprint, _, _)) => return Ok($crate::IdempotencyState::InProgress { fingerprint }),
                        None => continue,
                    }
                }
                Ok($crate::IdempotencyState::InProgress { fingerprint: fingerprint.to_string() })
            }

            async fn purge_idempotency(&self, older_than: i64) -> $crate::StoreResult<u64> {
                self.check_writable()?;
                let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind(older_than)
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn idempotency_complete(
                &self,
                principal: &str,
                key: &str,
                status_code: i32,
                response: &[u8],
            ) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query(
                    "UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE principal = $1 AND key = $2",
                )
                .bind(principal)
                .bind(key)
                .bind(status_code)
                .bind(response)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn idempotency_abort(&self, principal: &str, key: &str) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status_code IS NULL")
                    .bind(principal)
                    .bind(key)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use {bind_event_columns, impl_store, push_event_rows, push_receipt_rows};
