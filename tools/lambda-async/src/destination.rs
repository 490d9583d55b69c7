//! [`FailureDestination`]: where records of failed asynchronous invocations go.

use std::time::Duration;

use crate::record::InvocationRecord;

/// How many times sending a record is tried.
const SEND_ATTEMPTS: u32 = 3;
/// The wait between two tries of sending a record.
const SEND_RETRY_DELAY: Duration = Duration::from_millis(200);

/// The on-failure destination of asynchronous invocations.
#[derive(Debug, Clone)]
pub enum FailureDestination {
    /// An SQS queue (the deployment's `FailureQueue`; moto locally): each record is one message
    /// whose body is the record's JSON.
    Sqs {
        /// A client aimed at the queue's endpoint.
        client: aws_sdk_sqs::Client,
        /// The queue's URL.
        queue_url: String,
    },
    /// No destination: a failed invocation is only logged and counted, as Lambda discards it.
    Discard,
}

/// Why a record could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// SQS refused the message or could not be reached (after retries).
    #[error("could not send the record to SQS")]
    Sqs(
        #[source]
        Box<aws_sdk_sqs::error::SdkError<aws_sdk_sqs::operation::send_message::SendMessageError>>,
    ),
    /// The record could not be encoded.
    #[error("could not encode the record")]
    Encode(#[source] serde_json::Error),
}

impl FailureDestination {
    /// An SQS destination.
    pub fn sqs(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self::Sqs {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends `record`; a discarding destination accepts it without doing anything.
    pub async fn send(&self, record: &InvocationRecord) -> Result<(), DestinationError> {
        let Self::Sqs { client, queue_url } = self else {
            return Ok(());
        };
        let body = serde_json::to_string(record).map_err(DestinationError::Encode)?;
        let mut attempt = 1;
        loop {
            let sent = client
                .send_message()
                .queue_url(queue_url)
                .message_body(&body)
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(error) if attempt >= SEND_ATTEMPTS => {
                    return Err(DestinationError::Sqs(Box::new(error)));
                }
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(SEND_RETRY_DELAY).await;
                }
            }
        }
    }
}
