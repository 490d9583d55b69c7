//! Which task a decision is about: the resolution the sync step applies to every decision job
//! and the callback function to its early look-up, so both judge the same task.

use crate::callback::ApprovalDecision;
use crate::ids::MessageId;
use crate::tap_context::TapContext;

use super::InstanceReader;
use super::StoreError;

/// The task a decision is about, as far as it could be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The records holding the decision: the instance id, or `message:<id>` / `task:<id>` when
    /// the instance is unknown.
    pub records_id: String,
    /// The instance, when known.
    pub instance_id: Option<String>,
    /// The task, when known.
    pub task_id: Option<String>,
    /// The bot card acted on, when the decision came from a card.
    pub message_id: Option<MessageId>,
}

impl Target {
    /// The task part of a forwarded decision's id: the task id, else the card.
    pub fn task_label(&self) -> String {
        match (&self.task_id, &self.message_id) {
            (Some(task_id), _) => task_id.clone(),
            (None, Some(message_id)) => format!("message:{message_id}"),
            (None, None) => String::new(),
        }
    }

    /// The instance and task, when both are known (the records under `records_id` are then the
    /// instance's).
    pub fn task(&self) -> Option<(&str, &str)> {
        Some((self.instance_id.as_deref()?, self.task_id.as_deref()?))
    }
}

/// Why a decision could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The decision names neither its task nor the card it was made on.
    #[error("a decision must name its task (`task_id`) or the card it was made on (`message_id`)")]
    Unaddressed,
    /// The card index could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The value of an optional id, when it is set and not empty.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

/// Finds the task a decision is about: its own ids, else the bridge's context (card or task), else the
/// card it was made on (the card index, one read of `records`). A decision whose instance
/// cannot be resolved is kept under `message:<message_id>` (or `task:<task_id>`).
pub async fn resolve_target<R: InstanceReader>(
    records: &R,
    decision: &ApprovalDecision,
) -> Result<Target, ResolveError> {
    let context = decision
        .action_context
        .as_deref()
        .and_then(TapContext::decode);
    let instance_id = non_empty(&decision.instance_id)
        .map(str::to_owned)
        .or_else(|| context.as_ref().map(|context| context.instance_id.clone()));
    let task_id = non_empty(&decision.task_id)
        .map(str::to_owned)
        .or_else(|| context.as_ref().map(|context| context.task_id.clone()));
    let message_id = decision.message_id.clone();
    if let (Some(instance_id), Some(task_id)) = (&instance_id, &task_id) {
        return Ok(Target {
            records_id: instance_id.clone(),
            instance_id: Some(instance_id.clone()),
            task_id: Some(task_id.clone()),
            message_id,
        });
    }
    if let Some(message_id) = &message_id {
        if let Some(card) = records.find_card(message_id).await? {
            return Ok(Target {
                records_id: card.instance_id.clone(),
                instance_id: Some(card.instance_id),
                task_id: Some(card.task_id),
                message_id: Some(message_id.clone()),
            });
        }
        return Ok(Target {
            records_id: format!("message:{message_id}"),
            instance_id,
            task_id,
            message_id: Some(message_id.clone()),
        });
    }
    match (instance_id, task_id) {
        (None, Some(task_id)) => Ok(Target {
            records_id: format!("task:{task_id}"),
            instance_id: None,
            task_id: Some(task_id),
            message_id: None,
        }),
        _ => Err(ResolveError::Unaddressed),
    }
}
