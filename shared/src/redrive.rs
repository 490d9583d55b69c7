//! Redriving the failure queue: which of its records to hand back to the sync function, and the
//! loop that does it over two ports — the queue ([`FailureQueue`]) and the asynchronous invoke
//! of the sync function ([`JobInvoker`]). `approvalctl redrive` runs it against SQS and Lambda;
//! the deterministic simulation runs it over its parked jobs.
//!
//! A record is trusted only for what its sender cannot forge: SQS's `SenderId`, which names the
//! principal that sent the message. Lambda's on-failure destination sends with the sync
//! functions' execution role, so every genuine record carries `<role id>:<session>`, where only
//! Lambda can start a session of that role (its trust policy names `lambda.amazonaws.com`);
//! anything else was planted, and stays in the queue with the reason ([`LeaveReason`]). What a
//! genuine record carries is a job someone invoked the sync function with: redrive hands it back
//! unchanged, byte for byte, and the sync function checks it again as it checks every invoke
//! (a decision's hand-off proof included). Jobs go back to the asynchronous sync function (where
//! they came from): they keep its bounded concurrency, Lambda's retries and the failure queue, so
//! one that fails again comes back as a new record.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The unique id of the sync functions' execution role (IAM's `RoleId`, e.g.
/// `AROA3XFRBF535PLBIFPI4`; the stack's `SyncRoleId` output). SQS reports the messages that
/// Lambda's on-failure destination sends as `SenderId` `<role id>:<session name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRoleId(String);

/// A text that is not an IAM unique id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not an IAM role id (16 to 128 of A-Z a-z 0-9 _, such as AROA3XFRBF535PLBIFPI4)")]
pub struct InvalidRoleId;

impl SyncRoleId {
    /// Parses an IAM unique id (what `aws iam get-role --query Role.RoleId` prints).
    pub fn parse(text: &str) -> Result<Self, InvalidRoleId> {
        let valid = (16..=128).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        valid.then(|| Self(text.to_owned())).ok_or(InvalidRoleId)
    }

    /// Whether a message with this `SenderId` was sent by a session of the role: the role id
    /// itself, or the role id, a colon and a session name.
    pub fn sent(&self, sender_id: &str) -> bool {
        sender_id
            .strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    }
}

impl FromStr for SyncRoleId {
    type Err = InvalidRoleId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for SyncRoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One message of the failure queue, as the queue port hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// The queue's id of the message.
    pub message_id: String,
    /// The handle that deletes or releases this receipt of it.
    pub receipt: String,
    /// The body: Lambda's on-failure record, when it is one.
    pub body: String,
    /// SQS's `SenderId` attribute, when the queue reported it.
    pub sender_id: Option<String>,
}

/// Lambda's on-failure record of an asynchronous invocation: the parts redrive reads.
#[derive(Debug)]
pub struct FailureRecord {
    /// Why Lambda gave up (`RetriesExhausted`, `EventAgeExceeded`).
    pub condition: Option<String>,
    /// How many times the function ran.
    pub invoke_count: Option<u32>,
    /// The job the function was invoked with.
    pub job: FailedJob,
    /// What the last run returned (`{"errorType","errorMessage"}`); `None` when it never ran.
    pub last_error: Option<Value>,
}

/// The job of a failure record: the JSON text Lambda recorded, handed back unchanged, and its
/// fields for showing what it is about.
#[derive(Debug)]
pub struct FailedJob {
    text: Box<RawValue>,
    fields: Map<String, Value>,
}

impl FailedJob {
    /// The job's JSON exactly as the record holds it.
    pub fn json(&self) -> &str {
        self.text.get()
    }

    /// The job's fields (`type`, `instance_id`, …).
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

/// The record's JSON, field names as Lambda writes them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordJson {
    #[serde(default)]
    request_context: RequestContextJson,
    request_payload: Box<RawValue>,
    #[serde(default)]
    response_payload: Option<Value>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContextJson {
    condition: Option<String>,
    approximate_invoke_count: Option<u32>,
}

impl FailureRecord {
    /// The record in a message body; `None` when the body is not a Lambda failure record of a
    /// JSON-object job.
    pub fn parse(body: &str) -> Option<Self> {
        let record: RecordJson = serde_json::from_str(body).ok()?;
        let fields = serde_json::from_str(record.request_payload.get()).ok()?;
        Some(Self {
            condition: record.request_context.condition,
            invoke_count: record.request_context.approximate_invoke_count,
            job: FailedJob {
                text: record.request_payload,
                fields,
            },
            last_error: record.response_payload,
        })
    }
}

/// Why a message stays in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    /// Its body is not a Lambda failure record of a JSON-object job.
    NotAFailureRecord,
    /// The queue did not say who sent it.
    UnknownSender,
    /// Someone other than the sync functions' on-failure destination sent it.
    ForeignSender {
        /// The message's `SenderId`.
        sender_id: String,
    },
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAFailureRecord => f.write_str("not a Lambda failure record"),
            Self::UnknownSender => {
                f.write_str("the queue did not report its SenderId: who sent it is unknown")
            }
            Self::ForeignSender { sender_id } => write!(
                f,
                "sent by {sender_id}, not by the sync functions' on-failure destination: \
                 planted or misrouted, never replayed"
            ),
        }
    }
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand its job back to the sync function, then delete it.
    Replay,
    /// Leave it in the queue.
    Leave(LeaveReason),
}

