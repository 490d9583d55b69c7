//! EventBridge event publisher adapter.
//!
//! Each event is one `PutEvents` entry on the configured bus, with source [`EVENT_SOURCE`], the
//! event's detail-type and its JSON detail. Consumers match on source and detail-type with a rule
//! on that bus and deduplicate on `decision_id` (refused events: `delivery_id`): EventBridge
//! delivers at least once, and a retried job may publish again.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{BridgeEvent, EVENT_SOURCE, EventPublisher, PublishError};

/// Publishes events to an EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    event_bus_name: String,
}

impl EventBridgePublisher {
    /// A publisher to `event_bus_name` (a bus name or ARN, the function's `EVENT_BUS_NAME`),
    /// through `client`.
    pub fn new(client: Client, event_bus_name: impl Into<String>) -> Self {
        Self {
            client,
            event_bus_name: event_bus_name.into(),
        }
    }
}

impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &BridgeEvent) -> Result<(), PublishError> {
        let detail = event.detail().map_err(|error| {
            PublishError(format!(
                "event {} cannot be serialized ({:?} error)",
                event.id(),
                error.classify()
            ))
        })?;
        let entry = PutEventsRequestEntry::builder()
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type())
            .detail(detail)
            .event_bus_name(&self.event_bus_name)
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|error| self.request_failed(event, &error))?;
        self.check_entry(event, &output)
    }
}

impl EventBridgePublisher {
    /// The error for a `PutEvents` request that failed as a whole.
    fn request_failed<E: ProvideErrorMetadata, R>(
        &self,
        event: &BridgeEvent,
        error: &SdkError<E, R>,
    ) -> PublishError {
        let reason = match error {
            SdkError::ServiceError(_) => format!(
                "EventBridge answered {}: {}",
                error.code().unwrap_or("an error without a code"),
                error.message().unwrap_or("no message")
            ),
            SdkError::TimeoutError(_) => "the request timed out".to_owned(),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                "the connection timed out".to_owned()
            }
            SdkError::DispatchFailure(failure) if failure.is_io() => {
                "the connection failed".to_owned()
            }
            SdkError::DispatchFailure(_) => "the request could not be sent".to_owned(),
            SdkError::ResponseError(_) => "the response could not be read".to_owned(),
            SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
            _ => "the request failed".to_owned(),
        };
        PublishError(format!(
            "PutEvents of event {} to bus {}: {reason}",
            event.id(),
            self.event_bus_name
        ))
    }

    /// `Ok` if the one entry was accepted, else the error EventBridge gave for it.
    fn check_entry(
        &self,
        event: &BridgeEvent,
        output: &PutEventsOutput,
    ) -> Result<(), PublishError> {
        if output.failed_entry_count == 0 {
            return Ok(());
        }
        let failed = output
            .entries()
            .iter()
            .find(|entry| entry.error_code().is_some() || entry.event_id().is_none());
        let code = failed
            .and_then(|entry| entry.error_code())
            .unwrap_or("no error code");
        let message = failed
            .and_then(|entry| entry.error_message())
            .unwrap_or("no error message");
        Err(PublishError(format!(
            "EventBridge rejected event {} on bus {}: {code}: {message}",
            event.id(),
            self.event_bus_name
        )))
    }
}
