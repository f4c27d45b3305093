//! The receipts of requests that create no event — refusals, ignored types, handshakes — and
//! their bound: strangers can cause refusals at any rate, so those go through the refusal window
//! (`refusals.rs`) and only its first few per minute get a receipt and a log line of their own.

use switchyard_core::ids::{IdKind, new_id};
use switchyard_core::time::now_micros;
use switchyard_store::{IntakeWrite, Receipt};

use super::handshake::HandshakeReply;
use super::{Intake, IntakeError, refusals};
use crate::sources::Source;

impl Intake {
    /// Records the summaries of a refusal window that has ended (`force`: end it now). Called
    /// periodically, and at shutdown, so a flood's count is stored even when nothing follows it.
    pub fn flush_refusals(&self, force: bool) {
        let summaries = self.refusals.flush(force);
        self.record_summaries(summaries);
    }

    pub(super) fn record_summaries(&self, summaries: Vec<refusals::Summary>) {
        for s in summaries {
            tracing::info!(
                source = %s.source_name,
                status = s.status,
                suppressed = s.suppressed,
                "intake refusals summarised (beyond the per-minute receipts)"
            );
            let reason = format!(
                "{} more requests refused like this between {} and {} (receipts are kept one by one only for the first of each minute)",
                s.suppressed,
                switchyard_core::time::to_rfc3339(s.window_start),
                switchyard_core::time::to_rfc3339(s.window_end),
            );
            self.record_at(
                s.window_end,
                &s.source_name,
                s.source_id,
                "summary",
                s.status,
                &s.outcome,
                reason,
            );
        }
    }

    /// Records the receipt of an outcome a stranger can cause (a refusal, a credential-free
    /// handshake) within the refusal window. Returns whether it got a receipt of its own; the
    /// caller logs it only then, so neither receipts nor log lines grow with a flood.
    pub(super) fn record_bounded(
        &self,
        source_name: &str,
        source: Option<&Source>,
        request_id: &str,
        status: u16,
        outcome: &str,
        reason: impl FnOnce() -> String,
    ) -> bool {
        let (verdict, summaries) = self
            .refusals
            .admit(source_name, source.map(|s| s.id.as_str()), status, outcome);
        self.record_summaries(summaries);
        if verdict == refusals::Verdict::Count {
            return false;
        }
        self.record(source_name, source, request_id, status, outcome, reason());
        true
    }

    /// Records the receipt of an authentic delivery whose type the source does not accept.
    pub(super) fn ignored(&self, source: &Source, request_id: &str, event_type: Option<&str>) -> Option<String> {
        let reason = format!(
            "event type {} is not in the source's event_types",
            event_type.unwrap_or("(none)")
        );
        self.observed(&source.spec.name, "ignored");
        self.record(&source.spec.name, Some(source), request_id, 200, "ignored", reason);
        event_type.map(str::to_string)
    }

    /// Queues a receipt for a request that created no event (fire-and-forget, see
    /// [`IntakeWriter::record`]).
    pub(super) fn record(
        &self,
        source_name: &str,
        source: Option<&Source>,
        request_id: &str,
        status: u16,
        outcome: &str,
        reason: String,
    ) {
        let source_id = source.map(|s| s.id.clone());
        self.record_at(
            now_micros(),
            source_name,
            source_id,
            request_id,
            status,
            outcome,
            reason,
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_at(
        &self,
        at: i64,
        source_name: &str,
        source_id: Option<String>,
        request_id: &str,
        status: u16,
        outcome: &str,
        reason: String,
    ) {
        let receipt = Receipt {
            id: new_id(IdKind::Receipt),
            at,
            source_name: source_name.chars().take(64).collect(),
            source_id,
            request_id: request_id.to_string(),
            status_code: i32::from(status),
            outcome: outcome.into(),
            reason: Some(reason),
            event_id: None,
        };
        self.writer.record(IntakeWrite::Receipt(receipt));
    }

    /// Records a handshake's receipt (no event) and passes the reply through.
    pub(super) fn handshake_done(&self, source: &Source, request_id: &str, reply: HandshakeReply) -> HandshakeReply {
        self.observed(&source.spec.name, "handshake");
        // Some handshakes (Graph's validation) carry no credentials: bound them like refusals.
        let recorded = self.record_bounded(
            &source.spec.name,
            Some(source),
            request_id,
            reply.status,
            "handshake",
            || reply.kind.to_string(),
        );
        if recorded {
            tracing::info!(request_id, source = %source.spec.name, kind = reply.kind, "handshake answered");
        }
        reply
    }

    /// What the caller is told; the same as the receipt's reason except where that would reveal
    /// more than the caller should know.
    pub fn public_message(err: &IntakeError) -> String {
        match err {
            IntakeError::Disabled => IntakeError::UnknownSource.to_string(),
            IntakeError::Storage(_) => "the event could not be stored; retry later".to_string(),
            other => other.to_string(),
        }
    }

    /// Records the receipt of a refused request (no body) and hands the error back.
    pub fn reject(
        &self,
        source_name: &str,
        source: Option<&Source>,
        request_id: &str,
        err: IntakeError,
    ) -> IntakeError {
        // An unknown name is attacker-chosen: it never becomes a label.
        match source {
            Some(s) => self.observed(&s.spec.name, err.code()),
            // No health sample for names that match no source: strangers' requests are no
            // source's failures.
            None => crate::metrics::intake("unknown", err.code()),
        }
        // A storage failure cannot be recorded in the storage that just failed.
        if matches!(err, IntakeError::Storage(_)) {
            tracing::warn!(request_id, source = source_name, reason = %err, "intake refused: storage unavailable");
            return err;
        }
        if self.record_bounded(source_name, source, request_id, err.status(), "rejected", || {
            err.to_string()
        }) {
            tracing::info!(
                request_id,
                source = source_name,
                status = err.status(),
                code = err.code(),
                reason = %err,
                "intake refused"
            );
        } else {
            tracing::debug!(
                request_id,
                source = source_name,
                status = err.status(),
                "intake refused (counted)"
            );
        }
        err
    }
}
