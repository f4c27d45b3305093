//! Where a run and each of its steps stand (SPEC §7). Stored and shown by lowercase name.

use crate::names::named_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Created, not yet started (or waiting for a step's retry).
    Pending,
    /// A worker is advancing it.
    Running,
    /// A `delay` step holds it; no worker is held while it waits.
    Waiting,
    Succeeded,
    /// A `filter` step (or the trigger filter) said no.
    Filtered,
    /// A step failed permanently (a 4xx, a jq error, a validation).
    Failed,
    /// A step exhausted its retries.
    Dead,
}

named_enum!(RunStatus, "run status", [
    Pending => "pending",
    Running => "running",
    Waiting => "waiting",
    Succeeded => "succeeded",
    Filtered => "filtered",
    Failed => "failed",
    Dead => "dead",
]);

impl RunStatus {
    /// Ends a run can only leave through `POST /v1/runs/{id}/retry` (failed, dead).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Filtered | Self::Failed | Self::Dead)
    }

    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Failed | Self::Dead)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not started, or waiting for its next attempt.
    Pending,
    /// Started and not finished (a `delay` waiting, a `foreach` with items left).
    Running,
    Succeeded,
    Failed,
    /// Not run: the run ended before it, or a branch not taken.
    Skipped,
}

named_enum!(StepStatus, "step status", [
    Pending => "pending",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Skipped => "skipped",
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (st, name) in RunStatus::ALL.iter().zip(RunStatus::NAMES) {
            assert_eq!(name.parse::<RunStatus>(), Ok(*st));
            assert_eq!(serde_json::to_value(st).unwrap(), *name);
        }
        for (st, name) in StepStatus::ALL.iter().zip(StepStatus::NAMES) {
            assert_eq!(name.parse::<StepStatus>(), Ok(*st));
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
