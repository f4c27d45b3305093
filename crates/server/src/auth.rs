//! API-key authentication for `/v1`. The presented key is hashed and looked up through the
//! engine's [`switchyard_engine::api_keys::ApiKeys`] (which remembers a verified key for a
//! second); the plain key is never stored or logged. Handlers declare the scope they need with
//! [`Principal::require`].

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use switchyard_core::apikey::{Scope, hash_key};

use crate::AppState;
use crate::error::ApiError;

/// The caller behind a valid, unrevoked API key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    /// The key's name, as read with it.
    pub key_name: String,
    pub scope: Scope,
}

impl Principal {
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.scope.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "this action needs a key with the {} scope; this key has {}",
                    needed.as_str(),
                    self.scope.as_str()
                ),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthenticated = |code, msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, msg);
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("missing_api_key", "send an API key as Authorization: Bearer <key>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, k)| k)
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or_else(|| unauthenticated("invalid_api_key", "the Authorization header must be Bearer <key>"))?;
        // Remembered for a second at most; a revocation on this node is honoured at once.
        match state.api_keys.verify(&hash_key(token)).await? {
            Some(k) => {
                let scope = Scope::parse(&k.scope).ok_or_else(|| {
                    tracing::error!(key_id = %k.id, "stored API key has an unknown scope");
                    unauthenticated("invalid_api_key", "the API key is not valid")
                })?;
                Ok(Principal {
                    key_id: k.id.clone(),
                    key_name: k.name.clone(),
                    scope,
                })
            }
            None => Err(unauthenticated(
                "invalid_api_key",
                "the API key is not valid or has been revoked",
            )),
        }
    }
}