/// The verdict on `message` when `role` is the sync functions' role, with the record it holds
/// (parsed whatever the verdict, so that a planted one can be shown for what it claims).
pub fn judge(message: &QueuedMessage, role: &SyncRoleId) -> (Option<FailureRecord>, Verdict) {
    let record = FailureRecord::parse(&message.body);
    let verdict = match (&message.sender_id, &record) {
        (None, _) => Verdict::Leave(LeaveReason::UnknownSender),
        (Some(sender_id), _) if !role.sent(sender_id) => {
            Verdict::Leave(LeaveReason::ForeignSender {
                sender_id: sender_id.clone(),
            })
        }
        (Some(_), None) => Verdict::Leave(LeaveReason::NotAFailureRecord),
        (Some(_), Some(_)) => Verdict::Replay,
    };
    (record, verdict)
}

/// The failure queue, as redrive uses it.
pub trait FailureQueue {
    /// Why the queue could not be read or changed.
    type Error;

    /// Up to `max` (at most 10) visible messages with their `SenderId`, hidden from other
    /// consumers while this run handles them; empty when none is visible.
    fn receive(&self, max: usize) -> impl Future<Output = Result<Vec<QueuedMessage>, Self::Error>>;

    /// Deletes the message received with `receipt`.
    fn delete(&self, receipt: &str) -> impl Future<Output = Result<(), Self::Error>>;

    /// Makes the messages received with `receipts` visible again now.
    fn release(&self, receipts: &[String]) -> impl Future<Output = Result<(), Self::Error>>;
}

/// The asynchronous sync function, as redrive hands jobs to it.
pub trait JobInvoker {
    /// Why a job was not accepted.
    type Error: fmt::Display;

    /// Invokes the sync function asynchronously with `job` (JSON, sent as it is); `Ok` once
    /// the invoke is accepted.
    fn invoke_async(&self, job: &str) -> impl Future<Output = Result<(), Self::Error>>;
}

/// How a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveOptions {
    /// The most messages one run looks at.
    pub limit: usize,
    /// List the verdicts only: invoke and delete nothing.
    pub dry_run: bool,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `--dry-run`: it would be replayed.
    WouldReplay,
    /// Its job was handed back to the sync function, and it was deleted.
    Replayed,
    /// It stays in the queue (in a dry run too).
    Left(LeaveReason),
    /// The sync function did not accept its job; it stays in the queue.
    NotAccepted(String),
}

/// One message a run looked at.
#[derive(Debug)]
pub struct Handled {
    /// The queue's id of the message.
    pub message_id: String,
    /// Its `SenderId`.
    pub sender_id: Option<String>,
    /// The failure record it holds, when it holds one.
    pub record: Option<FailureRecord>,
    /// What became of it.
    pub outcome: Outcome,
}

