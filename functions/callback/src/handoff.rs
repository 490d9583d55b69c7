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
use tokio::time::Instant;

/// Delivers a job to the sync step. `Ok` means the job is durably accepted and will be processed
/// (possibly more than once: the sync step deduplicates).
pub trait Handoff {
    /// Hands `job` over; returns once it is accepted or refused, and gives up by `deadline`.
    /// A failure does not prove the job was not accepted (an answer may have been lost).
    fn hand_off(
        &self,
        job: &SyncJob,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), HandoffError>> + Send;

    /// Prepares for the first hand-off (opens and warms its connection) without handing anything
    /// off. Called while the container initialises; a failure only means the first hand-off
    /// does that work itself.
    fn warm_up(&self) -> impl Future<Output = Result<(), HandoffError>> + Send {
        std::future::ready(Ok(()))
    }
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
    /// The job's proof could not be made (it could not be serialized).
    #[error("could not make the job's proof")]
    Prove(#[source] feishu_bridge::handoff::ProofError),
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

/// Longest wait for a TCP connection to Lambda's API: a connection that takes longer is
/// abandoned, leaving time for a second attempt on a fresh one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Bound of the warm-up invoke (a dry run) when nothing else bounds it.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(2);

/// Wait before the one retry of a failed attempt. The SDK's default (up to 1 s) would spend a
/// third of a callback's budget; a callback's caller is waiting.
const RETRY_BACKOFF: Duration = Duration::from_millis(25);

impl LambdaHandoff {
    /// A hand-off to `function_name` (name, ARN or partial ARN). The endpoint, region and
    /// credentials come from `sdk_config` (so `AWS_ENDPOINT_URL_LAMBDA` redirects it, e.g. to
    /// `cargo lambda watch`). Each hand-off is bounded by the deadline it is given: at most two
    /// attempts, together within the time left.
    pub fn new(sdk_config: &aws_config::SdkConfig, function_name: String) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_timeout(WARM_UP_TIMEOUT)
            .build();
        let config = aws_sdk_lambda::config::Builder::from(sdk_config)
            .timeout_config(timeouts)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(RETRY_BACKOFF),
            )
            .build();
        Self {
            client: aws_sdk_lambda::Client::from_conf(config),
            function_name,
        }
    }
}

/// Timeouts that end every attempt, retries included, by `deadline`: an attempt may use all the
/// time left, so a slow but working Lambda API is waited for instead of being cut off and
/// invoked a second time.
fn timeouts_until(deadline: Instant) -> TimeoutConfig {
    let left = deadline.saturating_duration_since(Instant::now());
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(left))
        .operation_attempt_timeout(left)
        .operation_timeout(left)
        .build()
}

impl Handoff for LambdaHandoff {
    async fn hand_off(&self, job: &SyncJob, deadline: Instant) -> Result<(), HandoffError> {
        let payload = encode(job)?;
        let answer = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default().timeout_config(timeouts_until(deadline)),
            )
            .send()
            .await
            .map_err(|error| HandoffError::Invoke(Box::new(error)))?;
        accepted(answer.status_code(), answer.function_error())
    }

    /// A dry-run invoke: Lambda checks the function and the permission to invoke it and runs
    /// nothing, and the connection it opened stays in the pool for the first hand-off. Needs no
    /// permission beyond `lambda:InvokeFunction`.
    async fn warm_up(&self) -> Result<(), HandoffError> {
        let answer = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::DryRun)
            .send()
            .await
            .map_err(|error| HandoffError::Invoke(Box::new(error)))?;
        accepted(answer.status_code(), answer.function_error())
    }
}

/// `Ok` for a 2xx answer without a function error.
fn accepted(status: i32, function_error: Option<&str>) -> Result<(), HandoffError> {
    match function_error {
        None if (200..300).contains(&status) => Ok(()),
        function_error => Err(HandoffError::Rejected {
            status,
            function_error: function_error.map(str::to_owned),
        }),
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
    async fn hand_off(&self, job: &SyncJob, _deadline: Instant) -> Result<(), HandoffError> {
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
