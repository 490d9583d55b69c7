//! The hand-off port: how an accepted decision reaches the sync function, durably, before the
//! callback answers success.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use feishu_bridge::job::SyncJob;

/// Delivers a job to the sync step. `Ok` means the job is durably accepted and will be processed
/// (possibly more than once: the sync step deduplicates).
pub trait Handoff {
    /// Hands `job` over; returns only once it is accepted or definitely refused.
    fn hand_off(&self, job: &SyncJob) -> impl Future<Output = Result<(), HandoffError>> + Send;
}

/// Why a job was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// The job could not be encoded as JSON.
    #[error("could not encode the job as JSON")]
    Encode(#[source] serde_json::Error),
    /// The Lambda Invoke request failed (network, throttling, permissions, SDK timeout).
    #[error("the Lambda Invoke request failed")]
    Invoke(#[source] Box<SdkError<InvokeError>>),
    /// Lambda answered, but did not accept the job.
    #[error("Lambda Invoke answered HTTP {status} (function error: {function_error:?})")]
    Rejected {
        /// HTTP status of the Invoke answer.
        status: i32,
        /// `X-Amz-Function-Error`, when present.
        function_error: Option<String>,
    },
    /// An [`InMemoryHandoff`] told to fail.
    #[error("the in-memory hand-off was told to fail")]
    Simulated,
}

/// Room reserved for a job's JSON: a typical decision fits, so encoding rarely reallocates.
const PAYLOAD_CAPACITY: usize = 1024;

/// Encodes a job exactly as the sync function receives it: the JSON text of [`SyncJob`].
fn encode(job: &SyncJob) -> Result<Vec<u8>, HandoffError> {
    let mut payload = Vec::with_capacity(PAYLOAD_CAPACITY);
    serde_json::to_writer(&mut payload, job).map_err(HandoffError::Encode)?;
    Ok(payload)
}

/// Hands jobs to the sync function with an asynchronous Lambda invoke (`InvocationType::Event`):
/// Lambda queues the event durably and retries the sync function on failure.
#[derive(Debug, Clone)]
pub struct LambdaHandoff {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaHandoff {
    /// A hand-off to `function_name` (name, ARN or partial ARN) with SDK timeouts bounded by
    /// `deadline`: at most two attempts of half the deadline each. The endpoint, region and
    /// credentials come from `sdk_config` (so `AWS_ENDPOINT_URL_LAMBDA` redirects it, e.g. to
    /// `cargo lambda watch`).
    pub fn new(
        sdk_config: &aws_config::SdkConfig,
        function_name: String,
        deadline: Duration,
    ) -> Self {
        let attempt = deadline / 2;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(attempt.min(Duration::from_secs(1)))
            .operation_attempt_timeout(attempt)
            .operation_timeout(deadline)
            .build();
        let config = aws_sdk_lambda::config::Builder::from(sdk_config)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        Self {
            client: aws_sdk_lambda::Client::from_conf(config),
            function_name,
        }
    }
}

impl Handoff for LambdaHandoff {
    async fn hand_off(&self, job: &SyncJob) -> Result<(), HandoffError> {
        let payload = encode(job)?;
        let answer = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|error| HandoffError::Invoke(Box::new(error)))?;
        let status = answer.status_code();
        match answer.function_error() {
            None if (200..300).contains(&status) => Ok(()),
            function_error => Err(HandoffError::Rejected {
                status,
                function_error: function_error.map(str::to_owned),
            }),
        }
    }
}

/// An in-process hand-off for tests and benchmarks: records each job's JSON payload, or fails on
/// demand.
#[derive(Debug, Default)]
pub struct InMemoryHandoff {
    payloads: Mutex<Vec<Vec<u8>>>,
    failing: AtomicBool,
}

impl InMemoryHandoff {
    /// An empty hand-off that accepts every job.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, refuse (`true`) or accept (`false`) every job.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }

    /// Removes and returns the JSON payloads accepted so far, oldest first, byte for byte as
    /// [`LambdaHandoff`] would send them.
    pub fn take_payloads(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.payloads.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Handoff for InMemoryHandoff {
    async fn hand_off(&self, job: &SyncJob) -> Result<(), HandoffError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(HandoffError::Simulated);
        }
        let payload = encode(job)?;
        self.payloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(payload);
        Ok(())
    }
}
