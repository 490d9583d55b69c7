//! The `action_context` of the bot cards the bridge sends: it names the card's instance and task
//! (and carries the task's own `action_context`), so a callback from the card resolves to its
//! task even when the card's message id is unknown — Feishu's answer to the send was lost, or a
//! repeated `uuid` was answered without the first card's id (`feishu-api.md` §5.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Marks a bridge card context.
const PREFIX: &str = "fab1.";

/// What a bridge card's `action_context` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardContext {
    /// The instance.
    #[serde(rename = "i")]
    pub instance_id: String,
    /// The task.
    #[serde(rename = "t")]
    pub task_id: String,
    /// The task's own `action_context`, handed on to the company's system in its place.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub task_context: Option<String>,
}

impl CardContext {
    /// The `action_context` string to put on a card.
    pub fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// The context of a bridge card, or `None` for any other `action_context`.
    pub fn decode(action_context: &str) -> Option<Self> {
        let encoded = action_context.strip_prefix(PREFIX)?;
        let json = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_foreign_contexts() {
        let context = CardContext {
            instance_id: "PR-2026-0042".to_owned(),
            task_id: "任务/1".to_owned(),
            task_context: Some("{\"order\":42}".to_owned()),
        };
        let encoded = context.encode();
        assert!(encoded.is_ascii());
        assert_eq!(CardContext::decode(&encoded), Some(context));
        for foreign in ["12345", "", "fab1.", "fab1.!!", "fab1.e30"] {
            assert_eq!(CardContext::decode(foreign), None, "{foreign}");
        }
    }
}
