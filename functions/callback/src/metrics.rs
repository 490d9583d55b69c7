//! The callback's metrics: one EMF document per callback on standard output (see
//! `feishu_bridge::metrics`), written after the answer is decided.
//!
//! - `Callbacks` (Count) by `Outcome` and `Status`, by `Status`, and by `StatusClass` (`2xx`,
//!   `4xx`, `5xx`): alarms watch `5xx` and `401`; a stale tap (409, outcome `stale_tap`) is an
//!   ordinary `4xx`, handed off like an accepted one, never a failure;
//! - `Callbacks` by `Lookup` too, when the look-up ran: `refused` (answered 409), `allowed`,
//!   `unknown` (an instance the bridge never saw), `failed` (answered as without it);
//! - `Callbacks` by `CallbackPair` too, once a callback authenticated: `current`, or `previous`
//!   for one made under the token and key before a rotation still in progress (drop the previous
//!   pair once these stop);
//! - an encrypted callback with no callback key configured is `401` with its own `Outcome`,
//!   `encryption_not_configured`: the secret lacks `callback_key` (an alarm of its own);
//! - `CallbackLatency` (Milliseconds), over all callbacks and by `StatusClass`.
//!
//! The request id, trace id, the decision's ids and the look-up's verdict (`lookup_verdict`:
//! `accept`, `duplicate` or a refusal's reason code) are properties, never dimensions.

use std::sync::OnceLock;
use std::time::Duration;

use aws_lambda_events::http::StatusCode;
use feishu_bridge::callback::ApprovalDecision;
use feishu_bridge::metrics::{EmfDocument, EmfEmitter, Metric};
use feishu_bridge::secrets::PairInUse;

use crate::handler::{CallbackRequest, Outcome};
use crate::lookup::LookupOutcome;

/// The emitter installed by `main`; without one (tests, benches) nothing is written.
static EMITTER: OnceLock<EmfEmitter> = OnceLock::new();

/// Makes every later callback write its document with `emitter`. Only the first call counts.
pub fn install(emitter: EmfEmitter) {
    let _already_installed = EMITTER.set(emitter);
}

/// What a callback found on its way, beside its outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct Found<'a> {
    /// What its look-up found (none: it did not run).
    pub lookup: Option<&'a LookupOutcome>,
    /// The pair it authenticated under (none: it did not).
    pub pair: Option<PairInUse>,
}

/// Writes the document of one callback, if an emitter is installed.
pub fn record_callback(
    request: &CallbackRequest<'_>,
    decision: Option<&ApprovalDecision>,
    outcome: &Outcome,
    found: Found<'_>,
    latency: Duration,
) {
    if let Some(emitter) = EMITTER.get() {
        emitter.emit(&[callback_document(
            request, decision, outcome, found, latency,
        )]);
    }
}

/// The dimension sets `Callbacks` is counted by, with the look-up's and the pair's when known.
fn counted_by(lookup: bool, pair: bool) -> &'static [&'static [&'static str]] {
    match (lookup, pair) {
        (false, false) => &[&["Outcome", "Status"], &["Status"], &["StatusClass"]],
        (true, false) => &[
            &["Outcome", "Status"],
            &["Status"],
            &["StatusClass"],
            &["Lookup"],
        ],
        (false, true) => &[
            &["Outcome", "Status"],
            &["Status"],
            &["StatusClass"],
            &["CallbackPair"],
        ],
        (true, true) => &[
            &["Outcome", "Status"],
            &["Status"],
            &["StatusClass"],
            &["Lookup"],
            &["CallbackPair"],
        ],
    }
}

