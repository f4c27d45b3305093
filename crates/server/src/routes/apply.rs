//! `POST /v1/apply`: configuration as code. The body is a config file's definitions (as JSON);
//! the answer is the plan — what differs, field by field, secrets only as "changed" — applied
//! unless `dry_run=true`. `switchyard apply` is its client.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use switchyard_core::apikey::Scope;
use switchyard_core::declared::Declared;
use switchyard_engine::declared::{self, Applier, ApplyOptions, Catalogs};

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, Params};

fn flag(params: &Params, name: &str) -> Result<bool, ApiError> {
    Ok(params.one_of(name, &["true", "false"])?.as_deref() == Some("true"))
}

pub async fn apply(
    State(state): State<AppState>,
    principal: Principal,
    params: Params,
    ApiJson(body): ApiJson<Declared>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let options = ApplyOptions {
        dry_run: flag(&params, "dry_run")?,
        prune: flag(&params, "prune")?,
    };
    let catalogs = Catalogs {
        store: state.store.clone(),
        sources: state.catalog.clone(),
        endpoints: state.endpoints.clone(),
        destinations: state.destinations.clone(),
        flows: state.flows.clone(),
        alerts: state.alerts.clone(),
    };
    let plan = declared::reconcile(&catalogs, body, options, Applier::Key(&principal.key_id)).await?;
    if plan.applied {
        tracing::info!(changes = plan.changes.len(), "configuration applied");
    }
    Ok(Json(plan).into_response())
}
