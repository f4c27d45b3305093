//! What a `deliver` run publishes into and what it expects at the receiver: the resources each
//! target creates through the API, and the request that publishes one event.

use std::str::FromStr;

use serde_json::{Value, json};

use crate::deliver::api_post;

/// See `--target` in `main.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Endpoint,
    Forward,
    Flow,
    /// The `flow` with `ordering` on 1,000 keys (`.payload.n % 1000`).
    FlowOrdered,
    Source,
    SourceFlow,
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "endpoint" => Target::Endpoint,
            "forward" => Target::Forward,
            "flow" => Target::Flow,
            "flow-ordered" => Target::FlowOrdered,
            "source" => Target::Source,
            "source-flow" => Target::SourceFlow,
            other => return Err(format!("unknown target {other}")),
        })
    }
}

impl Target {
    /// True when events go to `/in/bench` as raw JSON rather than through `/v1/events`.
    pub fn via_source(self) -> bool {
        matches!(self, Target::Forward | Target::Source | Target::SourceFlow)
    }

    /// True when nothing reaches the receiver: only the publishing rate is measured.
    pub fn receives(self) -> bool {
        self != Target::Source
    }

    /// The path and body that publish one event carrying `payload`.
    pub fn request(self, payload: Value) -> (&'static str, String) {
        if self.via_source() {
            ("/in/bench", payload.to_string())
        } else {
            (
                "/v1/events",
                json!({"type": "bench.event", "payload": payload}).to_string(),
            )
        }
    }

    /// Creates what the target needs on the server; the receiver listens at `receiver`
    /// (`http://127.0.0.1:PORT`) and counts requests to `/ep/{index}`.
    pub async fn set_up(self, authority: &str, key: &str, receiver: &str, endpoints: usize, max_concurrency: u32) {
        let create = |path: &'static str, body: Value| async move {
            let status = api_post(authority, path, key, &body).await;
            assert_eq!(
                status,
                Ok(201),
                "creating {path} {body} (is --allow-destinations 127.0.0.0/8 set?)"
            );
        };
        if self.via_source() {
            create("/v1/sources", json!({"name": "bench", "verify": {"scheme": "none"}})).await;
        }
        match self {
            Target::Endpoint => {
                for i in 0..endpoints {
                    let body = json!({"url": format!("{receiver}/ep/{i}"), "max_concurrency": max_concurrency});
                    create("/v1/endpoints", body).await;
                }
            }
            Target::Forward => {
                let body = json!({"url": format!("{receiver}/ep/0"), "max_concurrency": max_concurrency, "sources": ["bench"]});
                create("/v1/endpoints", body).await;
            }
            Target::Flow | Target::FlowOrdered | Target::SourceFlow => {
                let dst = json!({"name": "receiver", "base_url": receiver, "max_concurrency": max_concurrency});
                create("/v1/destinations", dst).await;
                let trigger = if self == Target::SourceFlow {
                    json!({"source": "bench"})
                } else {
                    json!({"event_types": ["bench.event"]})
                };
                let mut flow = json!({"name": "three-steps", "trigger": trigger, "steps": [
                    {"id": "keep", "filter": ".payload.n >= 0"},
                    {"id": "shape", "map": "{sent_at: .payload.sent_at, n: .payload.n, pad: .payload.pad}"},
                    {"id": "send", "http": {"destination": "receiver", "method": "POST", "path": "/ep/0", "body": ".steps.shape.output"}},
                ]});
                if self == Target::FlowOrdered {
                    flow["ordering"] = json!({"key": ".payload.n % 1000 | tostring"});
                }
                create("/v1/flows", flow).await;
            }
            Target::Source => {}
        }
    }
}
