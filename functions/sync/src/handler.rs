//! The job handler: parses the invocation payload into a [`SyncJob`] and runs it against a
//! [`SyncService`] within its deadline.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use feishu_bridge::job::{
    DecisionJob, InstanceJob, MessageJob, ReconcileFields, ReconcileJob, SyncJob,
};
use feishu_bridge::metrics::JobOutcome;
use feishu_bridge::store::InstanceStore;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::SyncError;
use crate::events::EventPublisher;
use crate::service::{Deadlines, SyncService};
use crate::summary::{DecisionOutcome, InstanceOutcome, SyncSummary};
use crate::{decision_job, instance_job, message_job, reconcile_job};

/// Parses an invocation payload into a job. The error names the problem (a missing or unknown
/// `type`, a missing field, the path of an invalid field) without quoting the payload.
pub fn parse_job(payload: Value) -> Result<SyncJob, SyncError> {
    let kind = match payload.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err(invalid("`type` must be a string")),
        None if payload.is_object() => {
            return Err(invalid(
                "the job has no `type` (expected `decision`, `instance`, `message` or `reconcile`)",
            ));
        }
        None => return Err(invalid("the job must be a JSON object")),
    };
    match kind.as_str() {
        "decision" => parse_body::<DecisionJob>(&kind, payload).map(SyncJob::Decision),
        "instance" => {
            parse_body::<InstanceJob>(&kind, payload).map(|job| SyncJob::Instance(Box::new(job)))
        }
        "message" => parse_body::<MessageJob>(&kind, payload).map(SyncJob::Message),
        "reconcile" => {
            let fields = parse_body::<ReconcileFields>(&kind, payload)?;
            ReconcileJob::try_from(fields)
                .map(SyncJob::Reconcile)
                .map_err(|problem| invalid(&format!("`reconcile` job: {problem}")))
        }
        _ => Err(invalid(
            "unknown job `type` (expected `decision`, `instance`, `message` or `reconcile`)",
        )),
    }
}

/// Deserializes the body of a `kind` job, describing failures by field path.
fn parse_body<T: DeserializeOwned>(kind: &str, payload: Value) -> Result<T, SyncError> {
    serde_path_to_error::deserialize(payload).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // serde's text can quote input values; only the parts naming fields and types are kept.
        let problem = if message.starts_with("missing field") {
            message
        } else if let Some((_, expected)) = message.rsplit_once(", expected ") {
            format!("invalid value, expected {expected}")
        } else {
            "invalid value".to_owned()
        };
        if path == "." {
            invalid(&format!("`{kind}` job: {problem}"))
        } else {
            invalid(&format!("`{kind}` job, field `{path}`: {problem}"))
        }
    })
}

fn invalid(problem: &str) -> SyncError {
    SyncError::InvalidJob(problem.to_owned())
}

/// The deadlines of one job started now: its budget for Feishu calls (`SYNC_DEADLINE_MS`, cut
/// to the invocation's remaining time minus the margin) and the hard stop half a margin later,
/// by which it has recorded what it did. Leases end at the hard stop, so none outlives its job.
pub fn job_deadlines(
    budget: Duration,
    margin: Duration,
    invocation_deadline: Option<Instant>,
) -> Deadlines {
    let now = Instant::now();
    let mut calls = now + budget;
    let mut stop = calls + margin / 2;
    if let Some(invocation) = invocation_deadline {
        calls = calls.min(invocation.checked_sub(margin).unwrap_or(now).max(now));
        stop = (calls + margin / 2).min(invocation.max(now));
    }
    Deadlines { calls, stop }
}

/// How a job ended, for the job metrics.
pub fn job_outcome(result: &Result<SyncSummary, SyncError>) -> JobOutcome {
    match result {
        Err(_) => JobOutcome::Failed,
        Ok(SyncSummary::Decision(summary)) => match summary.outcome {
            DecisionOutcome::Applied => JobOutcome::Applied,
            DecisionOutcome::Duplicate => JobOutcome::Duplicate,
            DecisionOutcome::Refused => JobOutcome::Refused,
        },
        Ok(SyncSummary::Instance(summary)) => match summary.outcome {
            InstanceOutcome::Synced => JobOutcome::Applied,
            InstanceOutcome::Stale => JobOutcome::Stale,
        },
        Ok(SyncSummary::Message(_) | SyncSummary::Reconcile(_)) => JobOutcome::Applied,
    }
}

