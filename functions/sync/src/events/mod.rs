//! The event port: how the company's own system learns what approvers did.
//!
//! Events go to EventBridge with source [`EVENT_SOURCE`] and a detail-type per kind
//! ([`DECISION_DETAIL_TYPE`], [`REFUSED_DETAIL_TYPE`]); locally (no bus configured) they are
//! written to the log. Every detail carries [`SCHEMA_VERSION`].

pub mod eventbridge;
mod log;

use std::future::Future;

use feishu_bridge::callback::ApprovalDecision;
use feishu_bridge::models::instance::{InstanceStatus, TaskStatus};
use feishu_bridge::models::time::UnixMillis;
use serde::{Deserialize, Serialize};

pub use log::LogPublisher;

/// EventBridge `source` of every event this bridge publishes.
pub const EVENT_SOURCE: &str = "feishu-approval-bridge";

/// EventBridge `detail-type` of an accepted decision.
pub const DECISION_DETAIL_TYPE: &str = "Approval Decision";

/// EventBridge `detail-type` of a refused decision.
pub const REFUSED_DETAIL_TYPE: &str = "Approval Decision Refused";

/// The version of the event details' schema (`schemas/`): 2 since decisions are judged by the
/// lifecycle (ids name the task version; refusals have events of their own).
pub const SCHEMA_VERSION: u32 = 2;

/// The `detail` of an accepted decision.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Stable id of the accepted decision (`instance_id/task_id/task_version/action`): the same
    /// across retries and deliveries; consumers deduplicate on it.
    pub decision_id: String,
    /// The decision as the approver made it (the task's own `action_context`).
    #[serde(flatten)]
    pub decision: ApprovalDecision,
    /// The callback that delivered it.
    pub delivery_id: String,
    /// Whether the bridge knows the instance. `false`: it never synced it, so it only passes the
    /// decision on and the company's system judges it.
    pub instance_known: bool,
    /// The version of the task decided: 0, or the company version that re-opened it.
    pub task_version: UnixMillis,
    /// The instance status right after the decision, when the bridge knows the instance.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_status: Option<InstanceStatus>,
    /// When the callback function received the decision.
    pub received_at: UnixMillis,
    /// When the bridge accepted it.
    pub applied_at: UnixMillis,
}

/// The `detail` of a refused decision: an approver acted on a task or instance that could not
/// take it (a late tap on a stale card, a withdrawn instance, another approver's task).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusedEvent {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The callback that delivered it: consumers deduplicate on it.
    pub delivery_id: String,
    /// The decision as the approver made it (its `reason` is the approver's comment).
    #[serde(flatten)]
    pub decision: ApprovalDecision,
    /// Why it was refused.
    pub refusal: Refusal,
    /// When the callback function received the decision.
    pub received_at: UnixMillis,
}

/// Why a decision was refused, and the statuses it was refused against.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// `task_not_pending`, `instance_not_pending`, `not_the_approver` or `task_not_found`.
    pub reason: String,
    /// The task's status, when the task exists.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub task_status: Option<TaskStatus>,
    /// The instance's status.
    pub instance_status: InstanceStatus,
}

/// An event for the company's system.
#[derive(Debug, Clone, PartialEq)]
pub enum BridgeEvent {
    /// An accepted (or forwarded) decision.
    Decision(DecisionEvent),
    /// A refused decision.
    Refused(RefusedEvent),
}

impl BridgeEvent {
    /// Its EventBridge detail-type.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::Decision(_) => DECISION_DETAIL_TYPE,
            Self::Refused(_) => REFUSED_DETAIL_TYPE,
        }
    }

    /// The id consumers deduplicate on.
    pub fn id(&self) -> &str {
        match self {
            Self::Decision(event) => &event.decision_id,
            Self::Refused(event) => &event.delivery_id,
        }
    }

    /// Its detail as JSON.
    pub fn detail(&self) -> Result<String, serde_json::Error> {
        match self {
            Self::Decision(event) => serde_json::to_string(event),
            Self::Refused(event) => serde_json::to_string(event),
        }
    }
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
#[error("could not publish the event: {0}")]
pub struct PublishError(pub String);

/// Where events go: EventBridge in AWS, the log locally.
pub trait EventPublisher: Send + Sync {
    /// Publishes one event.
    fn publish(&self, event: &BridgeEvent)
    -> impl Future<Output = Result<(), PublishError>> + Send;
}
