//! [`LambdaAsync`]: the Invoke API server and its asynchronous event queue.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::api::{
    self, ApiError, CLIENT_CONTEXT_HEADER, EVENT_PAYLOAD_LIMIT, EXECUTED_VERSION_HEADER,
    FUNCTION_ERROR_HEADER, InvocationType, LATEST, REQUEST_ID_HEADER, SYNC_PAYLOAD_LIMIT,
};
use crate::config::{AsyncConfig, ConfigError};
use crate::destination::FailureDestination;
use crate::record::{
    FailureCondition, InvocationRecord, RECORD_VERSION, RequestContext, ResponseContext,
    iso8601_millis, payload_value,
};
use crate::runner::{FunctionRunner, RunOutcome};
use crate::stats::{AsyncStats, Counters};

/// The longest wait between two tries when the runner cannot run the function.
const MAX_UNAVAILABLE_BACKOFF: Duration = Duration::from_secs(30);
/// How often [`LambdaAsync::wait_until_idle`] looks at the counters.
const IDLE_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Why the emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is outside Lambda's limits.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The HTTP client for the runner could not be built.
    #[error("cannot build the HTTP client for the function runner")]
    Client(#[source] reqwest::Error),
}

/// A running emulator: the Lambda Invoke API on [`LambdaAsync::endpoint_url`], with
/// asynchronous invocations queued, retried and recorded on failure (see the crate docs).
/// Dropping it stops the server and abandons events still pending (logged).
#[derive(Debug)]
pub struct LambdaAsync {
    address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

/// What the request handlers and the event tasks share.
#[derive(Debug)]
struct Shared {
    config: AsyncConfig,
    runner: FunctionRunner,
    destination: FailureDestination,
    counters: Counters,
    /// Limits the events running at once to `config.max_concurrency`.
    slots: Semaphore,
    /// One task per pending event; aborted when the emulator stops.
    events: Mutex<JoinSet<()>>,
}

/// An accepted `Event` invocation.
#[derive(Debug)]
struct QueuedEvent {
    request_id: String,
    function: String,
    payload: Bytes,
    accepted_at: Instant,
}

impl LambdaAsync {
    /// Starts the emulator on `config.listen` in front of `config.function_endpoint`.
    pub async fn start(
        config: AsyncConfig,
        destination: FailureDestination,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let runner = FunctionRunner::new(&config).map_err(StartError::Client)?;
        let bind_error = |source| StartError::Bind {
            address: config.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared {
            slots: Semaphore::new(config.max_concurrency),
            config,
            runner,
            destination,
            counters: Counters::default(),
            events: Mutex::new(JoinSet::new()),
        });
        let app = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            .route("/_lambda-async/stats", get(stats))
            .with_state(Arc::clone(&shared));
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stop.await;
            });
            if let Err(error) = serving.await {
                tracing::error!(%error, "the Invoke API server stopped");
            }
        });
        tracing::info!(%address, function_endpoint = %shared.config.function_endpoint, "lambda-async started");
        Ok(Self {
            address,
            shared,
            shutdown: Some(shutdown),
            server,
        })
    }

    /// The address the emulator listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The emulator's base URL, e.g. `http://127.0.0.1:45123`: the value for the invoking
    /// function's `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The queue's counters now.
    pub fn stats(&self) -> AsyncStats {
        self.shared.counters.snapshot()
    }

    /// Waits until no accepted event is pending, or until `timeout` has passed; returns the
    /// counters at that moment (check `pending` to tell which).
    pub async fn wait_until_idle(&self, timeout: Duration) -> AsyncStats {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if stats.pending == 0 || Instant::now() >= deadline {
                return stats;
            }
            tokio::time::sleep(IDLE_POLL_INTERVAL).await;
        }
    }
}

impl Drop for LambdaAsync {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.abort();
        let pending = self.stats().pending;
        if pending > 0 {
            tracing::warn!(pending, "lambda-async stopped with events still pending");
        }
        self.shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }
}

