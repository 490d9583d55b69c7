//! [`FeishuClient`]: the Feishu / Lark OpenAPI calls the bridge makes, with a shared tenant token
//! cache, retries, rate-limit handling, per-API pacing and caller deadlines (`feishu-api.md` §0,
//! §1, §3–§5).
//!
//! Every call takes a deadline ([`tokio::time::Instant`]) that bounds all of its work: waiting for
//! a pacing slot or a token refresh, each HTTP request, and every wait between attempts. A call
//! - waits, before each attempt, for a slot of its API's token bucket ([`Pacing`]), and gives up
//!   at once if no slot starts before the deadline;
//! - checks the body `code` of every response, whatever the HTTP status;
//! - on a rejected tenant token (99991663 / 99991664 / 99991671) evicts the cached token,
//!   refreshes it and retries once;
//! - on a rate limit (HTTP 429 or code 99991400) waits as long as `x-ogw-ratelimit-reset` says
//!   but never less than its jittered backoff (a reset of 0 or none still backs off), or gives up
//!   at once with [`FeishuError::RateLimited`] if that wait would pass the deadline;
//! - retries transient failures (HTTP 5xx, code 1395001, connect errors, timeouts) with capped,
//!   jittered exponential backoff;
//! - returns every other failure at once, with Feishu's `code`, `msg` and `log_id`;
//! - reports what it did ([`CallReport`]) to the handle's [`CallObserver`], if it has one.
//!
//! The network sits behind [`HttpExchange`] ([`ReqwestExchange`] in production), and every timer
//! is `tokio::time`: over a scripted exchange, with paused time and a seeded jitter
//! ([`FeishuClientBuilder::jitter_seed`]), a client makes the same requests at the same virtual
//! times on every run.

mod config;
mod error;
mod exchange;
mod pacing;
mod report;
mod response;
mod retry;
mod token;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::{Instrument, Span, field};

pub use config::{
    ClientConfig, ClientConfigError, FEISHU_BASE_URL, FEISHU_DOMAIN, FeishuDomain,
    MAX_REFRESH_MARGIN, Pacing, RetryPolicy, UnknownDomain,
};
pub use error::{ApiFailure, FailureKind, FeishuError};
pub use exchange::{
    ExchangeFuture, HttpExchange, HttpRequest, HttpResponse, ReqwestExchange, TransportError,
    TransportErrorKind,
};
pub use report::{CallCollector, CallObserver, CallReport};

use crate::ids::MessageId;
use crate::models::auth::{TenantTokenRequest, TenantTokenResponse};
use crate::models::envelope::ApiResponse;
use crate::models::{
    CheckInstancesRequest, CheckInstancesResponse, CreateApprovalResponse, ExternalApproval,
    ExternalInstance, SendMessageRequest, SendMessageResponse, UpdateMessageRequest,
    UpdateMessageResponse,
};
use crate::secrets::{CredentialSource, Secret};
use pacing::Pacer;
use response::{Answer, ResponseHeaders, interpret};
use retry::{Jitter, NextStep, next_step};
use token::{IssuedToken, TokenCache};

/// Content type of every request body.
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A Feishu API the client calls (all are POSTs with a JSON body).
struct Endpoint {
    /// The path, also used in logs, errors, reports and as the pacing key.
    path: &'static str,
    /// The fixed query string, with its leading `?`, or empty.
    query: &'static str,
    /// Whether each attempt waits for a pacing slot of this path.
    paced: bool,
}

/// `POST /open-apis/auth/v3/tenant_access_token/internal` (§1); called without a token. Not
/// paced: the token cache refreshes at most once at a time.
const TENANT_TOKEN: Endpoint = Endpoint {
    path: "/open-apis/auth/v3/tenant_access_token/internal",
    query: "",
    paced: false,
};

/// `POST /open-apis/approval/v4/external_instances` (§4.1).
const SYNC_INSTANCE: Endpoint = Endpoint {
    path: "/open-apis/approval/v4/external_instances",
    query: "",
    paced: true,
};

