//! Where a delivery stands. Stored and shown as its lowercase name.

use std::fmt;
use std::str::FromStr;

/// A delivery's state. `Pending` is the only one with a job in the queue (waiting or in
/// flight); the other three are ends, left only by a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [Self::Pending, Self::Succeeded, Self::Failed, Self::Dead];
    pub const NAMES: [&'static str; 4] = ["pending", "succeeded", "failed", "dead"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// How the store decodes the column.
impl TryFrom<String> for DeliveryStatus {
    type Error = UnknownStatus;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (st, name) in DeliveryStatus::ALL.into_iter().zip(DeliveryStatus::NAMES) {
            assert_eq!(st.as_str(), name);
            assert_eq!(name.parse::<DeliveryStatus>(), Ok(st));
            assert_eq!(serde_json::to_value(st).unwrap(), name);
        }
        assert!("Pending".parse::<DeliveryStatus>().is_err());
    }
}
