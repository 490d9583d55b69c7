//! [`FeishuError`]: why a Feishu call failed, and whether trying again later can help.
//!
//! Error text carries the API path, HTTP status, Feishu's `code`, `msg` and `log_id`, never a
//! token, the app secret, a request body or a serde message quoting a response.

use std::fmt;
use std::time::Duration;

use super::exchange::TransportError;
use crate::models::envelope::{FieldViolation, PermissionViolation};
use crate::secrets::SecretError;

/// Body codes meaning "the tenant token was not accepted" (`feishu-api.md` §1): evict the cached
/// token, refresh, retry once.
pub(crate) const TOKEN_REJECTED_CODES: [i64; 3] = [99991663, 99991664, 99991671];

/// Body code of a rate-limited request (`feishu-api.md` §0).
pub(crate) const RATE_LIMITED_CODE: i64 = 99991400;

/// Body code of Feishu's "There have been some errors. Please try again later".
pub(crate) const TRY_AGAIN_LATER_CODE: i64 = 1395001;

/// Body code documented as "tenant_id not found", which integrators also see when one instance is
/// synced too often: backing off and retrying costs little, dropping the sync loses an update.
pub(crate) const SYNCED_TOO_OFTEN_CODE: i64 = 1390014;

/// Why a Feishu call failed.
#[derive(Debug, thiserror::Error)]
pub enum FeishuError {
    /// Feishu answered with a failure `code` or a non-success HTTP status.
    #[error(transparent)]
    Api(Box<ApiFailure>),
    /// Feishu throttled the call and the wait it asked for did not fit in the deadline or the
    /// retry budget.
    #[error(
        "Feishu {path} rate limited the call (HTTP {status}{}){}",
        RetryAfter(.retry_after),
        LogId(.log_id.as_deref())
    )]
    RateLimited {
        /// The API path.
        path: &'static str,
        /// The HTTP status (429, or e.g. 400 on legacy APIs).
        status: u16,
        /// The body `code` (99991400) when the body had one.
        code: Option<i64>,
        /// How long Feishu asked to wait (`x-ogw-ratelimit-reset`), when it said.
        retry_after: Option<Duration>,
        /// Feishu's log id.
        log_id: Option<String>,
    },
    /// The response was not the JSON Feishu documents for this API.
    #[error("Feishu {path} answered HTTP {status} with {problem}{}", LogId(.log_id.as_deref()))]
    UnexpectedResponse {
        /// The API path.
        path: &'static str,
        /// The HTTP status.
        status: u16,
        /// What was wrong, e.g. "a body that is not a Feishu envelope".
        problem: &'static str,
        /// Feishu's log id, from the `X-Tt-Logid` header.
        log_id: Option<String>,
    },
    /// The request did not complete: connect error, timeout, connection reset.
    #[error("request to Feishu {path} failed")]
    Transport {
        /// The API path.
        path: &'static str,
        /// What went wrong (its source names the URL at most, never headers or bodies).
        #[source]
        source: TransportError,
    },
    /// The caller's deadline passed, or would have passed before the next attempt.
    #[error("deadline exceeded for Feishu {path} after {attempts} attempt(s)")]
    DeadlineExceeded {
        /// The API path.
        path: &'static str,
        /// Attempts started before giving up.
        attempts: u32,
        /// The failure of the last finished attempt, if any finished.
        #[source]
        last: Option<Box<FeishuError>>,
    },
    /// The app credentials could not be loaded for a token refresh.
    #[error("could not load the Feishu app credentials")]
    Credentials(#[source] SecretError),
    /// The request body could not be serialized (never happens for the crate's models).
    #[error("could not serialize the request body for Feishu {path}")]
    EncodeRequest {
        /// The API path.
        path: &'static str,
    },
}

/// A failure Feishu reported in a readable envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// The API path.
    pub path: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// Feishu's `code` (e.g. 1390001 "param is invalid").
    pub code: i64,
    /// Feishu's `msg`.
    pub msg: String,
    /// Feishu's log id: `error.log_id`, else the `X-Tt-Logid` header.
    pub log_id: Option<String>,
    /// The request fields Feishu rejected (`error.field_violations`).
    pub field_violations: Vec<FieldViolation>,
    /// The permissions Feishu found missing (`error.permission_violations`).
    pub permission_violations: Vec<PermissionViolation>,
}

