//! Local default publisher: decision events go to the structured log.

use super::{DecisionEvent, DecisionPublisher, PublishError};

/// Writes each decision event to the log (no EventBridge bus configured).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogPublisher;

impl DecisionPublisher for LogPublisher {
    async fn publish(&self, event: &DecisionEvent) -> Result<(), PublishError> {
        let detail =
            serde_json::to_string(event).map_err(|error| PublishError(error.to_string()))?;
        tracing::info!(
            decision_id = %event.decision_id,
            event_detail = %detail,
            "decision event (no EventBridge bus configured)"
        );
        Ok(())
    }
}