/// `POST /open-apis/approval/v4/external_instances/check` (§4.2).
const CHECK_INSTANCES: Endpoint = Endpoint {
    path: "/open-apis/approval/v4/external_instances/check",
    query: "",
    paced: true,
};

/// `POST /open-apis/approval/v1/message/send` (§5.1).
const SEND_MESSAGE: Endpoint = Endpoint {
    path: "/open-apis/approval/v1/message/send",
    query: "",
    paced: true,
};

/// `POST /open-apis/approval/v1/message/update` (§5.2).
const UPDATE_MESSAGE: Endpoint = Endpoint {
    path: "/open-apis/approval/v1/message/update",
    query: "",
    paced: true,
};

/// `POST /open-apis/approval/v4/external_approvals` (§3). Viewer and manager ids are the
/// tenant-scoped `user_id`s and custom `department_id`s the bridge uses everywhere else.
const CREATE_APPROVAL: Endpoint = Endpoint {
    path: "/open-apis/approval/v4/external_approvals",
    query: "?department_id_type=department_id&user_id_type=user_id",
    paced: true,
};

/// A Feishu / Lark OpenAPI client for one app. Cloning is cheap and clones share the HTTP
/// exchange (connection pool), the tenant token cache, the pacing schedules and the jitter.
///
/// Build one with [`FeishuClient::new`] (production: `reqwest`, jitter seeded by the OS), or with
/// [`FeishuClient::builder`] to run it over another [`HttpExchange`] or with seeded jitter.
#[derive(Clone)]
pub struct FeishuClient {
    inner: Arc<Inner>,
    /// Receives a report of every call made through this handle.
    observer: Option<Arc<dyn CallObserver>>,
}

/// The state clones share.
struct Inner {
    exchange: Arc<dyn HttpExchange>,
    base_url: String,
    request_timeout: Duration,
    retry: RetryPolicy,
    jitter: Jitter,
    pacer: Pacer,
    credentials: Arc<CredentialSource>,
    token: TokenCache,
}

impl fmt::Debug for FeishuClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeishuClient")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

/// Builds a [`FeishuClient`]; see [`FeishuClient::builder`].
pub struct FeishuClientBuilder {
    config: ClientConfig,
    credentials: Arc<CredentialSource>,
    exchange: Option<Arc<dyn HttpExchange>>,
    jitter_seed: Option<u64>,
}

impl FeishuClientBuilder {
    /// Sends every request through `exchange` instead of a new [`ReqwestExchange`]. URLs are
    /// still built from the configuration's base URL.
    pub fn exchange(mut self, exchange: Arc<dyn HttpExchange>) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// Draws retry jitter from a generator seeded with `seed` instead of the operating system,
    /// so the same calls against the same answers wait the same times.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<FeishuClient, ClientConfigError> {
        let base_url = self.config.validate()?;
        let exchange: Arc<dyn HttpExchange> = match self.exchange {
            Some(exchange) => exchange,
            None => Arc::new(ReqwestExchange::new()?),
        };
        let jitter = self
            .jitter_seed
            .map_or_else(Jitter::from_os, Jitter::seeded);
        Ok(FeishuClient {
            inner: Arc::new(Inner {
                exchange,
                base_url,
                request_timeout: self.config.request_timeout,
                retry: self.config.retry,
                jitter,
                pacer: Pacer::new(self.config.pacing),
                credentials: self.credentials,
                token: TokenCache::new(self.config.refresh_margin),
            }),
            observer: None,
        })
    }
}

impl FeishuClient {
    /// Builds a production client (`reqwest`, jitter seeded by the OS) after checking `config`.
    /// Credentials are read from `credentials` at every token refresh, so a rotated app secret
    /// is picked up without a restart.
    pub fn new(
        config: ClientConfig,
        credentials: Arc<CredentialSource>,
    ) -> Result<Self, ClientConfigError> {
        Self::builder(config, credentials).build()
    }

