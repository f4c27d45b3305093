//! Whether a rule holds now, and for what: read from the store, so every node reaches the same
//! verdict. What a round needs is read once per round and shared by its rules ([`Facts`]).

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_core::alert::{AlertRule, AlertScope, CREDENTIAL_STREAK, CREDENTIAL_WINDOW_SECONDS, ScopeKind};
use switchyard_store::{EndpointRow, HealthTotals, QueueStat, Store, StoreResult};
use tokio::sync::OnceCell;

use super::health::bucket_of;
use super::message::Place;
use crate::endpoints::DISABLED_BY_OPERATOR;

/// A rule's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub holds: bool,
    /// What holds, in words (for the worst place when there are several).
    pub what: String,
    pub places: Vec<Place>,
}

impl Verdict {
    fn quiet() -> Verdict {
        Verdict {
            holds: false,
            what: String::new(),
            places: Vec::new(),
        }
    }
}

/// The store's state for one round of evaluation, each part read at most once.
pub struct Facts {
    store: Arc<dyn Store>,
    pub now: i64,
    totals: tokio::sync::Mutex<HashMap<i64, Arc<Vec<HealthTotals>>>>,
    endpoints: OnceCell<Vec<EndpointRow>>,
    queues: OnceCell<Vec<QueueStat>>,
}

impl Facts {
    pub fn new(store: Arc<dyn Store>, now: i64) -> Facts {
        Facts {
            store,
            now,
            totals: Default::default(),
            endpoints: OnceCell::new(),
            queues: OnceCell::new(),
        }
    }

    /// Outcomes since the bucket `window_seconds` ago (whole buckets: the window may be up to
    /// one bucket longer, never shorter).
    async fn totals(&self, window_seconds: u64) -> StoreResult<Arc<Vec<HealthTotals>>> {
        let since = bucket_of(self.now - (window_seconds as i64).saturating_mul(1_000_000));
        let mut cache = self.totals.lock().await;
        if let Some(t) = cache.get(&since) {
            return Ok(t.clone());
        }
        let t = Arc::new(self.store.health_totals(since).await?);
        cache.insert(since, t.clone());
        Ok(t)
    }

    async fn endpoints(&self) -> StoreResult<&Vec<EndpointRow>> {
        self.endpoints.get_or_try_init(|| self.store.all_endpoints()).await
    }

    async fn endpoint_name(&self, id: &str) -> String {
        match self.endpoints().await {
            Ok(all) => all
                .iter()
                .find(|e| e.id == id)
                .and_then(|e| e.name.clone())
                .unwrap_or_else(|| id.to_string()),
            Err(_) => id.to_string(),
        }
    }

    /// Where a health sample's thing is shown: endpoints are counted by id, the rest by name.
    async fn place(&self, scope: &str, key: &str) -> Place {
        match scope {
            "endpoint" => Place {
                kind: "endpoint",
                id: key.into(),
                name: self.endpoint_name(key).await,
                page: "#/endpoints".into(),
            },
            "source" => Place {
                kind: "source",
                id: key.into(),
                name: key.into(),
                page: format!("#/events?source={key}"),
            },
            "flow" => Place {
                kind: "flow",
                id: key.into(),
                name: key.into(),
                page: format!("#/runs?flow={key}"),
            },
            _ => Place {
                kind: "destination",
                id: key.into(),
                name: key.into(),
                page: "#/endpoints".into(),
            },
        }
    }

    /// The key health samples count a scope's thing under (endpoint id; other kinds' names),
    /// `None` when it does not exist (any more).
    async fn scope_key(&self, scope: &AlertScope) -> StoreResult<Option<String>> {
        let target = scope.target();
        Ok(match scope {
            AlertScope::Endpoint(_) => self
                .endpoints()
                .await?
                .iter()
                .find(|e| e.id == target || e.name.as_deref() == Some(target))
                .map(|e| e.id.clone()),
            AlertScope::Source(_) => self.store.get_source(target).await?.map(|s| s.name),
            AlertScope::Flow(_) => self.store.get_flow(target).await?.map(|f| f.name),
            AlertScope::Destination(_) => self.store.get_destination(target).await?.map(|d| d.name),
        })
    }
}

fn percent(r: f64) -> String {
    format!("{:.0}%", r * 100.0)
}

