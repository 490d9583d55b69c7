//! The early look-up: before answering, the callback reads the instance's records (read-only)
//! and judges the tap with the sync step's own rules ([`feishu_bridge::lifecycle::judge`],
//! through [`InstanceRecords::judge_tap`]), so an approver tapping a task already handled or an
//! instance already withdrawn is told so (409) instead of seeing success.
//!
//! The look-up never decides whether a decision is handed off (every authenticated decision is)
//! and never fails a callback: it runs alongside the hand-off within its own short budget
//! ([`lookup_budget`]), and whatever goes wrong (timeout, store error, unreadable record) leaves
//! the answer the callback would give without it. Only refusals the tap can never overcome are
//! answered early ([`StaleTap`]); everything else is left to the sync step, which judges again
//! (the authority: its verdict is what the events report).
//!
//! A tap by someone who is not the task's approver gets one answer whatever the task's state
//! (the lifecycle judges the approver first): it tells a stranger neither that the task was
//! handled, withdrawn or transferred, nor — with a success — that they repeated its decision.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use feishu_bridge::callback::ApprovalDecision;
use feishu_bridge::ids::MessageId;
use feishu_bridge::lifecycle::{Judgement, Refusal};
use feishu_bridge::models::instance::{InstanceStatus, TaskStatus};
use feishu_bridge::store::dynamodb::DynamoDbStore;
use feishu_bridge::store::{
    CardRef, InstanceReader, InstanceRecords, ResolveError, StoreError, TapJudgement,
    resolve_target,
};
use tokio::time::Instant;

/// The share of the callback's deadline the look-up may take: 500 ms of the default 3 s. It
/// runs while the hand-off does, so it delays an answer only when it is the slower of the two.
const LOOKUP_SHARE: u32 = 6;

/// Wait before the one retry of a failed DynamoDB request, as the hand-off's.
const RETRY_BACKOFF: Duration = Duration::from_millis(25);

/// How long the look-up of a callback with internal deadline `deadline` may take.
pub fn lookup_budget(deadline: Duration) -> Duration {
    deadline / LOOKUP_SHARE
}

/// The instance table as the look-up reads it: `GetItem` (the card index, the head) and `Query`
/// (the instance's records) through the DynamoDB adapter, from `sdk_config` (the secrets
/// client's: one TLS stack, one credentials chain). Every request is bounded by `budget`, in at
/// most two attempts.
pub fn dynamodb_records(
    sdk_config: &aws_config::SdkConfig,
    table_name: String,
    budget: Duration,
) -> DynamoDbStore {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk_config)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(budget)
                .operation_timeout(budget)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(RETRY_BACKOFF),
        )
        .build();
    DynamoDbStore::new(aws_sdk_dynamodb::Client::from_conf(config), table_name)
}

/// A tap the sync step is certain to refuse and that no retry can change: its task or instance
/// is no longer pending, it was made on a version of the task the company has re-opened since,
/// or it is not the approver's. Answered 409 with a text the approver reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTap {
    refusal: Refusal,
    instance_status: InstanceStatus,
}

impl StaleTap {
    /// The stale tap a judgement describes; `None` for a verdict answered normally: accepted,
    /// a duplicate (Feishu's retries and double taps get the usual success), or a refusal the
    /// sync step reports instead (`task_not_found`, `approval_code_mismatch`: not a state the
    /// approver can see, but a mismatch an operator looks into).
    pub fn from_judgement(judged: &TapJudgement) -> Option<Self> {
        match &judged.judgement {
            Judgement::Refuse(
                refusal @ (Refusal::TaskNotPending { .. }
                | Refusal::InstanceNotPending { .. }
                | Refusal::StaleTaskVersion
                | Refusal::NotTheApprover),
            ) => Some(Self {
                refusal: refusal.clone(),
                instance_status: judged.instance_status.clone(),
            }),
            Judgement::Refuse(Refusal::TaskNotFound | Refusal::ApprovalCodeMismatch)
            | Judgement::Accept
            | Judgement::Duplicate => None,
        }
    }