impl ApiFailure {
    /// Whether a later attempt may succeed: a server error or Feishu's "try again later".
    pub fn is_transient(&self) -> bool {
        self.status >= 500 || [TRY_AGAIN_LATER_CODE, SYNCED_TOO_OFTEN_CODE].contains(&self.code)
    }

    /// Whether Feishu rejected the tenant token.
    pub fn is_token_rejected(&self) -> bool {
        TOKEN_REJECTED_CODES.contains(&self.code)
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Feishu {} failed with code {} ({:?}, HTTP {}){}",
            self.path,
            self.code,
            self.msg,
            self.status,
            LogId(self.log_id.as_deref())
        )?;
        let mut fields = self
            .field_violations
            .iter()
            .filter_map(|violation| violation.field.as_deref());
        if let Some(first) = fields.next() {
            write!(f, "; rejected fields: {first}")?;
            for field in fields {
                write!(f, ", {field}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// The kind of a [`FeishuError`], one per variant: a label for counting failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// [`FeishuError::Api`].
    Api,
    /// [`FeishuError::RateLimited`].
    RateLimited,
    /// [`FeishuError::UnexpectedResponse`].
    UnexpectedResponse,
    /// [`FeishuError::Transport`].
    Transport,
    /// [`FeishuError::DeadlineExceeded`].
    DeadlineExceeded,
    /// [`FeishuError::Credentials`].
    Credentials,
    /// [`FeishuError::EncodeRequest`].
    EncodeRequest,
}

impl FeishuError {
    /// The kind of this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Api(_) => FailureKind::Api,
            Self::RateLimited { .. } => FailureKind::RateLimited,
            Self::UnexpectedResponse { .. } => FailureKind::UnexpectedResponse,
            Self::Transport { .. } => FailureKind::Transport,
            Self::DeadlineExceeded { .. } => FailureKind::DeadlineExceeded,
            Self::Credentials(_) => FailureKind::Credentials,
            Self::EncodeRequest { .. } => FailureKind::EncodeRequest,
        }
    }

    /// Whether the failure may go away if the whole operation is retried later (for example by
    /// Lambda's asynchronous retries). The client has already retried within the deadline.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A token rejected even after a fresh one was fetched is usually a revocation race
            // or a token rotated under us; a later attempt with the next token can succeed.
            Self::Api(failure) => failure.is_transient() || failure.is_token_rejected(),
            Self::UnexpectedResponse { status, .. } => *status >= 500,
            Self::RateLimited { .. }
            | Self::Transport { .. }
            | Self::DeadlineExceeded { .. }
            | Self::Credentials(_) => true,
            Self::EncodeRequest { .. } => false,
        }
    }

    /// Feishu's body `code`, when the failure (or, for a deadline, the last attempt) had one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api(failure) => Some(failure.code),
            Self::RateLimited { code, .. } => *code,
            Self::DeadlineExceeded { last, .. } => last.as_deref().and_then(Self::code),
            _ => None,
        }
    }

    /// Feishu's log id (give it to Feishu support), when the failure carried one.
    pub fn log_id(&self) -> Option<&str> {
        match self {
            Self::Api(failure) => failure.log_id.as_deref(),
            Self::RateLimited { log_id, .. } | Self::UnexpectedResponse { log_id, .. } => {
                log_id.as_deref()
            }
            Self::DeadlineExceeded { last, .. } => last.as_deref().and_then(Self::log_id),
            _ => None,
        }
    }

    /// The HTTP status of the response behind the failure, if there was a response.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api(failure) => Some(failure.status),
            Self::RateLimited { status, .. } | Self::UnexpectedResponse { status, .. } => {
                Some(*status)
            }
            Self::DeadlineExceeded { last, .. } => last.as_deref().and_then(Self::http_status),
            _ => None,
        }
    }

    /// The failure Feishu reported, with its `msg` and violations, if it reported one.
    pub fn api_failure(&self) -> Option<&ApiFailure> {
        match self {
            Self::Api(failure) => Some(failure),
            _ => None,
        }
    }

    /// The request fields Feishu rejected; empty unless Feishu listed some.
    pub fn field_violations(&self) -> &[FieldViolation] {
        self.api_failure()
            .map_or(&[], |failure| &failure.field_violations)
    }

    /// Whether Feishu rejected the tenant token (99991663, 99991664, 99991671).
    pub(crate) fn is_token_rejected(&self) -> bool {
        self.api_failure()
            .is_some_and(ApiFailure::is_token_rejected)
    }
}

