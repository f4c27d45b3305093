//! `GET /v1/events/stream` (read scope): new events and run outcomes as they happen, as
//! server-sent events (`event: event` / `event: run`, one JSON summary each), for `switchyard
//! events tail`. It follows the store, not this node's memory, so it sees every node's work:
//! events after the newest one at connection time in commit order, runs that end from then on.
//! Filters: `source` (name or id), `type` (exact), `runs=false` to leave run outcomes out.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use switchyard_core::apikey::Scope;
use switchyard_core::time::now_micros;
use switchyard_store::{EventFilter, RunFilter};
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Params;

/// How often the store is asked for what is new.
const POLL: Duration = Duration::from_millis(500);
/// Run ends are re-read this far back: a run's end is stamped before its batch commits, so one
/// may appear later with an earlier time; ids seen within the window are not sent twice.
const RUN_LOOKBACK_MICROS: i64 = 10_000_000;

pub async fn stream(State(state): State<AppState>, principal: Principal, params: Params) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let base = EventFilter {
        source: params.get("source").map(str::to_string),
        event_type: params.get("type").map(str::to_string),
        limit: 200,
        ..EventFilter::default()
    };
    let with_runs = params.get("runs") != Some("false");
    // Only what happens from now on: start after the newest event.
    let newest = state
        .store
        .list_events(&EventFilter {
            limit: 1,
            ..EventFilter::default()
        })
        .await?;
    let after_seq = newest.items.first().map_or(0, |e| e.seq);
    let (tx, rx) = mpsc::channel::<Event>(256);
    tokio::spawn(follow(state, base, with_runs, after_seq, tx));
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// Polls until the client goes away (a send fails).
async fn follow(state: AppState, base: EventFilter, with_runs: bool, mut after_seq: i64, tx: mpsc::Sender<Event>) {
    let connected = now_micros();
    let mut runs_since = connected;
    let mut seen_runs: HashMap<String, i64> = HashMap::new();
    loop {
        let filter = EventFilter {
            after_seq: Some(after_seq),
            ..base.clone()
        };
        match state.store.list_events(&filter).await {
            Ok(page) => {
                for e in &page.items {
                    after_seq = after_seq.max(e.seq);
                    let data = super::events::summary(e).to_string();
                    if tx.send(Event::default().event("event").data(data)).await.is_err() {
                        return;
                    }
                }
                if page.has_more {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "events stream: reading new events failed; retrying"),
        }
        if with_runs {
            // Paged by end time from the lookback; the seen set drops what was already sent.
            let mut from = runs_since - RUN_LOOKBACK_MICROS;
            loop {
                let filter = RunFilter {
                    ended_since: Some(from),
                    limit: 200,
                    ..RunFilter::default()
                };
                let page = match state.store.list_runs(&filter).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "events stream: reading run outcomes failed; retrying");
                        break;
                    }
                };
                let last = page.items.last().and_then(|r| r.finished_at);
                for r in page.items {
                    let ended = r.finished_at.unwrap_or(runs_since);
                    // Capped at this node's clock: a node whose clock runs fast must not hide
                    // the others' run ends.
                    runs_since = runs_since.max(ended.min(now_micros()));
                    if ended < connected {
                        continue; // ended before the client connected
                    }
                    if seen_runs.insert(r.id.clone(), ended).is_some() {
                        continue;
                    }
                    let data = super::runs::summary(&r).to_string();
                    if tx.send(Event::default().event("run").data(data)).await.is_err() {
                        return;
                    }
                }
                match last {
                    // A page full of one instant cannot move on; the next poll continues.
                    Some(t) if page.has_more && t > from => from = t,
                    _ => break,
                }
            }
            seen_runs.retain(|_, t| *t >= runs_since - RUN_LOOKBACK_MICROS);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tx.closed() => return,
        }
    }
}
