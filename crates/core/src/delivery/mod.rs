//! Outbound delivery rules, pure and clock-free so they can be tested with controlled time: when
//! to try again (`schedule`), what an answer means (`outcome`), which destination addresses may
//! be called at all (`destination`), and where a delivery stands (`status`).

pub mod destination;
pub mod outcome;
pub mod schedule;
pub mod status;

pub use status::DeliveryStatus;
