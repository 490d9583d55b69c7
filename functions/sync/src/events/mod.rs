//! The decision-event port: how the company's own system learns what an approver decided.
//!
//! Events go to EventBridge with source [`EVENT_SOURCE`] and detail-type [`DECISION_DETAIL_TYPE`];
//! locally (no bus configured) they are written to the log.

pub mod eventbridge;
mod log;

use std::future::Future;

use feishu_bridge::callback::ApprovalDecision;
use feishu_bridge::models::instance::InstanceStatus;
use feishu_bridge::models::time::UnixMillis;
use serde::{Deserialize, Serialize};

pub use log::LogPublisher;

/// EventBridge `source` of every event this bridge publishes.
pub const EVENT_SOURCE: &str = "feishu-approval-bridge";

/// EventBridge `detail-type` of a decision event.
pub const DECISION_DETAIL_TYPE: &str = "Approval Decision";

/// The `detail` of a decision event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// Stable id of the decision (`instance_id/task_id/action`): consumers deduplicate on it.
    pub decision_id: String,
    /// The decision as the approver made it.
    #[serde(flatten)]
    pub decision: ApprovalDecision,
    /// The instance status after the decision, when the bridge knows the instance.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_status: Option<InstanceStatus>,
    /// When the callback function received the decision.
    pub received_at: UnixMillis,
    /// When Feishu accepted it.
    pub applied_at: UnixMillis,
}

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
#[error("could not publish the decision event: {0}")]
pub struct PublishError(pub String);

/// Where decision events go: EventBridge in AWS, the log locally.
pub trait DecisionPublisher: Send + Sync {
    /// Publishes one decision event.
    fn publish(
        &self,
        event: &DecisionEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}