    /// A builder for a client over a custom [`HttpExchange`] or with seeded jitter.
    pub fn builder(
        config: ClientConfig,
        credentials: Arc<CredentialSource>,
    ) -> FeishuClientBuilder {
        FeishuClientBuilder {
            config,
            credentials,
            exchange: None,
            jitter_seed: None,
        }
    }

    /// A handle on the same client (same token cache, pacing, connections) that reports every
    /// call it makes to `observer`, instead of to this handle's observer. Use one per job to
    /// collect that job's calls.
    pub fn observed_by(&self, observer: Arc<dyn CallObserver>) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            observer: Some(observer),
        }
    }

    /// A handle on the same client that reports every call to `observer` as well as to this
    /// handle's observer (e.g. to learn how one call went without losing the job's metrics).
    pub fn also_observed_by(&self, observer: Arc<dyn CallObserver>) -> Self {
        let observer: Arc<dyn CallObserver> = match &self.observer {
            Some(first) => {
                let first = Arc::clone(first);
                Arc::new(move |report: &CallReport| {
                    first.call_finished(report);
                    observer.call_finished(report);
                })
            }
            None => observer,
        };
        self.observed_by(observer)
    }

    /// The current tenant access token, from the cache or freshly obtained.
    pub async fn tenant_access_token(&self, deadline: Instant) -> Result<Secret, FeishuError> {
        let trace = CallTrace::start();
        self.with_retries(&TENANT_TOKEN, deadline, &trace, || {
            self.cached_token(&trace)
        })
        .await
    }

    /// Creates or updates (by `instance_id`) an external instance. Idempotent, so transient
    /// failures are retried. Any answer with code 0 is a success, whatever instance it echoes:
    /// the echo is not read, so an echo the models cannot parse never fails an accepted push.
    pub async fn sync_instance(
        &self,
        instance: &ExternalInstance,
        deadline: Instant,
    ) -> Result<(), FeishuError> {
        self.call(&SYNC_INSTANCE, instance, deadline, ignore_data)
            .await
    }

    /// Asks which of the given instance and task versions Feishu does not have.
    pub async fn check_instances(
        &self,
        request: &CheckInstancesRequest,
        deadline: Instant,
    ) -> Result<CheckInstancesResponse, FeishuError> {
        self.call(&CHECK_INSTANCES, request, deadline, read_data)
            .await
    }

    /// Sends an approval bot card and returns its message id, when Feishu's answer carries one.
    /// Transient failures are retried, so set the request's `uuid`: Feishu then delivers a
    /// repeated send only once, answering it with success and the first card's id, no id, or
    /// another id (`feishu-api.md` §5.1) — an answer to a retried send names the card only
    /// unreliably.
    pub async fn send_message(
        &self,
        request: &SendMessageRequest,
        deadline: Instant,
    ) -> Result<Option<MessageId>, FeishuError> {
        let response: SendMessageResponse = self
            .call(&SEND_MESSAGE, request, deadline, read_data)
            .await?;
        Ok(response.message_id)
    }

    /// Updates the status of an approval bot card and returns its message id.
    pub async fn update_message(
        &self,
        request: &UpdateMessageRequest,
        deadline: Instant,
    ) -> Result<MessageId, FeishuError> {
        let response: UpdateMessageResponse = self
            .call(&UPDATE_MESSAGE, request, deadline, read_data)
            .await?;
        Ok(response.message_id)
    }

    /// Creates or updates (by the custom `approval_code`) an external approval definition and
    /// returns the code Feishu assigned, which instances must be synced with. Ids in `viewers`
    /// and `managers` are `user_id`s and `department_id`s.
    pub async fn create_approval(
        &self,
        approval: &ExternalApproval,
        deadline: Instant,
    ) -> Result<String, FeishuError> {
        let response: CreateApprovalResponse = self
            .call(&CREATE_APPROVAL, approval, deadline, read_data)
            .await?;
        Ok(response.approval_code)
    }

    /// Calls an authenticated endpoint with retries and returns what `extract` reads from the
    /// successful answer.
    async fn call<Req, T>(
        &self,
        endpoint: &Endpoint,
        request: &Req,
        deadline: Instant,
        extract: fn(&[u8]) -> Result<T, &'static str>,
    ) -> Result<T, FeishuError>
    where
        Req: Serialize,
    {
        let trace = CallTrace::start();
        let Ok(body) = serde_json::to_vec(request) else {
            let error = FeishuError::EncodeRequest {
                path: endpoint.path,
            };
            self.report(endpoint, &trace, Some(&error));
            return Err(error);
        };
        self.with_retries(endpoint, deadline, &trace, || {
            self.authenticated_attempt(endpoint, &body, extract, &trace)
        })
        .await
    }

    /// One attempt of an authenticated call. A rejected token is evicted before returning.
    async fn authenticated_attempt<T>(
        &self,
        endpoint: &Endpoint,
        body: &[u8],
        extract: fn(&[u8]) -> Result<T, &'static str>,
        trace: &CallTrace,
    ) -> Result<T, FeishuError> {
        let token = self.cached_token(trace).await?;
        let result = self
            .exchange(endpoint, Some(&token), body, extract, trace)
            .await;
        if result.as_ref().is_err_and(FeishuError::is_token_rejected) {
            self.inner.token.evict(&token).await;
        }
        result
    }

    /// The cached tenant token, refreshed (once for all concurrent callers) when due.
    async fn cached_token(&self, trace: &CallTrace) -> Result<Secret, FeishuError> {
        // Boxed: the refresh nests the credential source's (AWS SDK) future inside every call's
        // future, deep enough to overflow the compiler's layout depth limit.
        self.inner
            .token
            .get_or_refresh(|| Box::pin(self.request_token(trace)))
            .await
    }

    /// Requests a tenant token with the current credentials (one attempt).
    async fn request_token(&self, trace: &CallTrace) -> Result<IssuedToken, FeishuError> {
        trace.update(|progress| progress.token_refreshes += 1);
        let credentials = self
            .inner
            .credentials
            .credentials()
            .await
            .map_err(FeishuError::Credentials)?;
        let request = TenantTokenRequest {
            app_id: credentials.app_id.clone(),
            app_secret: credentials.app_secret.clone(),
        };
        let body = serde_json::to_vec(&request).map_err(|_| FeishuError::EncodeRequest {
            path: TENANT_TOKEN.path,
        })?;
        self.exchange(&TENANT_TOKEN, None, &body, read_token, trace)
            .await
    }

    /// Runs `attempt` until it succeeds, fails for good, runs out of attempts or would pass the
    /// deadline, inside a span recording the path, attempts, last `code` and `log_id`; then
    /// reports the call to the observer.
    async fn with_retries<T, F, Fut>(
        &self,
        endpoint: &Endpoint,
        deadline: Instant,
        trace: &CallTrace,
        attempt: F,
    ) -> Result<T, FeishuError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FeishuError>>,
    {
        let span = tracing::info_span!(
            "feishu_call",
            path = endpoint.path,
            attempts = field::Empty,
            code = field::Empty,
            log_id = field::Empty,
        );
        let result = self
            .retry_loop(endpoint, deadline, trace, attempt)
            .instrument(span)
            .await;
        self.report(endpoint, trace, result.as_ref().err());
        result
    }

    /// Hands the report of a finished call to this handle's observer, if it has one.
    fn report(&self, endpoint: &Endpoint, trace: &CallTrace, error: Option<&FeishuError>) {
        if let Some(observer) = &self.observer {
            observer.call_finished(&trace.report(endpoint.path, error));
        }
    }

    /// The body of [`Self::with_retries`], run inside its span.
    async fn retry_loop<T, F, Fut>(
        &self,
        endpoint: &Endpoint,
        deadline: Instant,
        trace: &CallTrace,
        mut attempt: F,
    ) -> Result<T, FeishuError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FeishuError>>,
    {
        let path = endpoint.path;
        let span = Span::current();
        let mut attempts = 0;
        let mut token_retry_available = true;
        let mut previous_failure = None;
        loop {
            if endpoint.paced {
                let Some(slot) = self.inner.pacer.reserve(path, deadline) else {
                    tracing::debug!("Feishu call has no pacing slot before its deadline");
                    return Err(FeishuError::DeadlineExceeded {
                        path,
                        attempts,
                        last: previous_failure.map(Box::new),
                    });
                };
                let wait = slot.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    trace.update(|progress| progress.paced += wait);
                    tokio::time::sleep_until(slot).await;
                }
            }
            attempts += 1;
            trace.update(|progress| progress.attempts = attempts);
            span.record("attempts", attempts);
            let attempt_span = tracing::debug_span!("feishu_attempt", attempt = attempts);
            let error =
                match tokio::time::timeout_at(deadline, attempt().instrument(attempt_span)).await {
                    Ok(Ok(value)) => {
                        span.record("code", 0);
                        if let Some(log_id) = trace.last_log_id() {
                            span.record("log_id", log_id);
                        }
                        tracing::debug!("Feishu call succeeded");
                        return Ok(value);
                    }
                    Ok(Err(error)) => error,
                    Err(_elapsed) => {
                        tracing::debug!("Feishu call ran into its deadline");
                        return Err(FeishuError::DeadlineExceeded {
                            path,
                            attempts,
                            last: previous_failure.map(Box::new),
                        });
                    }
                };
            if let Some(code) = error.code() {
                span.record("code", code);
            }
            if let Some(log_id) = error.log_id() {
                span.record("log_id", log_id);
            }

            // The one retry after a rejected token does not count against the retry budget.
            let budgeted_attempts = if token_retry_available {
                attempts
            } else {
                attempts.saturating_sub(1)
            };
            let step = next_step(
                &self.inner.retry,
                &self.inner.jitter,
                &error,
                budgeted_attempts,
                token_retry_available,
            );
            let wait = match step {
                NextStep::GiveUp => {
                    tracing::debug!(%error, "Feishu call failed");
                    return Err(error);
                }
                NextStep::RetryWithNewToken => {
                    token_retry_available = false;
                    Duration::ZERO
                }
                NextStep::RetryAfter(wait) => wait,
            };
            if wait >= deadline.saturating_duration_since(Instant::now()) {
                tracing::debug!(%error, wait_ms = wait.as_millis(), "Feishu call failed; no time left to retry");
                return Err(match error {
                    rate_limited @ FeishuError::RateLimited { .. } => rate_limited,
                    other => FeishuError::DeadlineExceeded {
                        path,
                        attempts,
                        last: Some(Box::new(other)),
                    },
                });
            }
            tracing::info!(%error, wait_ms = wait.as_millis(), "Feishu call failed; retrying");
            tokio::time::sleep(wait).await;
            previous_failure = Some(error);
        }
    }

    /// Sends one request through the exchange, within the request timeout, and interprets the
    /// response with [`interpret`]; records the answer in `trace`.
    async fn exchange<T>(
        &self,
        endpoint: &Endpoint,
        token: Option<&Secret>,
        body: &[u8],
        extract: fn(&[u8]) -> Result<T, &'static str>,
        trace: &CallTrace,
    ) -> Result<T, FeishuError> {
        let path = endpoint.path;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
        if let Some(token) = token {
            headers.insert(AUTHORIZATION, bearer(token)?);
        }
        let request = HttpRequest {
            method: Method::POST,
            url: format!("{}{}{}", self.inner.base_url, path, endpoint.query),
            path,
            headers,
            body: body.to_vec(),
        };
        let sent = tokio::time::timeout(
            self.inner.request_timeout,
            self.inner.exchange.send(request),
        )
        .await;
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(source)) => return Err(FeishuError::Transport { path, source }),
            Err(_elapsed) => {
                let source = TransportError::new(TransportErrorKind::Timeout, None);
                return Err(FeishuError::Transport { path, source });
            }
        };
        let headers = ResponseHeaders::read(&response.headers);
        let result = interpret(path, response.status, headers, &response.body, extract);
        trace.record_answer(&result);
        result.map(|answer| answer.value)
    }
}