impl Handled {
    /// Whether the message is still in the queue after the run.
    pub fn stays(&self) -> bool {
        !matches!(self.outcome, Outcome::Replayed)
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RedriveReport {
    /// Every message looked at, in order.
    pub handled: Vec<Handled>,
    /// Whether the run stopped at its limit (more messages may be waiting).
    pub limit_reached: bool,
}

impl RedriveReport {
    /// Messages whose job was handed back and which were deleted.
    pub fn replayed(&self) -> usize {
        self.handled.iter().filter(|h| !h.stays()).count()
    }

    /// Messages still in the queue.
    pub fn left(&self) -> usize {
        self.handled.iter().filter(|h| h.stays()).count()
    }
}

/// Redrives `queue`: judges each message (at most `options.limit`), hands the trusted ones'
/// jobs to `invoker` and deletes them once accepted, and leaves the rest, made visible again
/// before it returns. `observe` sees each message as it is handled. A queue error ends the run
/// (the messages kept so far are released first).
pub async fn redrive<Q, I>(
    queue: &Q,
    invoker: &I,
    role: &SyncRoleId,
    options: RedriveOptions,
    mut observe: impl FnMut(&Handled),
) -> Result<RedriveReport, Q::Error>
where
    Q: FailureQueue,
    I: JobInvoker,
{
    let mut report = RedriveReport::default();
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    let outcome = async {
        while report.handled.len() < options.limit {
            let batch = queue.receive(options.limit - report.handled.len()).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for message in batch {
                if !seen.insert(message.message_id.clone()) {
                    // Its visibility ran out while this run was busy: handled already.
                    kept.push(message.receipt);
                    continue;
                }
                let (record, verdict) = judge(&message, role);
                let outcome = match (verdict, options.dry_run) {
                    (Verdict::Leave(reason), _) => Outcome::Left(reason),
                    (Verdict::Replay, true) => Outcome::WouldReplay,
                    (Verdict::Replay, false) => {
                        let job = record.as_ref().map_or("", |r| r.job.json());
                        match invoker.invoke_async(job).await {
                            Ok(()) => {
                                queue.delete(&message.receipt).await?;
                                Outcome::Replayed
                            }
                            Err(error) => Outcome::NotAccepted(error.to_string()),
                        }
                    }
                };
                let handled = Handled {
                    message_id: message.message_id,
                    sender_id: message.sender_id,
                    record,
                    outcome,
                };
                if handled.stays() {
                    kept.push(message.receipt);
                }
                observe(&handled);
                report.handled.push(handled);
            }
        }
        report.limit_reached = true;
        Ok(())
    }
    .await;
    // Whatever happened, the messages that stay become visible again at once.
    let released = queue.release(&kept).await;
    outcome?;
    released?;
    Ok(report)
}

/// A failure queue in memory (tests, the simulation): messages are received in the order they
/// were added; a received message stays hidden until it is released or deleted.
#[derive(Debug, Default)]
pub struct InMemoryFailureQueue {
    state: Mutex<InMemoryState>,
}

#[derive(Debug, Default)]
struct InMemoryState {
    visible: VecDeque<QueuedMessage>,
    hidden: Vec<QueuedMessage>,
    next_id: u64,
}

/// The in-memory queue's error (it has none; the type says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the in-memory failure queue does not fail")]
pub enum InMemoryQueueError {}

impl InMemoryFailureQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a message with `body`, sent by `sender_id`; returns its message id.
    pub fn send(&self, body: impl Into<String>, sender_id: Option<&str>) -> String {
        let mut state = self.lock();
        state.next_id += 1;
        let message_id = format!("message-{}", state.next_id);
        state.visible.push_back(QueuedMessage {
            message_id: message_id.clone(),
            receipt: String::new(),
            body: body.into(),
            sender_id: sender_id.map(str::to_owned),
        });
        message_id
    }

    /// Every message in the queue, visible or not, in the order they were added.
    pub fn messages(&self) -> Vec<QueuedMessage> {
        let state = self.lock();
        let mut all: Vec<QueuedMessage> =
            state.visible.iter().chain(&state.hidden).cloned().collect();
        all.sort_by_key(|message| {
            message
                .message_id
                .trim_start_matches("message-")
                .parse::<u64>()
                .unwrap_or(u64::MAX)
        });
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InMemoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FailureQueue for InMemoryFailureQueue {
    type Error = InMemoryQueueError;

    async fn receive(&self, max: usize) -> Result<Vec<QueuedMessage>, Self::Error> {
        let mut state = self.lock();
        let mut batch = Vec::new();
        while batch.len() < max.min(10) {
            let Some(mut message) = state.visible.pop_front() else {
                break;
            };
            state.next_id += 1;
            message.receipt = format!("receipt-{}", state.next_id);
            state.hidden.push(message.clone());
            batch.push(message);
        }
        Ok(batch)
    }

    async fn delete(&self, receipt: &str) -> Result<(), Self::Error> {
        self.lock()
            .hidden
            .retain(|message| message.receipt != receipt);
        Ok(())
    }

    async fn release(&self, receipts: &[String]) -> Result<(), Self::Error> {
        let mut state = self.lock();
        let (released, hidden): (Vec<_>, Vec<_>) = std::mem::take(&mut state.hidden)
            .into_iter()
            .partition(|message| receipts.contains(&message.receipt));
        state.hidden = hidden;
        state.visible.extend(released);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    const ROLE: &str = "AROA3XFRBF535PLBIFPI4";

    fn role() -> SyncRoleId {
        SyncRoleId::parse(ROLE).unwrap()
    }

    /// Lambda's record of `job`, failed with a Feishu error.
    fn record(job: &str) -> String {
        format!(
            r#"{{"version":"1.0","timestamp":"2026-11-30T12:00:00.000Z",
            "requestContext":{{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:b-sync:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3}},
            "requestPayload":{job},
            "responseContext":{{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}},
            "responsePayload":{{"errorType":"FeishuTransient","errorMessage":"HTTP 500"}}}}"#
        )
    }

    fn message(body: &str, sender_id: Option<&str>) -> QueuedMessage {
        QueuedMessage {
            message_id: "m-1".to_owned(),
            receipt: "r-1".to_owned(),
            body: body.to_owned(),
            sender_id: sender_id.map(str::to_owned),
        }
    }

    const DECISION: &str = r#"{"type":"decision","instance_id":"PO-42","task_id":"cfo","action":"APPROVE","user_id":"u-cfo","message_id":7690275278685244603123,"reason":"预算内","proof":"b64=="}"#;

    #[test]
    fn role_ids_parse_and_match_their_sessions_only() {
        let role = role();
        for sender in [
            ROLE,
            "AROA3XFRBF535PLBIFPI4:approval-sync",
            "AROA3XFRBF535PLBIFPI4:awslambda_39_20161007224708400",
        ] {
            assert!(role.sent(sender), "{sender}");
        }
        for sender in [
            "AIDAIT2UOQQY3AUEKVGXU",
            "AROA3XFRBF535PLBIFPI4X:approval-sync",
            "AROA3XFRBF535PLBIFPI",
            "",
            ":AROA3XFRBF535PLBIFPI4",
        ] {
            assert!(!role.sent(sender), "{sender}");
        }
        for text in [
            "",
            "AROA",
            "arn:aws:iam::123456789012:role/sync",
            "AROA3XFRBF535PLBIFPI4:x",
            "AROA 3XFRBF535PLBIFPI4",
        ] {
            assert_eq!(SyncRoleId::parse(text), Err(InvalidRoleId), "{text}");
        }
        assert_eq!(ROLE.parse::<SyncRoleId>().unwrap().to_string(), ROLE);
    }

    #[test]
    fn the_verdict_table() {
        let own = Some("AROA3XFRBF535PLBIFPI4:b-sync");
        let genuine = record(DECISION);
        let not_a_record = r#"{"requestPayload":"text"}"#;
        let cases: [(&str, Option<&str>, Verdict); 6] = [
            (&genuine, own, Verdict::Replay),
            (&genuine, Some(ROLE), Verdict::Replay),
            (
                &genuine,
                Some("AIDAIT2UOQQY3AUEKVGXU"),
                Verdict::Leave(LeaveReason::ForeignSender {
                    sender_id: "AIDAIT2UOQQY3AUEKVGXU".to_owned(),
                }),
            ),
            (&genuine, None, Verdict::Leave(LeaveReason::UnknownSender)),
            (
                not_a_record,
                own,
                Verdict::Leave(LeaveReason::NotAFailureRecord),
            ),
            (
                "not json",
                own,
                Verdict::Leave(LeaveReason::NotAFailureRecord),
            ),
        ];
        for (body, sender, expected) in cases {
            let (_, verdict) = judge(&message(body, sender), &role());
            assert_eq!(verdict, expected, "{body} from {sender:?}");
        }
    }

    #[test]
    fn the_job_is_kept_byte_for_byte_and_a_planted_one_is_still_shown() {
        let (record, _) = judge(
            &message(&record(DECISION), Some("AIDA-intruder0000000")),
            &role(),
        );
        let record = record.expect("a record, planted or not");
        assert_eq!(record.job.json(), DECISION);
        assert_eq!(record.job.fields()["instance_id"], "PO-42");
        assert_eq!(record.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(record.invoke_count, Some(3));
        assert_eq!(record.last_error.unwrap()["errorType"], "FeishuTransient");
    }

    /// An invoker recording the jobs it accepts; refuses jobs containing `refuse`.
    #[derive(Default)]
    struct Invoker {
        accepted: RefCell<Vec<String>>,
        refuse: Option<&'static str>,
    }

    impl JobInvoker for Invoker {
        type Error = String;

        async fn invoke_async(&self, job: &str) -> Result<(), String> {
            if self.refuse.is_some_and(|text| job.contains(text)) {
                return Err("TooManyRequestsException: Rate exceeded".to_owned());
            }
            self.accepted.borrow_mut().push(job.to_owned());
            Ok(())
        }
    }

    fn run<Q: FailureQueue<Error = InMemoryQueueError>>(
        queue: &Q,
        invoker: &Invoker,
        options: RedriveOptions,
    ) -> RedriveReport {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut observed = 0;
        let report = runtime
            .block_on(redrive(queue, invoker, &role(), options, |_| observed += 1))
            .unwrap();
        assert_eq!(observed, report.handled.len());
        report
    }

    const ALL: RedriveOptions = RedriveOptions {
        limit: 1000,
        dry_run: false,
    };

    #[test]
    fn trusted_records_are_replayed_and_deleted_the_rest_stay_visible() {
        let queue = InMemoryFailureQueue::new();
        let own = Some("AROA3XFRBF535PLBIFPI4:b-sync");
        let instance = r#"{"type":"instance","instance":{"instance_id":"PO-7"}}"#;
        queue.send(record(DECISION), own);
        let planted = queue.send(record(DECISION), Some("AIDAEXAMPLEINTRUDER1"));
        queue.send(record(instance), own);
        let junk = queue.send("{}", own);
        let invoker = Invoker::default();

        let report = run(&queue, &invoker, ALL);

        assert_eq!(*invoker.accepted.borrow(), [DECISION, instance]);
        assert_eq!(
            (report.replayed(), report.left(), report.limit_reached),
            (2, 2, false)
        );
        let left: Vec<String> = queue.messages().into_iter().map(|m| m.message_id).collect();
        assert_eq!(left, [planted, junk]);
        // Both visible again: a second run sees them (and replays nothing).
        let again = run(&queue, &invoker, ALL);
        assert_eq!((again.replayed(), again.left()), (0, 2));
        assert_eq!(invoker.accepted.borrow().len(), 2);
    }

    #[test]
    fn a_dry_run_changes_nothing_and_a_refused_invoke_keeps_the_record() {
        let queue = InMemoryFailureQueue::new();
        let own = Some(ROLE);
        queue.send(record(DECISION), own);
        queue.send(record(r#"{"type":"message","message_id":"42"}"#), own);
        let invoker = Invoker {
            refuse: Some("PO-42"),
            ..Invoker::default()
        };
        let dry = run(
            &queue,
            &invoker,
            RedriveOptions {
                limit: 1000,
                dry_run: true,
            },
        );
        assert!(
            dry.handled
                .iter()
                .all(|h| h.outcome == Outcome::WouldReplay)
        );
        assert!(invoker.accepted.borrow().is_empty());
        assert_eq!(queue.messages().len(), 2);

        let report = run(&queue, &invoker, ALL);
        assert_eq!(
            report.handled[0].outcome,
            Outcome::NotAccepted("TooManyRequestsException: Rate exceeded".to_owned())
        );
        assert_eq!(report.handled[1].outcome, Outcome::Replayed);
        assert_eq!(queue.messages().len(), 1);
    }

    #[test]
    fn the_limit_stops_the_run_and_says_so() {
        let queue = InMemoryFailureQueue::new();
        for _ in 0..25 {
            queue.send(record(DECISION), Some(ROLE));
        }
        let invoker = Invoker::default();
        let report = run(
            &queue,
            &invoker,
            RedriveOptions {
                limit: 12,
                dry_run: false,
            },
        );
        assert_eq!((report.replayed(), report.limit_reached), (12, true));
        assert_eq!(queue.messages().len(), 13);
    }

    #[test]
    fn a_message_seen_twice_in_one_run_is_handled_once() {
        /// A queue whose first message becomes visible again while the run is busy (its
        /// visibility timeout ran out).
        struct Redelivering {
            inner: InMemoryFailureQueue,
            redelivered: RefCell<bool>,
        }
        impl FailureQueue for Redelivering {
            type Error = InMemoryQueueError;
            async fn receive(&self, max: usize) -> Result<Vec<QueuedMessage>, Self::Error> {
                let mut batch = self.inner.receive(max.min(1)).await?;
                if !self.redelivered.replace(true) {
                    let mut again = batch[0].clone();
                    again.receipt = "second-receipt".to_owned();
                    batch.push(again);
                }
                Ok(batch)
            }
            async fn delete(&self, receipt: &str) -> Result<(), Self::Error> {
                self.inner.delete(receipt).await
            }
            async fn release(&self, receipts: &[String]) -> Result<(), Self::Error> {
                self.inner.release(receipts).await
            }
        }
        let queue = Redelivering {
            inner: InMemoryFailureQueue::new(),
            redelivered: RefCell::new(false),
        };
        queue.inner.send(record(DECISION), Some(ROLE));
        let invoker = Invoker::default();
        let report = run(&queue, &invoker, ALL);
        assert_eq!(report.handled.len(), 1);
        assert_eq!(invoker.accepted.borrow().len(), 1);
    }
}
