//! Flows (SPEC §7): the catalog of definitions (`catalog.rs`), the runner that claims runs from
//! the job queue and advances them (`runner.rs`), how one run walks its steps with durable
//! records (`execute.rs`), the group commit of run endings (`finisher.rs`), what a jq expression
//! sees (`context.rs`), the step kinds that call out (`steps/`) and what-if walks that call
//! nothing (`rehearse.rs`).

mod catalog;
pub mod compare;
mod context;
pub(crate) mod control;
mod execute;
mod finisher;
mod records;
mod rehearse;
mod runner;
mod schedule;
mod steps;

pub use catalog::{Flow, FlowCatalog, FlowError, Planned};
pub use rehearse::{AnsweredBy, Intent, Rehearser, Report, StepReport, stub_response};
pub use runner::{FlowRunner, RunnerConfig, RunnerDeps, RunnerHandle};
pub use schedule::{CRON_EVENT_TYPE, Scheduler};
pub use steps::http::idempotency_key;
