//! What to do after a failed attempt: retry now, retry after a wait, or give up.

use std::time::Duration;

use super::config::RetryPolicy;
use super::error::FeishuError;

/// The next step after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NextStep {
    /// Retry at once: the cached token was rejected and has been evicted.
    RetryWithNewToken,
    /// Retry after this wait, if the deadline allows it.
    RetryAfter(Duration),
    /// Return the error.
    GiveUp,
}

/// Decides the step after attempt number `attempt` (1-based) failed with `error`.
/// `token_retry_available` is whether the one retry after a rejected token is still unused.
pub(super) fn next_step(
    policy: &RetryPolicy,
    error: &FeishuError,
    attempt: u32,
    token_retry_available: bool,
) -> NextStep {
    if error.is_token_rejected() {
        return if token_retry_available {
            NextStep::RetryWithNewToken
        } else {
            NextStep::GiveUp
        };
    }
    // A credential source retries on its own; asking it again at once would not help.
    let retry_now = error.is_retryable() && !matches!(error, FeishuError::Credentials(_));
    if !retry_now || attempt >= policy.max_attempts {
        return NextStep::GiveUp;
    }
    match error {
        FeishuError::RateLimited {
            retry_after: Some(wait),
            ..
        } => NextStep::RetryAfter(*wait),
        _ => NextStep::RetryAfter(jittered(backoff(policy, attempt))),
    }
}

/// Exponential backoff after attempt number `attempt`: `base × 2^(attempt−1)`, capped at `max`.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    policy
        .base_backoff
        .saturating_mul(factor)
        .min(policy.max_backoff)
}

/// A random wait between half of `wait` and all of it, so callers that failed together do not
/// retry together.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::error::{ApiFailure, RATE_LIMITED_CODE};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        }
    }

    fn api_error(status: u16, code: i64) -> FeishuError {
        ApiFailure {
            path: "/p",
            status,
            code,
            msg: String::new(),
            log_id: None,
            field_violations: Vec::new(),
            permission_violations: Vec::new(),
        }
        .into()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = policy();
        let waits: Vec<_> = (1..=4).map(|attempt| backoff(&policy, attempt)).collect();
        assert_eq!(
            waits,
            [100, 200, 350, 350].map(Duration::from_millis).to_vec()
        );
        assert_eq!(backoff(&policy, u32::MAX), policy.max_backoff);
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        for _ in 0..100 {
            let wait = jittered(Duration::from_millis(200));
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(&wait));
        }
    }

    #[test]
    fn a_rejected_token_is_retried_once_regardless_of_attempts() {
        let error = api_error(200, 99991663);
        assert_eq!(
            next_step(&policy(), &error, 4, true),
            NextStep::RetryWithNewToken
        );
        assert_eq!(next_step(&policy(), &error, 1, false), NextStep::GiveUp);
    }

    #[test]
    fn transient_failures_back_off_until_attempts_run_out() {
        let error = api_error(500, 0);
        assert!(matches!(
            next_step(&policy(), &error, 1, true),
            NextStep::RetryAfter(wait) if wait <= Duration::from_millis(100)
        ));
        assert_eq!(next_step(&policy(), &error, 4, true), NextStep::GiveUp);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        assert_eq!(
            next_step(&policy(), &api_error(400, 1390001), 1, true),
            NextStep::GiveUp
        );
    }

    #[test]
    fn rate_limits_wait_as_long_as_feishu_asks() {
        let error = FeishuError::RateLimited {
            path: "/p",
            status: 429,
            code: Some(RATE_LIMITED_CODE),
            retry_after: Some(Duration::from_secs(7)),
            log_id: None,
        };
        assert_eq!(
            next_step(&policy(), &error, 1, true),
            NextStep::RetryAfter(Duration::from_secs(7))
        );
    }
}
