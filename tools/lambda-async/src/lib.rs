//! A local stand-in for Lambda's asynchronous invocation, in front of `cargo lambda watch`.
//!
//! `cargo lambda watch` serves the Lambda Invoke API, but runs every invocation synchronously:
//! an `X-Amz-Invocation-Type: Event` invoke waits for the function and answers its result (a
//! function error as HTTP 500), nothing is retried, and there is no on-failure destination. This
//! crate puts Lambda's asynchronous semantics in front of it, as configured in the deployment
//! template's `EventInvokeConfig`:
//!
//! - `Event` invocations are answered `202` at once and queued;
//! - each queued event is run on the function runner (`RequestResponse`), at most
//!   [`AsyncConfig::max_concurrency`] at a time;
//! - a function error (or a timeout) is retried up to [`AsyncConfig::max_retry_attempts`] times,
//!   waiting [`AsyncConfig::retry_delay`] × attempt number in between; a runner that cannot run
//!   the function at all (unreachable, throttled) is retried until the event is older than
//!   [`AsyncConfig::max_event_age`], as Lambda retries its own service errors;
//! - an event that fails for good becomes an [`InvocationRecord`] (Lambda's destination record)
//!   sent to the [`FailureDestination`], an SQS queue (moto locally);
//! - `RequestResponse` and `DryRun` invocations go straight through, with the answer translated
//!   to Lambda's (a function error is `200` with `X-Amz-Function-Error: Unhandled`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambda_async::StartError> {
//! use lambda_async::{AsyncConfig, FailureDestination, LambdaAsync};
//! let config = AsyncConfig::new("http://127.0.0.1:9000"); // cargo lambda watch
//! let emulator = LambdaAsync::start(config, FailureDestination::Discard).await?;
//! // Point the invoking function's `AWS_ENDPOINT_URL_LAMBDA` at `emulator.endpoint_url()`.
//! # Ok(()) }
//! ```

mod api;
mod config;
mod destination;
mod record;
mod runner;
mod server;
mod stats;

pub use config::{AsyncConfig, ConfigError};
pub use destination::{DestinationError, FailureDestination};
pub use record::{FailureCondition, InvocationRecord, RequestContext, ResponseContext};
pub use server::{LambdaAsync, StartError};
pub use stats::AsyncStats;
