//! Where a delivery stands. Stored and shown as its lowercase name.

use crate::names::named_enum;

/// A delivery's state. `Pending` is the only one with a job in the queue (waiting or in
/// flight); the other three are ends, left only by a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its due time, or being attempted.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Ended without retries: a permanent answer (4xx but 408/429), or the endpoint is gone or
    /// disabled.
    Failed,
    /// Retries exhausted (the schedule or the maximum age).
    Dead,
}

named_enum!(DeliveryStatus, "delivery status", [
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
    Dead => "dead",
]);

pub use crate::names::UnknownName as UnknownStatus;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (st, name) in DeliveryStatus::ALL.iter().zip(DeliveryStatus::NAMES) {
            assert_eq!(st.as_str(), *name);
            assert_eq!(name.parse::<DeliveryStatus>(), Ok(*st));
            assert_eq!(serde_json::to_value(st).unwrap(), *name);
        }
        assert!("Pending".parse::<DeliveryStatus>().is_err());
    }
}
