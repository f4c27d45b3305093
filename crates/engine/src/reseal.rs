//! Key rotation: re-seals every stored secret (source secrets, endpoint secrets and headers,
//! destination credentials) under the master key's current key. It runs beside live servers:
//! each value is swapped only if it is still the one read (a concurrent API write already sealed
//! under the current key wins), and passes repeat until one finds nothing left to move, so a
//! value written under an old key while a pass ran is caught by the next.

use std::collections::BTreeMap;

use switchyard_core::secrets::{MasterKey, Resealed};
use switchyard_store::{SealedKind, Store, StoreError};

const PAGE: i64 = 500;
/// More passes than this means writers keep sealing under an old key: a node still runs
/// without the new one.
const MAX_PASSES: u32 = 5;

/// What a rotation found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResealReport {
    /// Values moved from a previous key to the current one, per kind.
    pub moved: BTreeMap<SealedKind, u64>,
    /// Values already under the current key (in the last pass).
    pub current: u64,
    /// Values no key in the ring opens: `(kind, row id)`. They are left as they are.
    pub unopenable: Vec<(SealedKind, String)>,
    pub passes: u32,
    /// The last pass still moved values: some writer seals under an old key.
    pub unsettled: bool,
}

impl ResealReport {
    pub fn moved_total(&self) -> u64 {
        self.moved.values().sum()
    }

    /// True when every stored value opens with the current key alone.
    pub fn complete(&self) -> bool {
        self.unopenable.is_empty() && !self.unsettled
    }
}

/// Re-seals everything under `key`'s current key (see the module doc).
pub async fn reseal_all(store: &dyn Store, key: &MasterKey) -> Result<ResealReport, StoreError> {
    let mut report = ResealReport::default();
    loop {
        report.passes += 1;
        report.current = 0;
        report.unopenable.clear();
        let mut moved_now = 0;
        for kind in SealedKind::ALL {
            let mut after: Option<String> = None;
            loop {
                let page = store.sealed_values(kind, after.as_deref(), PAGE).await?;
                for value in &page {
                    match key.reseal(&value.sealed) {
                        Ok(Resealed::Current) => report.current += 1,
                        Ok(Resealed::Moved(new)) => {
                            // A false answer means someone rewrote the row meanwhile; the next
                            // pass looks at what they wrote.
                            if store.replace_sealed(kind, &value.id, &value.sealed, &new).await? {
                                *report.moved.entry(kind).or_default() += 1;
                            }
                            moved_now += 1;
                        }
                        Err(_) => report.unopenable.push((kind, value.id.clone())),
                    }
                }
                if page.len() < PAGE as usize {
                    break;
                }
                after = page.last().map(|v| v.id.clone());
            }
        }
        if moved_now == 0 || report.passes >= MAX_PASSES {
            report.unsettled = moved_now > 0;
            return Ok(report);
        }
    }
}
