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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decision_json() -> serde_json::Value {
        json!({
            "type": "decision",
            "approval_code": "C0DE",
            "task_id": "t-1",
            "action": "APPROVE",
            "user_id": "u-1",
            "received_at": "1795248912345"
        })
    }

    #[test]
    fn a_decision_job_without_a_delivery_id_parses_and_stays_without_one() {
        let job: SyncJob = serde_json::from_value(decision_json()).unwrap();
        let SyncJob::Decision(decision) = &job else {
            panic!("a decision job: {job:?}");
        };
        assert_eq!(decision.delivery_id, None);
        assert_eq!(serde_json::to_value(&job).unwrap(), decision_json());
    }

    #[test]
    fn a_delivery_id_round_trips() {
        let mut value = decision_json();
        value["delivery_id"] = "8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a".into();
        let job: SyncJob = serde_json::from_value(value.clone()).unwrap();
        let SyncJob::Decision(decision) = &job else {
            panic!("a decision job: {job:?}");
        };
        assert_eq!(
            decision.delivery_id.as_deref(),
            Some("8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a")
        );
        assert_eq!(serde_json::to_value(&job).unwrap(), value);
    }
}
