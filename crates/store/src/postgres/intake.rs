//! PostgreSQL group commit: a batch of intake writes in as few round trips as it allows. A batch
//! without dedup keys is one statement in its own (implicit) transaction — one round trip; with
//! keys it is BEGIN, the key upsert, the statement, COMMIT. Both statements' text is fixed (every
//! column travels as one array, unnested by the server), so each is parsed once per connection
//! and kept in sqlx's statement cache, instead of parsed and described anew for every batch; and
//! a batch of any size is one statement, with no bind-parameter limit to chunk around.
//!
//! Invariants: every sequence the batch draws from (`events.seq` above all) follows commit order
//! across nodes — each part of the statement produces rows only once the event-order advisory
//! lock is held (a gate on the one `lock` row), and the lock is held until commit. Rows go in
//! batch order (`WITH ORDINALITY … ORDER BY`), so the jobs of one ordering key keep arrival order.

use sqlx::{Executor, Postgres};

use super::{DELIVERY_CHANNEL, EVENT_ORDER_LOCK};
use crate::dedup::{self, Plan, Winners};
use crate::key_digest::KeyDigest;
use crate::{IntakeOutcome, IntakeWrite, JobKind, StoreResult};

/// The dedup upsert: a key held by an event whose window has not ended keeps that event; an
/// expired one is taken over. `RETURNING` tells which event holds each key afterwards. Keys come
/// sorted, so two batches lock shared keys in the same order and cannot deadlock.
const DEDUP_UPSERT: &str = "INSERT INTO dedup_digests (digest, event_id, expires_at) \
     SELECT digest, event_id, expires_at FROM UNNEST($1::bytea[], $2::text[], $3::int8[]) \
     WITH ORDINALITY AS k(digest, event_id, expires_at, n) ORDER BY n \
     ON CONFLICT (digest) DO UPDATE SET \
     event_id = CASE WHEN dedup_digests.expires_at <= $4 THEN excluded.event_id ELSE dedup_digests.event_id END, \
     expires_at = CASE WHEN dedup_digests.expires_at <= $4 THEN excluded.expires_at ELSE dedup_digests.expires_at END \
     RETURNING digest, event_id";

/// Every row of a batch: `$1` the lock; the columns of events (`$2`–`$12`), deliveries and
/// their jobs (`$13`–`$18`), runs and their jobs (`$19`–`$28`), receipts (`$29`–`$37`); the job
/// kinds (`$38`, `$39`); the wake-up's channel, whether to send it and what it says (`$40`–`$42`,
/// see [`super::wake_up`]), delivered at commit so idle dispatchers and flow runners on every
/// other node wake at once.
const INSERT_BATCH: &str = "WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($1)), \
     e AS (INSERT INTO events (id, source_id, source_name, event_type, status, received_at, content_type, \
       headers, payload, request_id, validation_errors) \
       SELECT id, source_id, source_name, event_type, status, received_at, content_type, headers, payload, \
       request_id, validation_errors \
       FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[], \
       $9::text[], $10::bytea[], $11::text[], $12::text[]) WITH ORDINALITY AS r(id, source_id, source_name, \
       event_type, status, received_at, content_type, headers, payload, request_id, validation_errors, n) \
       WHERE EXISTS (SELECT FROM lock) ORDER BY n), \
     d AS (INSERT INTO deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, \
       updated_at, ordering_key) \
       SELECT id, event_id, endpoint_id, 'pending', 0, due, created, created, okey \
       FROM UNNEST($13::text[], $14::text[], $15::text[], $16::int8[], $17::int8[], $18::text[]) \
       WITH ORDINALITY AS r(id, event_id, endpoint_id, due, created, okey, n) \
       WHERE EXISTS (SELECT FROM lock) ORDER BY n), \
     dj AS (INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key) \
       SELECT $38, id, endpoint_id, due, okey \
       FROM UNNEST($13::text[], $15::text[], $16::int8[], $18::text[]) \
       WITH ORDINALITY AS r(id, endpoint_id, due, okey, n) \
       WHERE EXISTS (SELECT FROM lock) ORDER BY n), \
     r AS (INSERT INTO runs (id, flow_id, flow_name, flow_version, event_id, status, started_at, updated_at, \
       control_key, control_limit, sequence) \
       SELECT id, flow_id, flow_name, flow_version, event_id, 'pending', created, created, ckey, climit, cseq \
       FROM UNNEST($19::text[], $20::text[], $21::text[], $22::int8[], $23::text[], $24::int8[], $25::text[], \
       $26::int8[], $27::int8[]) \
       WITH ORDINALITY AS r(id, flow_id, flow_name, flow_version, event_id, created, ckey, climit, cseq, n) \
       WHERE EXISTS (SELECT FROM lock) ORDER BY n), \
     rj AS (INSERT INTO jobs (kind, subject_id, lane, due_at, ordering_key, key_limit, position) \
       SELECT $39, id, flow_id, due, ckey, climit, cseq \
       FROM UNNEST($19::text[], $20::text[], $28::int8[], $25::text[], $26::int8[], $27::int8[]) \
       WITH ORDINALITY AS r(id, flow_id, due, ckey, climit, cseq, n) \
       WHERE EXISTS (SELECT FROM lock) ORDER BY n), \
     c AS (INSERT INTO receipts (id, at, source_name, source_id, request_id, status_code, outcome, reason, event_id) \
       SELECT id, at, source_name, source_id, request_id, status_code, outcome, reason, event_id \
       FROM UNNEST($29::text[], $30::int8[], $31::text[], $32::text[], $33::text[], $34::int4[], $35::text[], \
       $36::text[], $37::text[]) \
       WITH ORDINALITY AS r(id, at, source_name, source_id, request_id, status_code, outcome, reason, event_id, n) \
       WHERE EXISTS (SELECT FROM lock) ORDER BY n) \
     SELECT pg_notify($40, $42) FROM lock WHERE $41";

