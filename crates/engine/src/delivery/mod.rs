//! Outbound webhook delivery: publishing an event with its deliveries (one transaction, through
//! the intake writer's group commit), the delivery worker of the job runner that claims and sends them, the
//! sharing of its per-endpoint breakers across nodes, and a single attempt's request and verdict.

mod attempt;
mod claim;
mod dispatcher;
mod due;
mod publish;
mod shared;

pub use crate::jobs::guard::BreakerState;
pub use attempt::signed_headers;
pub use dispatcher::{DispatchConfig, Dispatcher, ENDPOINT_DISABLED, OperationalEvent};
pub use publish::{Publication, PublishError, Published, Publisher};
