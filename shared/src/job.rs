//! The one job schema of the sync function, shared by the callback function and by every other
//! system that invokes the sync function.
//!
//! A job is a JSON object tagged by `type`:
//! - `decision`: an approver's quick-approval decision, handed off by the callback function;
//! - `instance`: a full external instance pushed by the company's system, optionally with bot cards;
//! - `message`: a bot card status change.

use serde::{Deserialize, Serialize};

use crate::callback::ApprovalDecision;
use crate::models::instance::ExternalInstance;
use crate::models::message::UpdateMessageRequest;
use crate::models::time::UnixMillis;

/// A unit of work for the sync function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncJob {
    /// An approver decided a task in Feishu.
    Decision(DecisionJob),
    /// The company's system changed an instance (boxed: a full instance dwarfs the other jobs).
    Instance(Box<InstanceJob>),
    /// Set a bot card's status.
    Message(MessageJob),
}

/// An approver's decision as received by the callback function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionJob {
    /// What the approver decided, on which task.
    #[serde(flatten)]
    pub decision: ApprovalDecision,
    /// When the callback function received the decision.
    pub received_at: UnixMillis,
    /// The callback's request id: a Lambda retry of the same job carries the same one and is a
    /// duplicate. Jobs queued by earlier versions have none and are deduplicated by task and
    /// action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
}

/// A full external instance to push to Feishu's Approval Center.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceJob {
    /// The whole instance, exactly as Feishu expects it.
    pub instance: ExternalInstance,
    /// Send a quick-approval bot card to the approver of each pending task that has none yet.
    #[serde(default)]
    pub notify: bool,
    /// Tasks the company's system re-opens (returns to their approver): each takes a new
    /// decision, even if the bridge accepted one on it before. Without `reopen`, a task this
    /// instance shows `PENDING` keeps the decision accepted on it (the company's system has not
    /// processed it yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reopen: Vec<String>,
}

/// A bot card status change, exactly Feishu's `message/update` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageJob {
    /// The update to apply.
    #[serde(flatten)]
    pub update: UpdateMessageRequest,
}