pub async fn evaluate(rule: &AlertRule, facts: &Facts) -> StoreResult<Verdict> {
    match rule {
        AlertRule::FailureRatio {
            scope,
            threshold,
            window_seconds,
            min_count,
        } => {
            let key = match scope {
                Some(s) => match facts.scope_key(s).await? {
                    Some(k) => Some((s.kind(), k)),
                    None => return Ok(Verdict::quiet()),
                },
                None => None,
            };
            let totals = facts.totals(*window_seconds).await?;
            let mut offenders: Vec<(&HealthTotals, f64)> = totals
                .iter()
                .filter(|t| {
                    key.as_ref()
                        .is_none_or(|(kind, k)| t.scope == kind.as_str() && &t.name == k)
                })
                .filter(|t| t.total > 0 && t.total as u64 >= *min_count)
                .map(|t| (t, t.failed as f64 / t.total as f64))
                .filter(|(_, r)| r >= threshold)
                .collect();
            offenders.sort_by(|a, b| b.1.total_cmp(&a.1));
            let Some((worst, ratio)) = offenders.first() else {
                return Ok(Verdict::quiet());
            };
            let mut places = Vec::new();
            for (t, _) in &offenders {
                places.push(facts.place(&t.scope, &t.name).await);
            }
            Ok(Verdict {
                holds: true,
                what: format!(
                    "failure ratio {} ({} of {}) at or above {} over {window_seconds} s for {} {}",
                    percent(*ratio),
                    worst.failed,
                    worst.total,
                    percent(*threshold),
                    places[0].kind,
                    places[0].name
                ),
                places,
            })
        }
        AlertRule::QueueAge { seconds } => {
            let queues = facts.queues.get_or_try_init(|| facts.store.queue_stats()).await?;
            let limit = (*seconds as i64).saturating_mul(1_000_000);
            let mut late: Vec<(&QueueStat, i64)> = queues
                .iter()
                .filter_map(|q| q.oldest_due_at.map(|due| (q, facts.now - due)))
                .filter(|(q, age)| q.jobs > 0 && *age > limit)
                .collect();
            late.sort_by_key(|(_, age)| -age);
            let Some((q, age)) = late.first() else {
                return Ok(Verdict::quiet());
            };
            Ok(Verdict {
                holds: true,
                what: format!(
                    "the oldest {} job has waited {} s (more than {seconds} s); {} waiting",
                    q.kind.as_str(),
                    age / 1_000_000,
                    q.jobs
                ),
                places: late
                    .iter()
                    .map(|(q, _)| Place {
                        kind: "queue",
                        id: q.kind.as_str().into(),
                        name: q.kind.as_str().into(),
                        page: "#/overview".into(),
                    })
                    .collect(),
            })
        }
        AlertRule::EndpointDisabled => {
            let mut places = Vec::new();
            let mut why = String::new();
            for e in facts.endpoints().await? {
                match &e.disabled_reason {
                    Some(reason) if !e.enabled && reason != DISABLED_BY_OPERATOR => {
                        if why.is_empty() {
                            why = reason.clone();
                        }
                        places.push(facts.place("endpoint", &e.id).await);
                    }
                    _ => {}
                }
            }
            Ok(match places.first() {
                None => Verdict::quiet(),
                Some(first) => Verdict {
                    holds: true,
                    what: format!("endpoint {} was disabled: {why}", first.name),
                    places,
                },
            })
        }
        AlertRule::CircuitOpen => {
            let mut places = Vec::new();
            for b in facts.store.breakers_changed_since(0).await? {
                let exists = facts.endpoints().await?.iter().any(|e| e.id == b.endpoint_id);
                if b.open_until.is_some() && exists {
                    places.push(facts.place("endpoint", &b.endpoint_id).await);
                }
            }
            Ok(match places.first() {
                None => Verdict::quiet(),
                Some(first) => Verdict {
                    holds: true,
                    what: format!("the circuit of endpoint {} is open", first.name),
                    places,
                },
            })
        }
        AlertRule::CredentialsRejected => {
            let totals = facts.totals(CREDENTIAL_WINDOW_SECONDS).await?;
            let mut places = Vec::new();
            let mut what = String::new();
            for t in totals.iter() {
                let watched = t.scope == ScopeKind::Endpoint.as_str() || t.scope == ScopeKind::Destination.as_str();
                let streak = t.rejected >= CREDENTIAL_STREAK || t.refused > 0;
                // No success after the newest rejection (same bucket: undecided, so no).
                let unbroken = match (t.last_rejected_bucket, t.last_ok_bucket) {
                    (Some(rej), Some(ok)) => rej > ok,
                    (Some(_), None) => true,
                    _ => false,
                };
                if watched && streak && unbroken {
                    let place = facts.place(&t.scope, &t.name).await;
                    if what.is_empty() {
                        what = if t.refused > 0 {
                            format!("{} {}: token requests refused ({})", place.kind, place.name, t.refused)
                        } else {
                            format!(
                                "{} {}: {} calls answered 401/403 with no success since",
                                place.kind, place.name, t.rejected
                            )
                        };
                    }
                    places.push(place);
                }
            }
            Ok(if places.is_empty() {
                Verdict::quiet()
            } else {
                Verdict {
                    holds: true,
                    what: format!("credentials rejected — {what}"),
                    places,
                }
            })
        }
        AlertRule::Quarantined => {
            let (count, _oldest) = facts.store.quarantine_summary().await?;
            Ok(if count == 0 {
                Verdict::quiet()
            } else {
                Verdict {
                    holds: true,
                    what: if count == 1 {
                        "1 event waits in quarantine for review".to_string()
                    } else {
                        format!("{count} events wait in quarantine for review")
                    },
                    places: vec![Place {
                        kind: "quarantine",
                        id: "quarantine".into(),
                        name: "quarantine".into(),
                        page: "#/quarantine".into(),
                    }],
                }
            })
        }
        AlertRule::SignatureFailures { count, window_seconds } => {
            let totals = facts.totals(*window_seconds).await?;
            let mut sources: Vec<&HealthTotals> = totals
                .iter()
                .filter(|t| t.scope == ScopeKind::Source.as_str() && t.rejected > 0)
                .collect();
            sources.sort_by_key(|t| -t.rejected);
            let failures: i64 = sources.iter().map(|t| t.rejected).sum();
            if failures < *count as i64 {
                return Ok(Verdict::quiet());
            }
            let mut places = Vec::new();
            for t in &sources {
                places.push(facts.place("source", &t.name).await);
            }
            Ok(Verdict {
                holds: true,
                what: format!(
                    "{failures} requests failed signature verification within {window_seconds} s (limit {count})"
                ),
                places,
            })
        }
    }
}
