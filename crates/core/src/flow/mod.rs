//! Flows (SPEC §7): "when this trigger happens, send this payload to that system, perform this
//! action, and handle failures". `spec.rs` is the definition as written (YAML or JSON),
//! `check.rs` the structural rules a definition must pass before it is stored (the engine adds
//! the jq compilation and the references to destinations and endpoints), `status.rs` where runs
//! and steps stand.

pub mod check;
pub mod control;
pub mod schedule;
pub mod spec;
pub mod status;

pub use spec::{Action, Arm, FlowSpec, HttpCall, OnFailure, RetrySpec, Step, Trigger, TriggerKind};
pub use status::{RunStatus, StepStatus};
