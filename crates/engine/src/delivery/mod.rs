//! Outbound webhook delivery: publishing an event with its deliveries (one transaction, through
//! the intake writer's group commit), the dispatcher that claims and sends them, the per-endpoint
//! guards (their breakers shared across nodes), and a single attempt's request and verdict.

mod attempt;
mod claim;
mod dispatcher;
pub(crate) mod guard;
mod publish;
mod shared;

pub use attempt::signed_headers;
pub use dispatcher::{DispatchConfig, Dispatcher, ENDPOINT_DISABLED, OperationalEvent};
pub use guard::BreakerState;
pub use publish::{Publication, PublishError, Published, Publisher};
