//! [`FeishuClient`]: the Feishu / Lark OpenAPI calls the bridge makes, with a shared tenant token
//! cache, retries, rate-limit handling and caller deadlines (`feishu-api.md` §0, §1, §3–§5).
//!
//! Every call takes a deadline ([`tokio::time::Instant`]) that bounds all of its work: waiting for
//! a token refresh, each HTTP request, and every wait between attempts. A call
//! - checks the body `code` of every response, whatever the HTTP status;
//! - on a rejected tenant token (99991663 / 99991664 / 99991671) evicts the cached token,
//!   refreshes it and retries once;
//! - on a rate limit (HTTP 429 or code 99991400) waits as long as `x-ogw-ratelimit-reset` says,
//!   or gives up at once with [`FeishuError::RateLimited`] if that wait would pass the deadline;
//! - retries transient failures (HTTP 5xx, code 1395001, connect errors, timeouts) with capped,
//!   jittered exponential backoff;
//! - returns every other failure at once, with Feishu's `code`, `msg` and `log_id`.

mod config;
mod error;
mod response;
mod retry;
mod token;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::{Instrument, Span, field};

pub use config::{
    ClientConfig, ClientConfigError, FEISHU_BASE_URL, FEISHU_DOMAIN, FeishuDomain,
    MAX_REFRESH_MARGIN, RetryPolicy, UnknownDomain,
};
pub use error::{ApiFailure, FeishuError};

use crate::ids::MessageId;
use crate::models::auth::{TenantTokenRequest, TenantTokenResponse};
use crate::models::envelope::ApiResponse;
use crate::models::{
    CheckInstancesRequest, CheckInstancesResponse, CreateApprovalResponse, ExternalApproval,
    ExternalInstance, SendMessageRequest, SendMessageResponse, SyncInstanceResponse,
    UpdateMessageRequest, UpdateMessageResponse,
};
use crate::secrets::{CredentialSource, Secret};
use response::{ResponseHeaders, interpret};
use retry::{NextStep, next_step};
use token::{IssuedToken, TokenCache};

/// Content type of every request body.
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A Feishu API the client calls (all are POSTs with a JSON body).
struct Endpoint {
    /// The path, also used in logs and errors.
    path: &'static str,
    /// The fixed query string, with its leading `?`, or empty.
    query: &'static str,
}

/// `POST /open-apis/auth/v3/tenant_access_token/internal` (§1); called without a token.
const TENANT_TOKEN: Endpoint = Endpoint {
    path: "/open-apis/auth/v3/tenant_access_token/internal",
    query: "",
};

/// `POST /open-apis/approval/v4/external_instances` (§4.1).
const SYNC_INSTANCE: Endpoint = Endpoint {
    path: "/open-apis/approval/v4/external_instances",
    query: "",
};

/// `POST /open-apis/approval/v4/external_instances/check` (§4.2).
const CHECK_INSTANCES: Endpoint = Endpoint {
    path: "/open-apis/approval/v4/external_instances/check",
    query: "",
};

/// `POST /open-apis/approval/v1/message/send` (§5.1).
const SEND_MESSAGE: Endpoint = Endpoint {
    path: "/open-apis/approval/v1/message/send",
    query: "",
};

/// `POST /open-apis/approval/v1/message/update` (§5.2).
const UPDATE_MESSAGE: Endpoint = Endpoint {
    path: "/open-apis/approval/v1/message/update",
    query: "",
};

/// `POST /open-apis/approval/v4/external_approvals` (§3). Viewer and manager ids are the
/// tenant-scoped `user_id`s and custom `department_id`s the bridge uses everywhere else.
const CREATE_APPROVAL: Endpoint = Endpoint {
    path: "/open-apis/approval/v4/external_approvals",
    query: "?department_id_type=department_id&user_id_type=user_id",
};

/// A Feishu / Lark OpenAPI client for one app. Cloning is cheap and clones share the HTTP
/// connection pool and the tenant token cache.
#[derive(Clone)]
pub struct FeishuClient {
    inner: Arc<Inner>,
}

