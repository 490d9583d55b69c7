//! [`AsyncConfig`]: the emulated asynchronous invoke configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Lambda's limit on `MaximumRetryAttempts`.
const MAX_RETRY_ATTEMPTS_LIMIT: u32 = 2;
/// Lambda's limits on `MaximumEventAgeInSeconds`: 60 s to 6 h.
const MAX_EVENT_AGE_LIMIT: Duration = Duration::from_secs(6 * 60 * 60);

/// How the emulator listens, where it runs functions, and how it retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncConfig {
    /// Where the emulator listens (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    /// Base URL of the Lambda Invoke API that runs the functions, e.g. `cargo lambda watch` at
    /// `http://127.0.0.1:9000`.
    pub function_endpoint: String,
    /// The function names the emulator accepts invokes for; an invoke of any other name is
    /// answered `404 ResourceNotFoundException`, as Lambda does. Empty: every name is accepted.
    pub functions: Vec<String>,
    /// How many times a failed asynchronous invocation is retried (Lambda's
    /// `MaximumRetryAttempts`, 0 to 2; default 2).
    pub max_retry_attempts: u32,
    /// The wait before the first retry; the n-th retry waits n times as long (Lambda waits about
    /// one and two minutes; default 1 s locally).
    pub retry_delay: Duration,
    /// How long an event may wait in the queue, retries included, before it is given up
    /// (Lambda's `MaximumEventAgeInSeconds`, 60 s to 6 h; default 1 h as in the template).
    pub max_event_age: Duration,
    /// How long one run of the function may take before it counts as timed out (the function's
    /// `Timeout`; default 60 s as the sync function's).
    pub function_timeout: Duration,
    /// How many queued events run at once. Match `cargo lambda watch --concurrency`: events beyond
    /// it would wait in the runner's queue with their timeout running (default 1).
    pub max_concurrency: usize,
    /// The region in function ARNs (default `us-east-1`).
    pub region: String,
    /// The account id in function ARNs (default `123456789012`, moto's).
    pub account_id: String,
}

/// Why a configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// More retries than Lambda allows.
    #[error("max_retry_attempts must be 0, 1 or 2 (Lambda's limit)")]
    TooManyRetries,
    /// An event age outside Lambda's range.
    #[error("max_event_age must be from 60 s to 6 h (Lambda's limits)")]
    EventAgeOutOfRange,
    /// No invocation could ever run.
    #[error("max_concurrency must be at least 1")]
    NoConcurrency,
    /// A zero function timeout.
    #[error("function_timeout must be positive")]
    NoTimeout,
    /// The function endpoint is not an http(s) URL.
    #[error("function_endpoint must be an http:// or https:// URL")]
    InvalidEndpoint,
}

impl AsyncConfig {
    /// The defaults (see each field) in front of the Invoke API at `function_endpoint`.
    pub fn new(function_endpoint: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            function_endpoint: function_endpoint.into(),
            functions: Vec::new(),
            max_retry_attempts: MAX_RETRY_ATTEMPTS_LIMIT,
            retry_delay: Duration::from_secs(1),
            max_event_age: Duration::from_secs(60 * 60),
            function_timeout: Duration::from_secs(60),
            max_concurrency: 1,
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
        }
    }

    /// Checks the values against Lambda's limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_retry_attempts > MAX_RETRY_ATTEMPTS_LIMIT {
            return Err(ConfigError::TooManyRetries);
        }
        if self.max_event_age < Duration::from_secs(60) || self.max_event_age > MAX_EVENT_AGE_LIMIT
        {
            return Err(ConfigError::EventAgeOutOfRange);
        }
        if self.max_concurrency == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        if self.function_timeout.is_zero() {
            return Err(ConfigError::NoTimeout);
        }
        let endpoint_ok = ["http://", "https://"].iter().any(|scheme| {
            self.function_endpoint
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty())
        });
        if !endpoint_ok {
            return Err(ConfigError::InvalidEndpoint);
        }
        Ok(())
    }

    /// The function runner's Invoke URL for `function`.
    pub(crate) fn invoke_url(&self, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.function_endpoint.trim_end_matches('/')
        )
    }

    /// The unqualified ARN of `function`.
    pub(crate) fn function_arn(&self, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{function}",
            self.region, self.account_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_lambdas_and_valid() {
        let config = AsyncConfig::new("http://127.0.0.1:9000/");
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.max_retry_attempts, 2);
        assert_eq!(
            config.invoke_url("approval-sync"),
            "http://127.0.0.1:9000/2015-03-31/functions/approval-sync/invocations"
        );
        assert_eq!(
            config.function_arn("approval-sync"),
            "arn:aws:lambda:us-east-1:123456789012:function:approval-sync"
        );
    }

    #[test]
    fn refuses_values_lambda_refuses() {
        let valid = AsyncConfig::new("http://127.0.0.1:9000");
        let cases = [
            (
                AsyncConfig {
                    max_retry_attempts: 3,
                    ..valid.clone()
                },
                ConfigError::TooManyRetries,
            ),
            (
                AsyncConfig {
                    max_event_age: Duration::from_secs(59),
                    ..valid.clone()
                },
                ConfigError::EventAgeOutOfRange,
            ),
            (
                AsyncConfig {
                    max_event_age: Duration::from_secs(6 * 60 * 60 + 1),
                    ..valid.clone()
                },
                ConfigError::EventAgeOutOfRange,
            ),
            (
                AsyncConfig {
                    max_concurrency: 0,
                    ..valid.clone()
                },
                ConfigError::NoConcurrency,
            ),
            (
                AsyncConfig {
                    function_timeout: Duration::ZERO,
                    ..valid.clone()
                },
                ConfigError::NoTimeout,
            ),
            (
                AsyncConfig::new("127.0.0.1:9000"),
                ConfigError::InvalidEndpoint,
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
    }
}
