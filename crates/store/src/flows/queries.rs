//! `FlowStore` for both backends (see [`impl_flow_store`]).

/// The flow queries, shared by both backends. The write of a claim and of run ends is each
/// backend's (`backend_claim_runs`, `backend_finish_runs` in `sqlite/runs.rs` and
/// `postgres/runs.rs`), each with fixed text sent in as few trips as the backend allows. Every write that
/// depends on a lease names the job by `seq` and its holder, as delivery completions do.
macro_rules! impl_flow_store {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::FlowStore for $ty {
            async fn insert_flow(&self, row: &$crate::FlowRow) -> $crate::StoreResult<()> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                sqlx::query(
                    "INSERT INTO flows (id, name, version, definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(row.version)
                .bind(&row.definition)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO flow_versions (flow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&row.id)
                    .bind(row.version)
                    .bind(&row.definition)
                    .bind(row.created_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_flow(&self, row: &$crate::FlowRow) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let done = sqlx::query(
                    "UPDATE flows SET name = $2, version = $3, definition = $4, updated_at = $5 WHERE id = $1 AND version = $6",
                )
                .bind(&row.id)
                .bind(&row.name)
                .bind(row.version)
                .bind(&row.definition)
                .bind(row.updated_at)
                .bind(row.version - 1)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query("INSERT INTO flow_versions (flow_id, version, definition, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&row.id)
                    .bind(row.version)
                    .bind(&row.definition)
                    .bind(row.updated_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn delete_flow(&self, id: &str) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let done = sqlx::query("DELETE FROM flows WHERE id = $1").bind(id).execute(&self.write).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_flow(&self, id_or_name: &str) -> $crate::StoreResult<Option<$crate::FlowRow>> {
                // Names never start with `flw_`, so the two cannot collide.
                let column = if id_or_name.starts_with("flw_") { "id" } else { "name" };
                let sql = format!("SELECT {} FROM flows WHERE {column} = $1", $crate::flows::FLOW_COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id_or_name).fetch_optional(&self.read).await?)
            }

            async fn list_flows(
                &self,
                before_id: Option<&str>,
                limit: i64,
            ) -> $crate::StoreResult<$crate::Page<$crate::FlowRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::flows::FLOW_COLUMNS).push(" FROM flows");
                if let Some(id) = before_id {
                    qb.push(" WHERE id < ").push_bind(id.to_string());
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, limit))
            }

            async fn all_flows(&self) -> $crate::StoreResult<Vec<$crate::FlowRow>> {
                let sql = format!("SELECT {} FROM flows ORDER BY name", $crate::flows::FLOW_COLUMNS);
                Ok(sqlx::query_as(&sql).fetch_all(&self.read).await?)
            }

            async fn flow_versions(&self, flow_id: &str) -> $crate::StoreResult<Vec<$crate::FlowVersionRow>> {
                let sql = format!(
                    "SELECT {} FROM flow_versions WHERE flow_id = $1 ORDER BY version DESC",
                    $crate::flows::VERSION_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(flow_id).fetch_all(&self.read).await?)
            }

            async fn flow_version(
                &self,
                flow_id: &str,
                version: i64,
            ) -> $crate::StoreResult<Option<$crate::FlowVersionRow>> {
                let sql = format!(
                    "SELECT {} FROM flow_versions WHERE flow_id = $1 AND version = $2",
                    $crate::flows::VERSION_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(flow_id).bind(version).fetch_optional(&self.read).await?)
            }

            async fn claim_runs(
                &self,
                owner: &str,
                now: i64,
                lease_until: i64,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::ClaimedRun>> {
                self.check_writable()?;
                let mut claimed: Vec<$crate::ClaimedRun> = self
                    .backend_claim_runs(owner, now, lease_until, limit)
                    .await?
                    .into_iter()
                    .map(|row| $crate::ClaimedRun {
                        job: row.job,
                        run: row.run,
                        event: None,
                        steps: Vec::new(),
                    })
                    .collect();
                claimed.sort_by_key(|c| c.run.seq);
                if claimed.is_empty() {
                    return Ok(claimed);
                }
                let sql = format!("SELECT seq, {} FROM events WHERE id IN (", $crate::queries::EVENT_COLUMNS);
                let events: Vec<$crate::EventRecord> =
                    $crate::flows::select_where_in!($db, &self.read, sql, claimed.iter().map(|c| c.run.event_id.clone()));
                let events: std::collections::HashMap<String, $crate::EventRecord> =
                    events.into_iter().map(|e| (e.id.clone(), e)).collect();
                let sql = format!("SELECT {} FROM run_steps WHERE run_id IN (", $crate::flows::STEP_COLUMNS);
                let steps: Vec<$crate::StepRow> =
                    $crate::flows::select_where_in!($db, &self.read, sql, claimed.iter().map(|c| c.run.id.clone()));
                let mut by_run: std::collections::HashMap<String, Vec<$crate::StepRow>> = std::collections::HashMap::new();
                for s in steps {
                    by_run.entry(s.run_id.clone()).or_default().push(s);
                }
                for c in &mut claimed {
                    // Cloned: several runs may share one event.
                    c.event = events.get(&c.run.event_id).cloned();
                    c.steps = by_run.remove(&c.run.id).unwrap_or_default();
                }
                Ok(claimed)
            }

            async fn save_steps(
                &self,
                owner: &str,
                job: i64,
                lease_until: i64,
                steps: &[$crate::StepRow],
                run_status: switchyard_core::flow::RunStatus,
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let Some(run_id) = steps.first().map(|s| s.run_id.clone()) else {
                    return Ok(true);
                };
                let mut tx = self.write.begin().await?;
                let held = sqlx::query(
                    "UPDATE jobs SET lease_until = $1 WHERE seq = $2 AND lease_owner = $3 AND kind = $4 AND subject_id = $5",
                )
                .bind(lease_until)
                .bind(job)
                .bind(owner)
                .bind($crate::JobKind::Run.as_str())
                .bind(&run_id)
                .execute(&mut *tx)
                .await?;
                if held.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::flows::commit_steps_and_status!(tx, steps, &run_id, run_status, $db);
                Ok(true)
            }

            async fn reschedule_run(
                &self,
                owner: &str,
                job: i64,
                run_id: &str,
                due_at: i64,
                status: switchyard_core::flow::RunStatus,
                steps: &[$crate::StepRow],
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                let held = sqlx::query(
                    "UPDATE jobs SET due_at = $1, lease_until = NULL, lease_owner = NULL \
                     WHERE seq = $2 AND lease_owner = $3 AND kind = $4 AND subject_id = $5",
                )
                .bind(due_at)
                .bind(job)
                .bind(owner)
                .bind($crate::JobKind::Run.as_str())
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                if held.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::flows::commit_steps_and_status!(tx, steps, run_id, status, $db);
                Ok(true)
            }

            async fn extend_run_lease(
                &self,
                owner: &str,
                job: i64,
                run_id: &str,
                lease_until: i64,
            ) -> $crate::StoreResult<bool> {
                self.check_writable()?;
                // Like a claim, an extension need not survive a power cut (the lease only matters
                // while its holder lives), so it commits without waiting for the disk.
                let mut conn = self.write.acquire().await?;
                self.relax_durability(&mut conn).await?;
                let held = sqlx::query(
                    "UPDATE jobs SET lease_until = $1 WHERE seq = $2 AND lease_owner = $3 AND kind = $4 AND subject_id = $5",
                )
                .bind(lease_until)
                .bind(job)
                .bind(owner)
                .bind($crate::JobKind::Run.as_str())
                .bind(run_id)
                .execute(&mut *conn)
                .await;
                self.restore_durability(&mut conn).await?;
                Ok(held?.rows_affected() == 1)
            }

            async fn finish_runs(
                &self,
                owner: &str,
                runs: &[$crate::FinishRun],
            ) -> $crate::StoreResult<Vec<bool>> {
                self.check_writable()?;
                if runs.is_empty() {
                    return Ok(Vec::new());
                }
                let done = self.backend_finish_runs(owner, runs).await?;
                self.after_jobs_ended(done.iter().filter(|d| **d).count() as u64);
                Ok(done)
            }

            async fn retry_run(&self, run_id: &str, now: i64) -> $crate::StoreResult<Option<$crate::RunRow>> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                // The status check and the change are one statement, so two retries at once make
                // one new job.
                let sql = format!(
                    "UPDATE runs SET status = 'pending', failed_step = NULL, error_class = NULL, error_message = NULL, \
                     finished_at = NULL, updated_at = $2 WHERE id = $1 AND status IN ('failed', 'dead') RETURNING {}",
                    $crate::flows::RUN_COLUMNS
                );
                let run: Option<$crate::RunRow> =
                    sqlx::query_as(&sql).bind(run_id).bind(now).fetch_optional(&mut *tx).await?;
                let Some(run) = run else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                sqlx::query(
                    "UPDATE run_steps SET status = 'pending', attempts = 0, error_class = NULL, error_message = NULL, \
                     started_at = NULL, finished_at = NULL WHERE run_id = $1 AND status <> 'succeeded'",
                )
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                // A final run has no job; the check only guards that invariant.
                sqlx::query(
                    "INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key, key_limit, position) \
                     SELECT $1, $2, $3, $4, control_key, control_limit, sequence FROM runs WHERE id = $2 \
                     AND NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND subject_id = $2)",
                )
                .bind($crate::JobKind::Run.as_str())
                .bind(run_id)
                .bind(&run.flow_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                // Wakes the runners of every node, as a delivery replay wakes dispatchers.
                self.after_replay(1).await?;
                Ok(Some(run))
            }

            async fn get_run(&self, id: &str) -> $crate::StoreResult<Option<$crate::RunRow>> {
                let sql = format!("SELECT {} FROM runs WHERE id = $1", $crate::flows::RUN_COLUMNS);
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.read).await?)
            }

            async fn list_runs(&self, f: &$crate::RunFilter) -> $crate::StoreResult<$crate::Page<$crate::RunRow>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT ");
                qb.push($crate::flows::RUN_COLUMNS).push(" FROM runs WHERE 1 = 1");
                if let Some(name) = &f.flow_name {
                    qb.push(" AND flow_name = ").push_bind(name.clone());
                }
                if let Some(s) = f.status {
                    qb.push(" AND status = ").push_bind(s.as_str());
                }
                if let Some(e) = &f.event_id {
                    qb.push(" AND event_id = ").push_bind(e.clone());
                }
                if let Some(seq) = f.before_seq {
                    qb.push(" AND seq < ").push_bind(seq);
                }
                if let Some(t) = f.ended_since {
                    qb.push(" AND finished_at >= ").push_bind(t);
                    qb.push(" ORDER BY finished_at, seq LIMIT ").push_bind(f.limit + 1);
                } else {
                    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(f.limit + 1);
                }
                let rows = qb.build_query_as().fetch_all(&self.read).await?;
                Ok($crate::queries::into_page(rows, f.limit))
            }

            async fn run_steps(&self, run_id: &str) -> $crate::StoreResult<Vec<$crate::StepRow>> {
                let sql = format!(
                    "SELECT {} FROM run_steps WHERE run_id = $1 \
                     ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at, path",
                    $crate::flows::STEP_COLUMNS
                );
                Ok(sqlx::query_as(&sql).bind(run_id).fetch_all(&self.read).await?)
            }

            async fn next_run_due(&self) -> $crate::StoreResult<Option<i64>> {
                // A leased job is due again when its lease ends (it is taken over then); a job
                // queued behind its key's runs is not due until one of them ends.
                let sql = format!(
                    "SELECT MIN(COALESCE(lease_until, due_at)) FROM jobs WHERE kind = $1{}",
                    $crate::flows::KEY_HAS_ROOM
                );
                Ok(sqlx::query_scalar(&sql)
                    .bind($crate::JobKind::Run.as_str())
                    .fetch_one(&self.read)
                    .await?)
            }

            async fn last_sequence(&self, flow_id: &str, key: &str) -> $crate::StoreResult<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "SELECT last_sequence FROM run_sequences WHERE flow_id = $1 AND control_key = $2",
                )
                .bind(flow_id)
                .bind(key)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn start_sequence(&self, flow_id: &str, key: &str, sequence: i64, now: i64) -> $crate::StoreResult<()> {
                self.check_writable()?;
                let mut tx = self.write.begin().await?;
                sqlx::query(
                    "INSERT INTO run_sequences (flow_id, control_key, last_sequence) VALUES ($1, $2, $3) \
                     ON CONFLICT (flow_id, control_key) DO UPDATE SET last_sequence = CASE \
                     WHEN excluded.last_sequence > run_sequences.last_sequence THEN excluded.last_sequence \
                     ELSE run_sequences.last_sequence END",
                )
                .bind(flow_id)
                .bind(key)
                .bind(sequence)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE jobs SET due_at = $4 WHERE kind = $5 AND lane = $1 AND ordering_key = $2 \
                     AND position = $3 + 1 AND due_at > $4 AND lease_until IS NULL",
                )
                .bind(flow_id)
                .bind(key)
                .bind(sequence)
                .bind(now)
                .bind($crate::JobKind::Run.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn newer_run_of_key(&self, flow_id: &str, key: &str, job: i64) -> $crate::StoreResult<bool> {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM jobs WHERE kind = $1 AND lane = $2 AND ordering_key = $3 AND seq > $4 LIMIT 1",
                )
                .bind($crate::JobKind::Run.as_str())
                .bind(flow_id)
                .bind(key)
                .bind(job)
                .fetch_optional(&self.read)
                .await?;
                Ok(found.is_some())
            }

            async fn set_run_note(&self, run_id: &str, note: &str) -> $crate::StoreResult<()> {
                self.check_writable()?;
                sqlx::query("UPDATE runs SET note = $2 WHERE id = $1")
                    .bind(run_id)
                    .bind(note)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_flow_store;