/// Stores `batch` and tells what became of each write (see the module's invariants).
/// `node` names this store in the wake-up, so its own subscription can pass over it.
pub(super) async fn commit_intake(
    pool: &sqlx::PgPool,
    node: &str,
    batch: &[IntakeWrite],
) -> StoreResult<Vec<IntakeOutcome>> {
    let keyed = dedup::keyed(batch);
    if keyed.candidates.is_empty() {
        let plan = dedup::plan(batch, &keyed.digests, &Winners::new());
        let mut conn = pool.acquire().await?;
        insert_batch(&mut *conn, node, &plan).await?;
        return Ok(plan.outcomes);
    }
    let mut tx = pool.begin().await?;
    // Keys first, outside the event-order lock: the primary key decides races on its own (a
    // concurrent batch with the same key waits for this one's row lock, then sees its winner),
    // so the lock every node's batches queue on is not held for it.
    let now = switchyard_core::time::now_micros();
    let (digests, events, expiries): (Vec<Vec<u8>>, Vec<&str>, Vec<i64>) = keyed
        .candidates
        .iter()
        .map(|(e, digest)| {
            (
                digest.to_vec(),
                e.id.as_str(),
                e.dedup.as_ref().map_or(0, |d| d.expires_at),
            )
        })
        .collect();
    let rows: Vec<(Vec<u8>, String)> = sqlx::query_as(DEDUP_UPSERT)
        .bind(digests)
        .bind(events)
        .bind(expiries)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    let winners: Winners = rows
        .into_iter()
        .filter_map(|(digest, event)| Some((KeyDigest::from_slice(&digest)?, event)))
        .collect();
    let plan = dedup::plan(batch, &keyed.digests, &winners);
    insert_batch(&mut *tx, node, &plan).await?;
    tx.commit().await?;
    Ok(plan.outcomes)
}

/// The plan's rows in one statement ([`INSERT_BATCH`]).
async fn insert_batch<'c, E>(conn: E, node: &str, plan: &Plan<'_>) -> StoreResult<()>
where
    E: Executor<'c, Database = Postgres>,
{
    let ev = &plan.events;
    let dl = &plan.deliveries;
    let rn = &plan.runs;
    let rc = &plan.receipts;
    let wake = super::wake_up(node, !dl.is_empty(), !rn.is_empty());
    sqlx::query(INSERT_BATCH)
        .bind(EVENT_ORDER_LOCK)
        // events: $2–$12
        .bind(ev.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.source_id.as_deref()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.source_name.as_deref()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.event_type.as_deref()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.status.as_str()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.received_at).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.content_type.as_deref()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.headers.as_str()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.payload.as_slice()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.request_id.as_str()).collect::<Vec<_>>())
        .bind(ev.iter().map(|e| e.validation_errors.as_deref()).collect::<Vec<_>>())
        // deliveries and their jobs: $13–$18
        .bind(dl.iter().map(|d| d.id.as_str()).collect::<Vec<_>>())
        .bind(dl.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>())
        .bind(dl.iter().map(|d| d.endpoint_id.as_str()).collect::<Vec<_>>())
        .bind(dl.iter().map(|d| d.next_attempt_at).collect::<Vec<_>>())
        .bind(dl.iter().map(|d| d.created_at).collect::<Vec<_>>())
        .bind(dl.iter().map(|d| d.ordering_key.as_deref()).collect::<Vec<_>>())
        // runs and their jobs: $19–$28 (a debounced run's job falls due after its quiet period)
        .bind(rn.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
        .bind(rn.iter().map(|r| r.flow_id.as_str()).collect::<Vec<_>>())
        .bind(rn.iter().map(|r| r.flow_name.as_str()).collect::<Vec<_>>())
        .bind(rn.iter().map(|r| r.flow_version).collect::<Vec<_>>())
        .bind(rn.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>())
        .bind(rn.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind(
            rn.iter()
                .map(|r| r.control.as_ref().map(|c| c.key.as_str()))
                .collect::<Vec<_>>(),
        )
        .bind(
            rn.iter()
                .map(|r| r.control.as_ref().map(|c| c.limit))
                .collect::<Vec<_>>(),
        )
        .bind(
            rn.iter()
                .map(|r| r.control.as_ref().and_then(|c| c.sequence))
                .collect::<Vec<_>>(),
        )
        .bind(
            rn.iter()
                .map(|r| r.control.as_ref().map_or(r.created_at, |c| c.due_at))
                .collect::<Vec<_>>(),
        )
        // receipts: $29–$37
        .bind(rc.iter().map(|c| c.id.as_str()).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.at).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.source_name.as_str()).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.source_id.as_deref()).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.request_id.as_str()).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.status_code).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.outcome.as_str()).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.reason.as_deref()).collect::<Vec<_>>())
        .bind(rc.iter().map(|c| c.event_id.as_deref()).collect::<Vec<_>>())
        .bind(JobKind::Delivery.as_str())
        .bind(JobKind::Run.as_str())
        .bind(DELIVERY_CHANNEL)
        .bind(wake.is_some())
        .bind(wake.unwrap_or_default())
        .execute(conn)
        .await?;
    Ok(())
}
