//! How a walk records its steps (see `execute.rs` for when): records wait in [`Pending`] and go
//! out with the next write, an acting step's before the next acting step starts; every write is
//! fenced by the run's lease and extends it, and a long call extends it first (`hold_lease`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use switchyard_core::flow::spec::Step;
use switchyard_core::flow::{RunStatus, StepStatus};
use switchyard_core::time::now_micros;
use switchyard_store::StepRow;

use super::execute::{Halt, Walk};

/// Step records waiting for the next write, at most one per path.
#[derive(Default)]
pub(crate) struct Pending {
    rows: Vec<StepRow>,
    /// One of them is an acting step's: it must be stored before the next acting step starts.
    acted: bool,
    run_status: Option<RunStatus>,
}

impl Pending {
    /// The records for the write that moves the run on (its end or its rescheduling).
    pub(crate) fn take(&mut self) -> Vec<StepRow> {
        self.acted = false;
        std::mem::take(&mut self.rows)
    }
}

impl Walk {
    /// Records a finished step (succeeded or failed).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn save(
        &self,
        step: &Step,
        path: &str,
        status: StepStatus,
        attempts: i64,
        output: Option<&Value>,
        error: Option<(&str, &str)>,
        started_at: i64,
        run_status: RunStatus,
    ) -> Result<(), Halt> {
        self.write(
            step,
            path,
            status,
            attempts,
            output,
            error,
            started_at,
            Some(now_micros()),
            run_status,
        )
        .await
    }

    /// Records a step that has not finished (waiting, retrying, or a compound step under way).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn save_open(
        &self,
        step: &Step,
        path: &str,
        status: StepStatus,
        attempts: i64,
        output: Option<&Value>,
        error: Option<(&str, &str)>,
        started_at: i64,
        run_status: RunStatus,
    ) -> Result<(), Halt> {
        self.write(
            step, path, status, attempts, output, error, started_at, None, run_status,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write(
        &self,
        step: &Step,
        path: &str,
        status: StepStatus,
        attempts: i64,
        output: Option<&Value>,
        error: Option<(&str, &str)>,
        started_at: i64,
        finished_at: Option<i64>,
        run_status: RunStatus,
    ) -> Result<(), Halt> {
        let row = StepRow {
            run_id: self.run.id.clone(),
            path: path.to_string(),
            step_id: step.id.clone(),
            status,
            attempts,
            output: output.map(|o| self.scrub(&o.to_string())),
            error_class: error.map(|(c, _)| c.to_string()),
            error_message: error.map(|(_, m)| m.to_string()),
            started_at: Some(started_at),
            finished_at,
        };
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(row.path.clone(), row.clone());
        if let Some(r) = &self.rehearsal {
            // A what-if walk keeps its records in memory only.
            r.wrote(path);
            return Ok(());
        }
        let mut pending = self.pending.lock().await;
        pending.rows.retain(|r| r.path != row.path);
        pending.rows.push(row);
        pending.acted |= step.action.acts_outside();
        pending.run_status = Some(run_status);
        Ok(())
    }

    /// Stores the pending records if an acting step's is among them (and extends the lease).
    pub(super) async fn store_acted(&self) -> Result<(), Halt> {
        if self.rehearsal.is_some() {
            return Ok(());
        }
        let mut pending = self.pending.lock().await;
        if !pending.acted {
            return Ok(());
        }
        let status = pending.run_status.unwrap_or(RunStatus::Running);
        // Never shorter than a lease already extended for a long call (`hold_lease`).
        let lease_until =
            (now_micros() + self.deps.config.lease.as_micros() as i64).max(self.lease_until.load(Ordering::Acquire));
        if !self
            .deps
            .store
            .save_steps(&self.owner, self.job, lease_until, &pending.rows, status)
            .await?
        {
            return Err(Halt::LeaseLost);
        }
        pending.take();
        self.lease_until.fetch_max(lease_until, Ordering::AcqRel);
        Ok(())
    }

    /// Makes the lease last at least `span` from now (a call can outlast the claim's lease:
    /// destination timeouts reach 300 s), so no other worker takes the run over mid-call; false
    /// when the lease is gone (the caller must not act).
    pub(crate) async fn hold_lease(&self, span: Duration) -> bool {
        let wanted = now_micros() + span.as_micros() as i64;
        if self.rehearsal.is_some() || wanted <= self.lease_until.load(Ordering::Acquire) {
            return true;
        }
        match self
            .deps
            .store
            .extend_run_lease(&self.owner, self.job, &self.run.id, wanted)
            .await
        {
            Ok(true) => {
                self.lease_until.fetch_max(wanted, Ordering::AcqRel);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(run_id = %self.run.id, error = %e, "the run's lease could not be extended");
                false
            }
        }
    }
}