/// The `Authorization` header for `token`, marked sensitive so no `Debug` shows it.
fn bearer(token: &Secret) -> Result<HeaderValue, FeishuError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        FeishuError::UnexpectedResponse {
            path: TENANT_TOKEN.path,
            status: 200,
            problem: "a token that cannot be sent in a header",
            log_id: None,
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// What the attempts of one call have done so far; becomes its [`CallReport`].
struct CallTrace {
    started: Instant,
    progress: Mutex<Progress>,
}

/// The counters and last answer of a [`CallTrace`].
#[derive(Default)]
struct Progress {
    attempts: u32,
    rate_limited: u32,
    token_refreshes: u32,
    paced: Duration,
    /// `(code, HTTP status, log id)` of the last answer.
    last_answer: Option<(Option<i64>, u16, Option<String>)>,
}

impl CallTrace {
    /// A trace of a call starting now.
    fn start() -> Self {
        Self {
            started: Instant::now(),
            progress: Mutex::default(),
        }
    }

    /// Changes the progress (one call's attempts run one after another, so the lock is never
    /// contended).
    fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.progress.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Records an answer Feishu sent (a transport failure is none).
    fn record_answer<T>(&self, result: &Result<Answer<T>, FeishuError>) {
        let answer = match result {
            Ok(answer) => Some((Some(0), answer.status, answer.log_id.clone())),
            Err(error) => error
                .http_status()
                .map(|status| (error.code(), status, error.log_id().map(str::to_owned))),
        };
        self.update(|progress| {
            if matches!(result, Err(FeishuError::RateLimited { .. })) {
                progress.rate_limited += 1;
            }
            if answer.is_some() {
                progress.last_answer = answer;
            }
        });
    }

    /// The log id of the last answer.
    fn last_log_id(&self) -> Option<String> {
        let progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        progress
            .last_answer
            .as_ref()
            .and_then(|(_, _, log_id)| log_id.clone())
    }

    /// The report of the finished call to `path`, which failed with `error` if given.
    fn report(&self, path: &'static str, error: Option<&FeishuError>) -> CallReport {
        let progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        let (code, http_status, log_id) = match &progress.last_answer {
            Some((code, status, log_id)) => (*code, Some(*status), log_id.clone()),
            None => (None, None, None),
        };
        CallReport {
            path,
            failure: error.map(FeishuError::kind),
            code,
            http_status,
            log_id,
            attempts: progress.attempts,
            rate_limited: progress.rate_limited,
            token_refreshes: progress.token_refreshes,
            paced: progress.paced,
            latency: self.started.elapsed(),
        }
    }
}

/// Reads `data` from a successful envelope.
fn read_data<Data: DeserializeOwned>(body: &[u8]) -> Result<Data, &'static str> {
    let response: ApiResponse<Data> = serde_json::from_slice(body)
        .map_err(|_| "a payload that does not match the documented shape")?;
    response.data.ok_or("a success without data")
}

/// Accepts any successful envelope without reading its `data`.
fn ignore_data(_body: &[u8]) -> Result<(), &'static str> {
    Ok(())
}

/// Reads the token and its lifetime from a successful (flat) token response.
fn read_token(body: &[u8]) -> Result<IssuedToken, &'static str> {
    let response: TenantTokenResponse =
        serde_json::from_slice(body).map_err(|_| "a token response of the wrong shape")?;
    match (response.tenant_access_token, response.expire) {
        (Some(token), Some(expire)) if !token.expose().is_empty() => {
            if !token.expose().bytes().all(|byte| byte.is_ascii_graphic()) {
                return Err("a token that cannot be sent in a header");
            }
            Ok(IssuedToken {
                token,
                expires_in: Duration::from_secs(expire),
            })
        }
        _ => Err("a success without a token and its expiry"),
    }
}