/// The document of one callback that ended with `outcome` after `latency`, with what it found
/// on its way.
pub fn callback_document(
    request: &CallbackRequest<'_>,
    decision: Option<&ApprovalDecision>,
    outcome: &Outcome,
    found: Found<'_>,
    latency: Duration,
) -> EmfDocument {
    let Found { lookup, pair } = found;
    let status = outcome.status();
    let mut document = EmfDocument::new()
        .dimension("Outcome", outcome.label())
        .dimension("Status", status.as_str())
        .dimension("StatusClass", status_class(status));
    if let Some(lookup) = lookup {
        document = document.dimension("Lookup", lookup.label());
    }
    if let Some(pair) = pair {
        document = document.dimension("CallbackPair", pair.as_str());
    }
    document = document.metrics(
        counted_by(lookup.is_some(), pair.is_some()),
        [Metric::count("Callbacks", 1)],
    );
    let verdict = match lookup {
        Some(LookupOutcome::Allowed { verdict }) => Some(*verdict),
        Some(LookupOutcome::Refused(stale)) => Some(stale.reason()),
        _ => None,
    };
    document
        .optional_property("lookup_verdict", verdict)
        .metrics(
            &[&[], &["StatusClass"]],
            [Metric::millis("CallbackLatency", [latency])],
        )
        .optional_property("request_id", request.request_id)
        .optional_property("trace_id", request.trace_id)
        .optional_property(
            "approval_code",
            decision.map(|decision| decision.approval_code.as_str()),
        )
        .optional_property(
            "instance_id",
            decision.and_then(|decision| decision.instance_id.as_deref()),
        )
        .optional_property(
            "task_id",
            decision.and_then(|decision| decision.task_id.as_deref()),
        )
        .optional_property(
            "message_id",
            decision.and_then(|decision| decision.message_id.as_ref().map(|id| id.as_str())),
        )
        .optional_property("action", decision.map(|decision| decision.action.as_str()))
}