/// The metric properties of a job: its type and the ids it names (never dimensions).
pub fn job_properties(job: &SyncJob) -> Vec<(&'static str, String)> {
    let mut properties = Vec::new();
    match job {
        SyncJob::Decision(job) => {
            let decision = &job.decision;
            properties.push(("approval_code", decision.approval_code.clone()));
            properties.extend(decision.instance_id.clone().map(|id| ("instance_id", id)));
            properties.extend(decision.task_id.clone().map(|id| ("task_id", id)));
            properties.extend(
                decision
                    .message_id
                    .as_ref()
                    .map(|id| ("message_id", id.to_string())),
            );
            properties.extend(job.delivery_id.clone().map(|id| ("delivery_id", id)));
        }
        SyncJob::Instance(job) => {
            properties.push(("approval_code", job.instance.approval_code.clone()));
            properties.push(("instance_id", job.instance.instance_id.clone()));
        }
        SyncJob::Message(job) => {
            properties.push(("message_id", job.update.message_id.to_string()));
        }
        SyncJob::Reconcile(_) => {}
    }
    properties
}

/// The `type` of a job.
pub fn job_type(job: &SyncJob) -> &'static str {
    match job {
        SyncJob::Decision(_) => "decision",
        SyncJob::Instance(_) => "instance",
        SyncJob::Message(_) => "message",
        SyncJob::Reconcile(_) => "reconcile",
    }
}

/// Deadlines before this (2001-09-09) are not Unix times: `cargo lambda watch` sends the
/// function's timeout (`600000`) where Lambda sends the invocation's deadline.
const EARLIEST_UNIX_DEADLINE_MS: u64 = 1_000_000_000_000;

