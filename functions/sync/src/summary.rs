//! What a job did: the JSON a direct (RequestResponse) invocation returns, also logged at the end
//! of every job.

use feishu_bridge::client::FeishuError;
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::SyncJob;
use feishu_bridge::models::instance::InstanceStatus;
use feishu_bridge::models::message::CardStatus;
use feishu_bridge::models::time::UnixMillis;
use serde::Serialize;

pub use crate::events::Refusal;

/// `api` of an instance push.
pub const SYNC_INSTANCE_API: &str = "external_instances";
/// `api` of a bot card send.
pub const SEND_MESSAGE_API: &str = "message/send";
/// `api` of a bot card update.
pub const UPDATE_MESSAGE_API: &str = "message/update";
/// `api` of a version check of instances.
pub const CHECK_INSTANCES_API: &str = "external_instances/check";

/// The outcome of one job, tagged by `job`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum SyncSummary {
    /// A decision job.
    Decision(DecisionSummary),
    /// An instance job.
    Instance(InstanceSummary),
    /// A message job.
    Message(MessageSummary),
    /// A reconcile job (boxed: its lists dwarf the other summaries).
    Reconcile(Box<ReconcileSummary>),
}

/// One Feishu call and Feishu's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeishuCall {
    /// The API: [`SYNC_INSTANCE_API`], [`SEND_MESSAGE_API`], [`UPDATE_MESSAGE_API`] or
    /// [`CHECK_INSTANCES_API`].
    pub api: &'static str,
    /// What it was called for: an instance id, a message id, `instance_id/task_id` for a send,
    /// or `<n> instances` for a check.
    pub target: String,
    /// Whether Feishu accepted the call.
    pub accepted: bool,
    /// Feishu's `code` (`0` when accepted); absent when no answer carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Feishu's `msg`, or why the call failed when Feishu gave none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// Feishu's log id, when the answer carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
}

impl FeishuCall {
    /// A call Feishu accepted.
    pub fn accepted(api: &'static str, target: impl Into<String>) -> Self {
        Self {
            api,
            target: target.into(),
            accepted: true,
            code: Some(0),
            msg: None,
            log_id: None,
        }
    }

    /// A call that failed with `error`.
    pub fn failed(api: &'static str, target: impl Into<String>, error: &FeishuError) -> Self {
        Self {
            api,
            target: target.into(),
            accepted: false,
            code: error.code(),
            msg: Some(
                error
                    .api_failure()
                    .map_or_else(|| error.to_string(), |failure| failure.msg.clone()),
            ),
            log_id: error.log_id().map(str::to_owned),
        }
    }
}

/// What became of a decision job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    /// Accepted now (or, for an instance the bridge never saw, passed on to the company).
    Applied,
    /// Nothing new: the task already had this decision, or this delivery was judged before (a
    /// Lambda retry, which only finished what was left undone).
    Duplicate,
    /// Refused by the lifecycle rules: no change to the task or instance.
    Refused,
}

/// What a decision did to the instance in Feishu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceEffect {
    /// The instance with the decided task was pushed.
    Pushed,
    /// A later change to the instance came first: its job pushes the instance with this
    /// decision.
    Superseded,
    /// Nothing to push: a custom action, a duplicate or a refusal leave the instance as it is.
    Unchanged,
    /// The instance was never synced through the bridge, so there was nothing to push.
    NotSynced,
}

/// The outcome of a decision job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionSummary {
    /// The accepted decision this delivery is or repeats (`instance/task/task_version/action`),
    /// as in the decision event; absent for a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The delivery (the callback's request id).
    pub delivery_id: String,
    /// Applied, duplicate or refused.
    pub outcome: DecisionOutcome,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// The instance, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The task, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// What happened to the instance in Feishu.
    pub instance: InstanceEffect,
    /// The instance status after the decision, when the instance is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_status: Option<InstanceStatus>,
    /// The bot card the decision was made on, when it came from a card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<MessageId>,
    /// Whether the event (decision or refusal) is published; a duplicate has none of its own.
    pub event_published: bool,
    /// The Feishu calls made.
    pub calls: Vec<FeishuCall>,
}

/// Whether an instance job's instance was pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceOutcome {
    /// Accepted as the company's latest version and pushed to Feishu (with the decisions it
    /// has not seen yet).
    Synced,
    /// Not pushed: the company already sent a version at least as new (`update_time`).
    Stale,
}

/// A bot card sent for a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentCard {
    /// The task the card is for.
    pub task_id: String,
    /// The card, when Feishu's answer told it (a lost answer or a repeated `uuid` may not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
}

/// A bot card brought to the state of its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdatedCard {
    /// The card.
    pub message_id: MessageId,
    /// Its new status.
    pub status: CardStatus,
}

/// The outcome of an instance job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceSummary {
    /// The instance.
    pub instance_id: String,
    /// Pushed or ignored as stale.
    pub outcome: InstanceOutcome,
    /// The company's last accepted version, which made the job stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_version: Option<UnixMillis>,
    /// The instance status Feishu was given (the base with the accepted decisions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_status: Option<InstanceStatus>,
    /// Bot cards sent by this job.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cards_sent: Vec<SentCard>,
    /// Bot cards brought to the state of their task by this job.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cards_updated: Vec<UpdatedCard>,
    /// The Feishu calls made.
    pub calls: Vec<FeishuCall>,
}

/// The outcome of a message job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageSummary {
    /// The card.
    pub message_id: MessageId,
    /// Its new status.
    pub status: CardStatus,
    /// The Feishu call made.
    pub calls: Vec<FeishuCall>,
}

/// The outcome of a reconcile job: what Feishu was asked about the instances changed within
/// the window, what it did not hold, and what was done about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileSummary {
    /// Start of the window (inclusive), Unix ms.
    pub since: UnixMillis,
    /// End of the window (exclusive), Unix ms.
    pub until: UnixMillis,
    /// Instances whose records changed within the window.
    pub changed: usize,
    /// Instances Feishu was asked about (those with an instance to derive).
    pub checked: usize,
    /// Checked instances Feishu holds exactly as last derived.
    pub in_sync: usize,
    /// Changed instances with nothing to push (their base expired, or never came).
    pub without_base: usize,
    /// Instances Feishu does not know.
    pub missing: Vec<String>,
    /// Instances Feishu holds an older version of (the instance or one of its tasks).
    pub older: Vec<String>,
    /// Instances Feishu holds another, newer version of than the records derive.
    pub newer: Vec<String>,
    /// Instances pushed again (the latest derived instance, with `push_latest`'s overtaking
    /// rules).
    pub repushed: Vec<String>,
    /// Bot cards brought to the state of their task.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cards_updated: Vec<UpdatedCard>,
    /// The batch size of the last check (smaller than configured when Feishu refused larger
    /// batches).
    pub check_batch: usize,
    /// The Feishu calls made.
    pub calls: Vec<FeishuCall>,
    /// Instances left out of sync, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ReconcileFailure>,
    /// The job that reconciles the rest of the window, when the deadline cut this one short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<SyncJob>,
}

/// An instance a reconcile job could not bring in line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileFailure {
    /// The instance.
    pub instance_id: String,
    /// The Lambda error type the failure would have (`FeishuRejected`, `StoreUnavailable`, …).
    pub error_type: &'static str,
    /// What failed (with Feishu's code, msg and log id).
    pub error: String,
}