/// The state clones share.
struct Inner {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
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

impl FeishuClient {
    /// Builds a client after checking `config`. Credentials are read from `credentials` at every
    /// token refresh, so a rotated app secret is picked up without a restart.
    pub fn new(
        config: ClientConfig,
        credentials: Arc<CredentialSource>,
    ) -> Result<Self, ClientConfigError> {
        let base_url = config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("feishu-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientConfigError::HttpClient)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                retry: config.retry,
                credentials,
                token: TokenCache::new(config.refresh_margin),
            }),
        })
    }

    /// The current tenant access token, from the cache or freshly obtained.
    pub async fn tenant_access_token(&self, deadline: Instant) -> Result<Secret, FeishuError> {
        self.with_retries(&TENANT_TOKEN, deadline, || self.cached_token())
            .await
    }

    /// Creates or updates (by `instance_id`) an external instance, and returns the instance as
    /// Feishu stored it. Idempotent, so transient failures are retried.
    pub async fn sync_instance(
        &self,
        instance: &ExternalInstance,
        deadline: Instant,
    ) -> Result<ExternalInstance, FeishuError> {
        let response: SyncInstanceResponse = self.call(&SYNC_INSTANCE, instance, deadline).await?;
        Ok(response.data)
    }

    /// Asks which of the given instance and task versions Feishu does not have.
    pub async fn check_instances(
        &self,
        request: &CheckInstancesRequest,
        deadline: Instant,
    ) -> Result<CheckInstancesResponse, FeishuError> {
        self.call(&CHECK_INSTANCES, request, deadline).await
    }

    /// Sends an approval bot card and returns its message id. Transient failures are retried, so
    /// set the request's `uuid`: Feishu then delivers a repeated send only once.
    pub async fn send_message(
        &self,
        request: &SendMessageRequest,
        deadline: Instant,
    ) -> Result<MessageId, FeishuError> {
        let response: SendMessageResponse = self.call(&SEND_MESSAGE, request, deadline).await?;
        Ok(response.message_id)
    }

    /// Updates the status of an approval bot card and returns its message id.
    pub async fn update_message(
        &self,
        request: &UpdateMessageRequest,
        deadline: Instant,
    ) -> Result<MessageId, FeishuError> {
        let response: UpdateMessageResponse = self.call(&UPDATE_MESSAGE, request, deadline).await?;
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
        let response: CreateApprovalResponse =
            self.call(&CREATE_APPROVAL, approval, deadline).await?;
        Ok(response.approval_code)
    }

    /// Calls an authenticated endpoint with retries and returns its `data`.
    async fn call<Req, Data>(
        &self,
        endpoint: &Endpoint,
        request: &Req,
        deadline: Instant,
    ) -> Result<Data, FeishuError>
    where
        Req: Serialize,
        Data: DeserializeOwned,
    {
        let path = endpoint.path;
        let body = serde_json::to_vec(request).map_err(|_| FeishuError::EncodeRequest { path })?;
        self.with_retries(endpoint, deadline, || {
            self.authenticated_attempt(endpoint, &body)
        })
        .await
    }

    /// One attempt of an authenticated call. A rejected token is evicted before returning.
    async fn authenticated_attempt<Data: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        body: &[u8],
    ) -> Result<Data, FeishuError> {
        let token = self.cached_token().await?;
        let result = self.exchange(endpoint, Some(&token), body, read_data).await;
        if result.as_ref().is_err_and(FeishuError::is_token_rejected) {
            self.inner.token.evict(&token).await;
        }
        result
    }

    /// The cached tenant token, refreshed (once for all concurrent callers) when due.
    async fn cached_token(&self) -> Result<Secret, FeishuError> {
        // Boxed: the refresh nests the credential source's (AWS SDK) future inside every call's
        // future, deep enough to overflow the compiler's layout depth limit.
        self.inner
            .token
            .get_or_refresh(|| Box::pin(self.request_token()))
            .await
    }

    /// Requests a tenant token with the current credentials (one attempt).
    async fn request_token(&self) -> Result<IssuedToken, FeishuError> {
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
        self.exchange(&TENANT_TOKEN, None, &body, read_token).await
    }

    /// Runs `attempt` until it succeeds, fails for good, runs out of attempts or would pass the
    /// deadline, inside a span recording the path, attempts, last `code` and `log_id`.
    async fn with_retries<T, F, Fut>(
        &self,
        endpoint: &Endpoint,
        deadline: Instant,
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
        self.retry_loop(endpoint.path, deadline, attempt)
            .instrument(span)
            .await
    }

    /// The body of [`Self::with_retries`], run inside its span.
    async fn retry_loop<T, F, Fut>(
        &self,
        path: &'static str,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<T, FeishuError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FeishuError>>,
    {
        let span = Span::current();
        let mut attempts = 0;
        let mut token_retry_available = true;
        let mut previous_failure = None;
        loop {
            attempts += 1;
            span.record("attempts", attempts);
            let attempt_span = tracing::debug_span!("feishu_attempt", attempt = attempts);
            let error =
                match tokio::time::timeout_at(deadline, attempt().instrument(attempt_span)).await {
                    Ok(Ok(value)) => {
                        span.record("code", 0);
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

    /// Sends one request and interprets the response with [`interpret`].
    async fn exchange<T>(
        &self,
        endpoint: &Endpoint,
        token: Option<&Secret>,
        body: &[u8],
        extract: impl FnOnce(&[u8]) -> Result<T, &'static str>,
    ) -> Result<T, FeishuError> {
        let path = endpoint.path;
        let transport = |source| FeishuError::Transport { path, source };
        let url = format!("{}{}{}", self.inner.base_url, path, endpoint.query);
        let mut request = self
            .inner
            .http
            .post(url)
            .header(CONTENT_TYPE, JSON_UTF8)
            .body(body.to_vec());
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = ResponseHeaders::read(response.headers());
        let body = response.bytes().await.map_err(transport)?;
        interpret(path, status, headers, &body, extract)
    }
}

/// Reads `data` from a successful envelope.
fn read_data<Data: DeserializeOwned>(body: &[u8]) -> Result<Data, &'static str> {
    let response: ApiResponse<Data> = serde_json::from_slice(body)
        .map_err(|_| "a payload that does not match the documented shape")?;
    response.data.ok_or("a success without data")
}

/// Reads the token and its lifetime from a successful (flat) token response.
fn read_token(body: &[u8]) -> Result<IssuedToken, &'static str> {
    let response: TenantTokenResponse =
        serde_json::from_slice(body).map_err(|_| "a token response of the wrong shape")?;
    match (response.tenant_access_token, response.expire) {
        (Some(token), Some(expire)) if !token.expose().is_empty() => Ok(IssuedToken {
            token,
            expires_in: Duration::from_secs(expire),
        }),
        _ => Err("a success without a token and its expiry"),
    }
}