    /// The refusal's reason code (`task_not_pending`, `instance_not_pending`,
    /// `stale_task_version`, `not_the_approver`).
    pub fn reason(&self) -> &'static str {
        self.refusal.code()
    }

    /// What Feishu shows the approver, in Chinese and English. Someone other than the approver
    /// gets one text whatever the state; for the approver, the instance's withdrawal or deletion
    /// first (it explains a task the company closed with it), then the task's state or version,
    /// then the instance's end.
    pub fn message(&self) -> &'static str {
        match (&self.instance_status, &self.refusal) {
            (_, Refusal::NotTheApprover) => {
                "你不是该审批任务的审批人 / You are not the approver of this task"
            }
            (InstanceStatus::Canceled, _) => "该审批已撤回 / This request was withdrawn",
            (InstanceStatus::Deleted | InstanceStatus::Hidden, _) => {
                "该审批已删除 / This request was deleted"
            }
            (
                _,
                Refusal::TaskNotPending {
                    status: TaskStatus::Transferred,
                },
            ) => "该审批已转交他人处理 / This task was transferred to someone else",
            (_, Refusal::TaskNotPending { .. }) => {
                "该审批已处理，无需重复操作 / This task has already been handled"
            }
            (_, Refusal::StaleTaskVersion) => {
                "该审批已更新，请刷新后重新处理 / This task has changed; refresh it and act again"
            }
            _ => "该审批已结束，无需操作 / This request has already been completed",
        }
    }
}

/// What the look-up found.
#[derive(Debug)]
pub enum LookupOutcome {
    /// The tap can never succeed: answer 409.
    Refused(StaleTap),
    /// The records allow the usual answer: the decision is accepted or a duplicate, or a refusal
    /// the sync step reports (`verdict` names which).
    Allowed {
        /// `accept`, `duplicate`, or the refusal's reason code.
        verdict: &'static str,
    },
    /// The bridge never saw the instance (no records, or a card it does not know): the company's
    /// system judges the decision.
    Unknown,
    /// The look-up failed or ran out of time: the usual answer.
    Failed(LookupError),
}

impl LookupOutcome {
    /// A stable, low-cardinality label for logs and metrics: `refused`, `allowed`, `unknown`,
    /// `failed`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Refused(_) => "refused",
            Self::Allowed { .. } => "allowed",
            Self::Unknown => "unknown",
            Self::Failed(_) => "failed",
        }
    }
}

/// Why the look-up could not tell.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The records (or the card index) could not be read, or a record is unreadable.
    #[error("the instance records could not be read")]
    Store(#[source] StoreError),
    /// The look-up's budget passed first.
    #[error("the look-up did not finish within its budget of {0:?}")]
    TimedOut(Duration),
}

/// Looks `decision` up in `records` and judges it, giving up by `deadline` (`budget` is only
/// reported). Never fails: a failure is [`LookupOutcome::Failed`].
pub async fn look_up<R: InstanceReader>(
    records: &R,
    decision: &ApprovalDecision,
    deadline: Instant,
    budget: Duration,
) -> LookupOutcome {
    match tokio::time::timeout_at(deadline, judge(records, decision)).await {
        Ok(Ok(Some(judged))) => match StaleTap::from_judgement(&judged) {
            Some(stale) => LookupOutcome::Refused(stale),
            None => LookupOutcome::Allowed {
                verdict: match &judged.judgement {
                    Judgement::Accept => "accept",
                    Judgement::Duplicate => "duplicate",
                    Judgement::Refuse(refusal) => refusal.code(),
                },
            },
        },
        Ok(Ok(None)) => LookupOutcome::Unknown,
        Ok(Err(error)) => LookupOutcome::Failed(LookupError::Store(error)),
        Err(_) => LookupOutcome::Failed(LookupError::TimedOut(budget)),
    }
}

/// The sync step's judgement of `decision` against the records as they are now; `None` for an
/// instance the bridge never saw.
async fn judge<R: InstanceReader>(
    records: &R,
    decision: &ApprovalDecision,
) -> Result<Option<TapJudgement>, StoreError> {
    let target = match resolve_target(records, decision).await {
        Ok(target) => target,
        Err(ResolveError::Store(error)) => return Err(error),
        // Cannot happen for a typed decision (it names a task or a card); nothing to judge.
        Err(ResolveError::Unaddressed) => return Ok(None),
    };
    let Some((instance_id, task_id)) = target.task() else {
        return Ok(None);
    };
    let loaded = records.load(instance_id).await?;
    Ok(loaded.judge_tap(task_id, decision))
}

/// The reader of a callback service without a look-up (`TABLE_NAME` unset): it cannot be
/// made, so such a service never reads records.
#[derive(Debug, Clone, Copy)]
pub enum NoRecords {}

impl InstanceReader for NoRecords {
    async fn load(&self, _instance_id: &str) -> Result<InstanceRecords, StoreError> {
        match *self {}
    }

    async fn find_card(&self, _message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        match *self {}
    }
}