impl From<ApiFailure> for FeishuError {
    fn from(failure: ApiFailure) -> Self {
        Self::Api(Box::new(failure))
    }
}

/// Formats `, log_id <id>` when there is one.
struct LogId<'a>(Option<&'a str>);

impl fmt::Display for LogId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(log_id) => write!(f, ", log_id {log_id}"),
            None => Ok(()),
        }
    }
}

/// Formats `, retry after <n>s` when Feishu said how long to wait.
struct RetryAfter<'a>(&'a Option<Duration>);

impl fmt::Display for RetryAfter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(wait) => write!(f, ", retry after {}s", wait.as_secs()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, code: i64) -> ApiFailure {
        ApiFailure {
            path: "/open-apis/approval/v4/external_instances",
            status,
            code,
            msg: "param is invalid".to_owned(),
            log_id: Some("LOG123".to_owned()),
            field_violations: vec![FieldViolation {
                field: Some("task_list[*].links".to_owned()),
                value: Some("request-value".to_owned()),
                description: Some("is required".to_owned()),
            }],
            permission_violations: Vec::new(),
        }
    }

    #[test]
    fn api_failure_text_names_code_msg_log_id_and_fields_but_not_values() {
        let error = FeishuError::from(failure(400, 1390001));
        let text = error.to_string();
        assert!(text.contains("1390001"), "{text}");
        assert!(text.contains("param is invalid"), "{text}");
        assert!(text.contains("LOG123"), "{text}");
        assert!(text.contains("task_list[*].links"), "{text}");
        assert!(!text.contains("request-value"), "{text}");
        assert_eq!(error.code(), Some(1390001));
        assert_eq!(error.log_id(), Some("LOG123"));
        assert_eq!(error.field_violations().len(), 1);
    }

    #[test]
    fn retryability_follows_the_kind_of_failure() {
        assert!(!FeishuError::from(failure(400, 1390001)).is_retryable());
        // Rejected even after the refresh: a later attempt, with the next token, may pass.
        assert!(FeishuError::from(failure(200, 99991663)).is_retryable());
        assert!(FeishuError::from(failure(400, TRY_AGAIN_LATER_CODE)).is_retryable());
        assert!(FeishuError::from(failure(400, SYNCED_TOO_OFTEN_CODE)).is_retryable());
        assert!(FeishuError::from(failure(503, 1)).is_retryable());
        let unreadable = |status| FeishuError::UnexpectedResponse {
            path: "/p",
            status,
            problem: "a body that is not a Feishu envelope",
            log_id: None,
        };
        assert!(unreadable(502).is_retryable());
        assert!(!unreadable(200).is_retryable());
        let rate_limited = FeishuError::RateLimited {
            path: "/p",
            status: 429,
            code: Some(RATE_LIMITED_CODE),
            retry_after: Some(Duration::from_secs(3)),
            log_id: None,
        };
        assert!(rate_limited.is_retryable());
        assert!(rate_limited.to_string().contains("retry after 3s"));
        assert!(!FeishuError::EncodeRequest { path: "/p" }.is_retryable());
    }

    #[test]
    fn deadline_error_exposes_the_last_attempt() {
        let error = FeishuError::DeadlineExceeded {
            path: "/p",
            attempts: 3,
            last: Some(Box::new(failure(500, 2200).into())),
        };
        assert!(error.is_retryable());
        assert_eq!(error.code(), Some(2200));
        assert_eq!(error.log_id(), Some("LOG123"));
        assert_eq!(error.http_status(), Some(500));
    }
}
