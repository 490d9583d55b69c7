//! The seam between [`FeishuClient`](super::FeishuClient) and the network: one HTTP exchange
//! (request in, response or transport failure out) behind [`HttpExchange`], with
//! [`ReqwestExchange`] as the production implementation.
//!
//! Everything above the seam — token cache, body-code checks, retries, pacing, deadlines — is the
//! client's and runs unchanged over any exchange, so a test or a simulation can drive the real
//! client without sockets. The client applies its per-request timeout around the exchange with
//! `tokio::time`, so an exchange that never answers times out on tokio's (possibly paused) clock.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::config::ClientConfigError;

/// One request the client sends: always a JSON body, usually a `POST`.
#[derive(Clone)]
pub struct HttpRequest {
    /// The HTTP method.
    pub method: Method,
    /// The absolute URL: base URL, API path and fixed query string.
    pub url: String,
    /// The API path alone (e.g. `/open-apis/approval/v4/external_instances`), for routing
    /// without parsing `url`.
    pub path: &'static str,
    /// `Content-Type`, and `Authorization` (marked sensitive) on authenticated calls.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    /// Shows the body's length only: the token request's body holds the app secret.
    /// `Authorization` is marked sensitive, so the header map shows it as `Sensitive`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A complete response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers (the client reads `X-Tt-Logid` and `x-ogw-ratelimit-reset`).
    pub headers: HeaderMap,
    /// The body, read to its end.
    pub body: Vec<u8>,
}

/// The future an [`HttpExchange`] returns.
pub type ExchangeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

/// Sends one request and returns the whole response, or why none arrived.
///
/// Implementations do not retry, follow redirects or time out on their own: the client does all
/// of that. Any response — whatever its status — is an `Ok`.
pub trait HttpExchange: Send + Sync {
    /// Sends `request` and reads the response to its end.
    fn send(&self, request: HttpRequest) -> ExchangeFuture<'_>;
}

/// How a request failed to produce a response. Every kind is retried by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// No connection was made (refused, DNS, TLS handshake): Feishu never saw the request.
    Connect,
    /// No whole response arrived within the client's request timeout: Feishu may have applied
    /// the request.
    Timeout,
    /// The connection broke after the request may have been sent (reset, truncated body).
    Interrupted,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "could not connect",
            Self::Timeout => "timed out",
            Self::Interrupted => "connection interrupted",
        })
    }
}

/// Why an exchange produced no response. Its text never contains headers or bodies.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct TransportError {
    kind: TransportErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl TransportError {
    /// A failure of kind `kind`, optionally caused by `source` (which must not quote headers or
    /// bodies).
    pub fn new(kind: TransportErrorKind, source: Option<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { kind, source }
    }

    /// What kind of failure this was.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

impl From<reqwest::Error> for TransportError {
    fn from(error: reqwest::Error) -> Self {
        let kind = if error.is_connect() {
            TransportErrorKind::Connect
        } else if error.is_timeout() {
            TransportErrorKind::Timeout
        } else {
            TransportErrorKind::Interrupted
        };
        Self::new(kind, Some(Box::new(error)))
    }
}

/// The production [`HttpExchange`]: a `reqwest` client with a connection pool, no redirects and
/// no timeout of its own (the client's request timeout applies).
#[derive(Debug, Clone)]
pub struct ReqwestExchange {
    http: reqwest::Client,
}

impl ReqwestExchange {
    /// Builds the HTTP client (rustls).
    pub fn new() -> Result<Self, ClientConfigError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("feishu-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientConfigError::HttpClient)?;
        Ok(Self { http })
    }
}

impl HttpExchange for ReqwestExchange {
    fn send(&self, request: HttpRequest) -> ExchangeFuture<'_> {
        Box::pin(async move {
            let response = self
                .http
                .request(request.method, request.url)
                .headers(request.headers)
                .body(request.body)
                .send()
                .await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
}
