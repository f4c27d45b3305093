//! DNS for the outbound client: resolve, then drop every address the SSRF guard refuses. The
//! connector only ever sees the surviving addresses, so the address checked is the address used.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use switchyard_core::delivery::destination::refused;
use switchyard_core::network::Cidr;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Lookup(String),
}

pub struct GuardedResolver {
    allow: Arc<Vec<Cidr>>,
}

impl GuardedResolver {
    pub fn new(allow: Arc<Vec<Cidr>>) -> Self {
        GuardedResolver { allow }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(ResolveError::Lookup(format!("cannot resolve {host}: {e}")))
                })?
                .collect();
            let mut why = None;
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match refused(a.ip(), &allow) {
                    Some(reason) => {
                        why = Some(format!("{host} resolves to {} ({reason})", a.ip()));
                        false
                    }
                    None => true,
                })
                .collect();
            if usable.is_empty() {
                let message = why.unwrap_or_else(|| format!("{host} has no addresses"));
                let e: Box<dyn std::error::Error + Send + Sync> = Box::new(ResolveError::Refused(format!(
                    "{message}; allow it with --allow-destinations"
                )));
                return Err(e);
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}