/// `GET /_lambda-async/stats`.
async fn stats(State(shared): State<Arc<Shared>>) -> axum::Json<AsyncStats> {
    axum::Json(shared.counters.snapshot())
}

/// `POST /2015-03-31/functions/{function}/invocations`.
async fn invoke(
    State(shared): State<Arc<Shared>>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle_invoke(&shared, &reference, &headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle_invoke(
    shared: &Arc<Shared>,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let function = api::function_name(reference)?;
    let config = &shared.config;
    if !config.functions.is_empty() && !config.functions.iter().any(|known| known == function) {
        return Err(ApiError::FunctionNotFound(config.function_arn(function)));
    }
    let invocation = InvocationType::from_headers(headers)?;
    let (limit, invocation_name) = match invocation {
        InvocationType::Event => (EVENT_PAYLOAD_LIMIT, "Event"),
        InvocationType::RequestResponse | InvocationType::DryRun => {
            (SYNC_PAYLOAD_LIMIT, "RequestResponse")
        }
    };
    let too_large = ApiError::PayloadTooLarge {
        limit,
        invocation: invocation_name,
    };
    let mut payload = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large)?;
    if payload.is_empty() {
        payload = Bytes::from_static(b"{}");
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(ApiError::PayloadNotJson);
    }
    let request_id = api::new_request_id();
    match invocation {
        InvocationType::DryRun => Ok(answer(StatusCode::NO_CONTENT, &request_id, Body::empty())),
        InvocationType::Event => {
            accept_event(shared, function, request_id.clone(), payload);
            Ok(answer(StatusCode::ACCEPTED, &request_id, Body::empty()))
        }
        InvocationType::RequestResponse => {
            let outcome = shared
                .runner
                .run(
                    config,
                    function,
                    &request_id,
                    payload,
                    headers.get(CLIENT_CONTEXT_HEADER),
                )
                .await;
            run_answer(config, function, &request_id, outcome)
        }
    }
}

/// Lambda's answer to a synchronous invocation that ran (or could not run).
fn run_answer(
    config: &AsyncConfig,
    function: &str,
    request_id: &str,
    outcome: RunOutcome,
) -> Result<Response, ApiError> {
    let (function_error, payload) = match outcome {
        RunOutcome::Succeeded { payload } => (None, payload),
        RunOutcome::FunctionFailed {
            function_error,
            payload,
        } => (Some(function_error), payload),
        RunOutcome::FunctionNotFound => {
            return Err(ApiError::FunctionNotFound(config.function_arn(function)));
        }
        RunOutcome::RunnerUnavailable { reason } => {
            return Err(ApiError::RunnerUnavailable(reason));
        }
    };
    let mut response = answer(StatusCode::OK, request_id, Body::from(payload));
    let headers = response.headers_mut();
    headers.insert(EXECUTED_VERSION_HEADER, HeaderValue::from_static(LATEST));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = function_error.and_then(|error| HeaderValue::from_str(&error).ok()) {
        headers.insert(FUNCTION_ERROR_HEADER, value);
    }
    Ok(response)
}

/// An answer with `status`, the request id header and `body`.
fn answer(status: StatusCode, request_id: &str, body: Body) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Queues an `Event` invocation: it runs in its own task, in the background.
fn accept_event(shared: &Arc<Shared>, function: &str, request_id: String, payload: Bytes) {
    shared.counters.accepted();
    tracing::info!(%request_id, function, "event accepted");
    let event = QueuedEvent {
        request_id,
        function: function.to_owned(),
        payload,
        accepted_at: Instant::now(),
    };
    let mut events = shared.events.lock().unwrap_or_else(PoisonError::into_inner);
    // Finished tasks are reaped here, so the set holds only pending events.
    while events.try_join_next().is_some() {}
    events.spawn(process_event(Arc::clone(shared), event));
}

/// Runs one event until it succeeds, its retries are exhausted, or it is too old.
async fn process_event(shared: Arc<Shared>, event: QueuedEvent) {
    let config = &shared.config;
    let mut runs: u32 = 0;
    let mut last_failure: Option<(String, Bytes)> = None;
    let mut unavailable_backoff = config.retry_delay;
    loop {
        if event.accepted_at.elapsed() > config.max_event_age {
            give_up(
                &shared,
                &event,
                FailureCondition::EventAgeExceeded,
                runs,
                last_failure,
            )
            .await;
            return;
        }
        let outcome = {
            // The semaphore is never closed, so acquiring only waits.
            let _slot = shared.slots.acquire().await;
            let _running = shared.counters.running();
            shared
                .runner
                .run(
                    config,
                    &event.function,
                    &event.request_id,
                    event.payload.clone(),
                    None,
                )
                .await
        };
        match outcome {
            RunOutcome::Succeeded { .. } => {
                shared.counters.ran();
                shared.counters.succeeded();
                tracing::info!(request_id = %event.request_id, runs = runs + 1, "event succeeded");
                return;
            }
            RunOutcome::FunctionFailed {
                function_error,
                payload,
            } => {
                runs += 1;
                shared.counters.ran();
                shared.counters.function_error();
                tracing::warn!(
                    request_id = %event.request_id,
                    run = runs,
                    error_type = error_type(&payload).as_deref().unwrap_or("(none)"),
                    "function error"
                );
                last_failure = Some((function_error, payload));
                if runs > config.max_retry_attempts {
                    give_up(
                        &shared,
                        &event,
                        FailureCondition::RetriesExhausted,
                        runs,
                        last_failure,
                    )
                    .await;
                    return;
                }
                tokio::time::sleep(config.retry_delay * runs).await;
            }
            RunOutcome::FunctionNotFound | RunOutcome::RunnerUnavailable { .. } => {
                tracing::warn!(
                    request_id = %event.request_id,
                    function = %event.function,
                    "the runner could not run the function; trying again"
                );
                tokio::time::sleep(unavailable_backoff).await;
                unavailable_backoff = (unavailable_backoff * 2).min(MAX_UNAVAILABLE_BACKOFF);
            }
        }
    }
}

/// Sends the event's invocation record to the failure destination.
async fn give_up(
    shared: &Shared,
    event: &QueuedEvent,
    condition: FailureCondition,
    runs: u32,
    last_failure: Option<(String, Bytes)>,
) {
    let (response_context, response_payload) = match last_failure {
        Some((function_error, payload)) => (
            Some(ResponseContext {
                status_code: StatusCode::OK.as_u16(),
                executed_version: LATEST.to_owned(),
                function_error: Some(function_error),
            }),
            Some(payload_value(&payload)),
        ),
        None => (None, None),
    };
    let record = InvocationRecord {
        version: RECORD_VERSION.to_owned(),
        timestamp: iso8601_millis(SystemTime::now()),
        request_context: RequestContext {
            request_id: event.request_id.clone(),
            function_arn: format!("{}:{LATEST}", shared.config.function_arn(&event.function)),
            condition,
            approximate_invoke_count: runs,
        },
        request_payload: payload_value(&event.payload),
        response_context,
        response_payload,
    };
    let delivered = match shared.destination.send(&record).await {
        Ok(()) => {
            let record = match shared.destination {
                FailureDestination::Sqs { .. } => "sent to the on-failure destination",
                FailureDestination::Discard => "discarded (no on-failure destination)",
            };
            tracing::error!(request_id = %event.request_id, ?condition, runs, record, "event given up");
            true
        }
        Err(error) => {
            tracing::error!(request_id = %event.request_id, ?condition, runs, error = %error, "event given up; its record could not be sent");
            false
        }
    };
    shared.counters.failed(delivered);
}

/// The `errorType` of a function's error object, for logs (never the message, which may quote
/// input).
fn error_type(payload: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    value.get("errorType")?.as_str().map(str::to_owned)
}
