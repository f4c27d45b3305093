//! The one leased-job runner. Every job — a delivery to an endpoint, a flow run's next steps,
//! and later alert notifications — is a row of the store's `jobs` queue, claimed with a lease by
//! one node at a time. The runner (`runner.rs`) owns what every kind shares: the node's lease
//! identity, one lane per kind with its capacity and wake-ups (`lane.rs`), the cluster's
//! notifications, the claim loop and the drain at shutdown. A kind plugs in as a [`Worker`]:
//! how it claims (deliveries endpoint by endpoint, runs oldest due first) and what it does with
//! a claimed job. Per-destination guards (`guard.rs`) serve both kinds.
//!
//! Each kind has its own lane so that one kind's backlog never holds back another's claims.

pub(crate) mod guard;
mod lane;
mod runner;

pub use lane::{Lane, Slot};
pub(crate) use runner::{BUSY_ROUND, COALESCE};
pub use runner::{Follower, JobRunner, Round, Worker};
