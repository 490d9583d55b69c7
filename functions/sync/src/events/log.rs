//! Local default publisher: events go to the structured log.

use super::{BridgeEvent, EventPublisher, PublishError};

/// Writes each event to the log (no EventBridge bus configured).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogPublisher;

impl EventPublisher for LogPublisher {
    async fn publish(&self, event: &BridgeEvent) -> Result<(), PublishError> {
        let detail = event
            .detail()
            .map_err(|error| PublishError(format!("{:?} error", error.classify())))?;
        tracing::info!(
            detail_type = event.detail_type(),
            event_id = %event.id(),
            event_detail = %detail,
            "event (no EventBridge bus configured)"
        );
        Ok(())
    }
}