/// The time left until the runtime's deadline `deadline_ms` (Unix ms, `lambda-runtime-deadline-ms`)
/// at `now_ms`; `None` when the runtime gave no Unix time.
pub fn remaining_time(deadline_ms: u64, now_ms: u64) -> Option<Duration> {
    (deadline_ms >= EARLIEST_UNIX_DEADLINE_MS)
        .then(|| Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

/// Runs one job within its deadlines (see [`job_deadlines`]; `invocation_deadline` is when
/// Lambda ends the invocation, if it runs in one) and logs its summary or failure.
pub async fn handle_job<S, P>(
    job: SyncJob,
    service: &SyncService<S, P>,
    invocation_deadline: Option<Instant>,
) -> Result<SyncSummary, SyncError>
where
    S: InstanceStore,
    P: EventPublisher,
{
    let settings = service.settings();
    let budget = match &job {
        SyncJob::Reconcile(_) => settings.reconcile.deadline,
        _ => settings.deadline,
    };
    let deadlines = job_deadlines(budget, settings.deadline_margin, invocation_deadline);
    let (kind, span) = match &job {
        SyncJob::Decision(_) => ("decision", tracing::info_span!("job", kind = "decision")),
        SyncJob::Instance(job) => (
            "instance",
            tracing::info_span!("job", kind = "instance", instance_id = %job.instance.instance_id),
        ),
        SyncJob::Message(job) => (
            "message",
            tracing::info_span!("job", kind = "message", message_id = %job.update.message_id),
        ),
        SyncJob::Reconcile(_) => ("reconcile", tracing::info_span!("job", kind = "reconcile")),
    };
    // Boxed: the job futures are deep, and the runtime nests them further.
    let run: Pin<Box<dyn Future<Output = Result<SyncSummary, SyncError>> + Send + '_>> = match job {
        SyncJob::Decision(job) => Box::pin(async move {
            decision_job::handle_decision(service, job, deadlines)
                .await
                .map(SyncSummary::Decision)
        }),
        SyncJob::Instance(job) => Box::pin(async move {
            instance_job::handle_instance(service, *job, deadlines)
                .await
                .map(SyncSummary::Instance)
        }),
        SyncJob::Message(job) => Box::pin(async move {
            message_job::handle_message(service, job, deadlines.calls)
                .await
                .map(SyncSummary::Message)
        }),
        SyncJob::Reconcile(job) => Box::pin(async move {
            reconcile_job::handle_reconcile(service, job, deadlines)
                .await
                .map(|summary| SyncSummary::Reconcile(Box::new(summary)))
        }),
    };
    let result = match tokio::time::timeout_at(deadlines.stop, run.instrument(span)).await {
        Ok(result) => result,
        Err(_) => Err(SyncError::DeadlineExceeded(budget)),
    };
    match &result {
        Ok(summary) => {
            let summary = serde_json::to_string(summary).unwrap_or_default();
            tracing::info!(job = kind, %summary, "job done");
        }
        Err(error) => tracing::error!(
            job = kind,
            error_type = error.error_type(),
            retryable = error.is_retryable(),
            %error,
            "job failed"
        ),
    }
    result
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(payload: Value) -> String {
        match parse_job(payload) {
            Err(SyncError::InvalidJob(message)) => message,
            other => panic!("expected InvalidJob, got {other:?}"),
        }
    }

    #[test]
    fn jobs_are_measured_by_type_and_outcome_with_their_ids_as_properties() {
        let job = parse_job(json!({
            "type": "decision", "approval_code": "C", "instance_id": "i-1", "task_id": "t1",
            "action": "APPROVE", "user_id": "u", "received_at": "1", "delivery_id": "req-1"
        }))
        .unwrap();
        assert_eq!(job_type(&job), "decision");
        let properties = job_properties(&job);
        assert!(properties.contains(&("instance_id", "i-1".to_owned())));
        assert!(properties.contains(&("delivery_id", "req-1".to_owned())));
        let failed: Result<SyncSummary, SyncError> = Err(invalid("x"));
        assert_eq!(job_outcome(&failed), JobOutcome::Failed);
    }

    #[test]
    fn the_job_budget_follows_the_invocation() {
        let now_ms = 1_800_000_000_000;
        assert_eq!(
            remaining_time(now_ms + 7_000, now_ms),
            Some(Duration::from_secs(7))
        );
        assert_eq!(remaining_time(now_ms - 5, now_ms), Some(Duration::ZERO));
        assert_eq!(
            remaining_time(600_000, now_ms),
            None,
            "a timeout, not a time"
        );

        let budget = Duration::from_secs(20);
        let margin = Duration::from_secs(2);
        let start = Instant::now();
        // A long invocation: the configured budget.
        let long = job_deadlines(budget, margin, Some(start + Duration::from_secs(60)));
        assert!(long.calls >= start + budget && long.calls <= Instant::now() + budget);
        assert_eq!(long.stop, long.calls + margin / 2);
        // 5 s left: the calls end 2 s before the invocation, the bookkeeping 1 s before.
        let short = job_deadlines(budget, margin, Some(start + Duration::from_secs(5)));
        assert_eq!(short.calls, start + Duration::from_secs(3));
        assert_eq!(short.stop, start + Duration::from_secs(4));
        // Less than the margin left: no time for calls, a stop before the invocation ends.
        let none = job_deadlines(budget, margin, Some(start + Duration::from_secs(1)));
        assert!(none.calls <= Instant::now());
        assert!(none.stop <= (start + Duration::from_secs(1)).max(Instant::now()));
    }

    #[test]
    fn parses_each_job_type() {
        let job = parse_job(json!({
            "type": "message", "message_id": "7690275278685244603", "status": "APPROVED"
        }))
        .unwrap();
        assert!(matches!(job, SyncJob::Message(_)));
    }

    #[test]
    fn names_a_missing_or_unknown_type() {
        assert!(message(json!({"instance": {}})).contains("no `type`"));
        assert!(message(json!({"type": "decisions"})).contains("unknown job `type`"));
        assert!(message(json!({"type": 3})).contains("must be a string"));
        assert!(message(json!([1, 2])).contains("JSON object"));
    }

    #[test]
    fn names_the_invalid_field_without_quoting_its_value() {
        let text = message(json!({
            "type": "instance",
            "instance": {
                "approval_code": "CODE", "status": "PENDING", "instance_id": "i-1",
                "links": {"pc_link": "https://example.com"},
                "start_time": "secret-looking-value", "end_time": "0", "update_time": "1"
            }
        }));
        assert!(text.contains("instance.start_time"), "{text}");
        assert!(!text.contains("secret-looking-value"), "{text}");
        let text = message(json!({"type": "message", "status": "APPROVED"}));
        assert!(text.contains("missing field `message_id`"), "{text}");
    }
}