/// `2xx`, `4xx` or `5xx` (`other` for anything else, which the handler never answers).
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::http::Method;
    use feishu_bridge::callback::CallbackBody;
    use serde_json::Value;
    use testkit::check_emf_document;

    use super::*;
    use crate::handler::CallbackFailure;

    const PLAINTEXT_APPROVE: &str = include_str!("../tests/fixtures/plaintext-approve.json");

    /// The fixture's body.
    fn body() -> String {
        let event: Value = serde_json::from_str(PLAINTEXT_APPROVE).unwrap();
        event["body"].as_str().unwrap().to_owned()
    }

    /// The fixture's request, as Lambda hands it over (with a request and a trace id).
    fn request(body: &str) -> CallbackRequest<'_> {
        CallbackRequest {
            method: &Method::POST,
            body,
            body_is_base64: false,
            request_id: Some("req-1"),
            trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793"),
        }
    }

    /// The decision of the fixture's body.
    fn decision(body: &str) -> ApprovalDecision {
        match CallbackBody::parse(body.as_bytes()).unwrap() {
            CallbackBody::Plain(callback) => callback.into_decision().unwrap(),
            CallbackBody::Encrypted(_) => panic!("the fixture is plaintext"),
        }
    }

    /// The document as CloudWatch reads it, checked against the EMF specification.
    fn rendered(document: &EmfDocument) -> Value {
        let emitter = EmfEmitter::from_lookup(|_| None).unwrap();
        let line = emitter.render(std::slice::from_ref(document), 1_795_312_345_678);
        assert_eq!(line.last(), Some(&b'\n'), "one line");
        let json: Value = serde_json::from_slice(&line).unwrap();
        if let Err(problems) = check_emf_document(&json) {
            panic!("not a valid EMF document: {problems:?}\n{json}");
        }
        json
    }

    #[test]
    fn an_accepted_callback_counts_as_200_with_its_ids_as_properties() {
        let body = body();
        let request = request(&body);
        let decision = decision(&body);
        let json = rendered(&callback_document(
            &request,
            Some(&decision),
            &Outcome::Accepted,
            Found {
                lookup: None,
                pair: Some(PairInUse::Previous),
            },
            Duration::from_micros(2_500),
        ));
        assert_eq!(json["Outcome"], "accepted");
        assert_eq!(json["Status"], "200");
        assert_eq!(json["StatusClass"], "2xx");
        assert_eq!(json["Callbacks"], 1.0);
        assert_eq!(json["CallbackLatency"], 2.5);
        assert_eq!(json["request_id"], "req-1");
        assert_eq!(json["trace_id"], "Root=1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(json["instance_id"], "people_1234");
        assert_eq!(json["task_id"], "step1");
        assert_eq!(json["message_id"], "7690275278685244603");
        assert_eq!(json["action"], "APPROVE");
        assert!(json.get("Lookup").is_none(), "no look-up, no dimension");
        assert_eq!(
            json["CallbackPair"], "previous",
            "a callback under the pair before a rotation is counted so"
        );
        let dimensions = json["_aws"]["CloudWatchMetrics"].to_string();
        for id in [
            "request_id",
            "trace_id",
            "instance_id",
            "task_id",
            "message_id",
        ] {
            assert!(!dimensions.contains(id), "{id} must not be a dimension");
        }
    }

    #[test]
    fn failures_count_by_outcome_status_and_class() {
        let body = body();
        let request = request(&body);
        let cases = [
            (CallbackFailure::BadToken, "bad_token", "401", "4xx"),
            (
                CallbackFailure::DeadlineExceeded(Duration::from_secs(3)),
                "deadline_exceeded",
                "504",
                "5xx",
            ),
            // Misconfiguration, not an outage: its own outcome, not the 5xx alarm's.
            (
                CallbackFailure::EncryptionNotConfigured,
                "encryption_not_configured",
                "401",
                "4xx",
            ),
        ];
        for (failure, outcome, status, class) in cases {
            let json = rendered(&callback_document(
                &request,
                None,
                &Outcome::Failed(failure),
                Found::default(),
                Duration::ZERO,
            ));
            assert_eq!(json["Outcome"], outcome);
            assert_eq!(json["Status"], status);
            assert_eq!(json["StatusClass"], class);
            assert!(json.get("instance_id").is_none(), "no decision, no ids");
            assert!(json.get("CallbackPair").is_none(), "not authenticated");
        }
    }

    #[test]
    fn a_stale_tap_is_its_own_4xx_outcome_counted_by_lookup_with_its_reason_as_property() {
        use feishu_bridge::lifecycle::{Judgement, Refusal};
        use feishu_bridge::models::instance::{InstanceStatus, TaskStatus};
        use feishu_bridge::models::time::UnixMillis;
        use feishu_bridge::store::TapJudgement;

        let body = body();
        let request = request(&body);
        let stale = crate::lookup::StaleTap::from_judgement(&TapJudgement {
            judgement: Judgement::Refuse(Refusal::TaskNotPending {
                status: TaskStatus::Approved,
            }),
            task_version: UnixMillis::ZERO,
            task_status: Some(TaskStatus::Approved),
            instance_status: InstanceStatus::Pending,
        })
        .expect("a task already approved is a stale tap");
        let lookup = LookupOutcome::Refused(stale.clone());
        let json = rendered(&callback_document(
            &request,
            Some(&decision(&body)),
            &Outcome::StaleTap(stale),
            Found {
                lookup: Some(&lookup),
                pair: Some(PairInUse::Current),
            },
            Duration::from_millis(12),
        ));
        assert_eq!(json["Outcome"], "stale_tap");
        assert_eq!(json["Status"], "409");
        assert_eq!(
            json["StatusClass"], "4xx",
            "not a failure the 5xx alarm counts"
        );
        assert_eq!(json["Lookup"], "refused");
        assert_eq!(json["lookup_verdict"], "task_not_pending");
        let directive = &json["_aws"]["CloudWatchMetrics"][0];
        assert!(
            directive["Dimensions"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(["Lookup"])),
            "{directive}"
        );

        let failed = LookupOutcome::Failed(crate::lookup::LookupError::TimedOut(
            Duration::from_millis(500),
        ));
        let json = rendered(&callback_document(
            &request,
            Some(&decision(&body)),
            &Outcome::Accepted,
            Found {
                lookup: Some(&failed),
                pair: Some(PairInUse::Current),
            },
            Duration::from_millis(501),
        ));
        assert_eq!(
            (json["Status"].as_str(), json["Lookup"].as_str()),
            (Some("200"), Some("failed"))
        );
        assert!(json.get("lookup_verdict").is_none());
    }
}
