//! Prefixed, sortable identifiers (`evt_01J…`). The prefix tells a reader what an id names; the
//! ULID body sorts by creation time, so ids double as a coarse creation order in logs and URLs.

use ulid::Ulid;

/// The kinds of things that carry an id, each with its wire prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Event,
    Source,
    Receipt,
    ApiKey,
    Request,
    Message,
    Endpoint,
    Delivery,
    Attempt,
    Destination,
    Flow,
    Run,
    Audit,
    Alert,
    Notification,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Event => "evt_",
            IdKind::Source => "src_",
            IdKind::Receipt => "rcp_",
            IdKind::ApiKey => "key_",
            IdKind::Request => "req_",
            IdKind::Message => "msg_",
            IdKind::Endpoint => "ep_",
            IdKind::Delivery => "dlv_",
            IdKind::Attempt => "atm_",
            IdKind::Destination => "dst_",
            IdKind::Flow => "flw_",
            IdKind::Run => "run_",
            IdKind::Audit => "aud_",
            IdKind::Alert => "alr_",
            IdKind::Notification => "ntf_",
        }
    }
}

/// A fresh id of the given kind.
pub fn new_id(kind: IdKind) -> String {
    let mut s = String::with_capacity(30);
    s.push_str(kind.prefix());
    s.push_str(&Ulid::new().to_string());
    s
}

/// True when `s` is shaped like an id of `kind` (prefix plus a valid ULID); lookups use it to
/// answer 404 early instead of querying with garbage.
pub fn is_id_of(kind: IdKind, s: &str) -> bool {
    s.strip_prefix(kind.prefix())
        .is_some_and(|rest| rest.len() == 26 && Ulid::from_string(rest).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_recognised() {
        let id = new_id(IdKind::Event);
        assert!(id.starts_with("evt_"));
        assert_eq!(id.len(), 30);
        assert!(is_id_of(IdKind::Event, &id));
        assert!(!is_id_of(IdKind::Source, &id));
        assert!(!is_id_of(IdKind::Event, "evt_nope"));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = new_id(IdKind::Event);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id(IdKind::Event);
        assert!(a < b);
    }
}
