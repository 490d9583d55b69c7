//! What to do after a failed attempt: retry now, retry after a wait, or give up.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
    jitter: &Jitter,
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
    let backoff = jitter.apply(backoff(policy, attempt));
    match error {
        // A reset of 0 s (or none) still backs off: an immediate retry would meet the same limit.
        FeishuError::RateLimited {
            retry_after: Some(reset),
            ..
        } => NextStep::RetryAfter((*reset).max(backoff)),
        _ => NextStep::RetryAfter(backoff),
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

/// Randomises backoffs so that callers that failed together do not retry together. Seeded, it
/// draws the same sequence every run (deterministic simulation).
pub(super) struct Jitter {
    rng: Mutex<StdRng>,
}

impl Jitter {
    /// Jitter seeded from the operating system.
    pub fn from_os() -> Self {
        Self::with_rng(StdRng::from_os_rng())
    }

    /// Jitter that draws the same sequence for the same `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self::with_rng(StdRng::seed_from_u64(seed))
    }

    fn with_rng(rng: StdRng) -> Self {
        Self {
            rng: Mutex::new(rng),
        }
    }

    /// A random wait between half of `wait` and all of it.
    pub fn apply(&self, wait: Duration) -> Duration {
        let factor = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0.5..=1.0);
        wait.mul_f64(factor)
    }
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

    fn jitter() -> Jitter {
        Jitter::seeded(1)
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
    fn jitter_stays_within_half_and_full_and_varies() {
        let jitter = Jitter::from_os();
        let waits: Vec<_> = (0..100)
            .map(|_| jitter.apply(Duration::from_millis(200)))
            .collect();
        for wait in &waits {
            assert!((Duration::from_millis(100)..=Duration::from_millis(200)).contains(wait));
        }
        assert!(waits.iter().any(|wait| *wait != waits[0]), "{waits:?}");
    }

    #[test]
    fn seeded_jitter_repeats_its_sequence() {
        let draw = |seed| {
            let jitter = Jitter::seeded(seed);
            (0..20)
                .map(|_| jitter.apply(Duration::from_secs(1)))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn a_rejected_token_is_retried_once_regardless_of_attempts() {
        let error = api_error(200, 99991663);
        assert_eq!(
            next_step(&policy(), &jitter(), &error, 4, true),
            NextStep::RetryWithNewToken
        );
        assert_eq!(
            next_step(&policy(), &jitter(), &error, 1, false),
            NextStep::GiveUp
        );
    }

    /// The wait of the step, which must be a retry after a wait.
    fn wait_of(step: NextStep) -> Duration {
        match step {
            NextStep::RetryAfter(wait) => wait,
            other => panic!("expected a retry after a wait, got {other:?}"),
        }
    }

    #[test]
    fn transient_failures_back_off_until_attempts_run_out() {
        let error = api_error(500, 0);
        let jitter = jitter();
        // Backoff doubles (100, 200, 350 capped) and jitter keeps at least half of it.
        for (attempt, full) in [(1, 100), (2, 200), (3, 350)] {
            let wait = wait_of(next_step(&policy(), &jitter, &error, attempt, true));
            let full = Duration::from_millis(full);
            assert!(
                (full / 2..=full).contains(&wait),
                "attempt {attempt}: {wait:?}"
            );
        }
        assert_eq!(
            next_step(&policy(), &jitter, &error, 4, true),
            NextStep::GiveUp
        );
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        assert_eq!(
            next_step(&policy(), &jitter(), &api_error(400, 1390001), 1, true),
            NextStep::GiveUp
        );
    }

    fn rate_limited(retry_after: Option<Duration>) -> FeishuError {
        FeishuError::RateLimited {
            path: "/p",
            status: 429,
            code: Some(RATE_LIMITED_CODE),
            retry_after,
            log_id: None,
        }
    }

    #[test]
    fn rate_limits_wait_as_long_as_feishu_asks() {
        assert_eq!(
            next_step(
                &policy(),
                &jitter(),
                &rate_limited(Some(Duration::from_secs(7))),
                1,
                true
            ),
            NextStep::RetryAfter(Duration::from_secs(7))
        );
    }

    #[test]
    fn a_rate_limit_without_a_usable_reset_still_backs_off() {
        let jitter = jitter();
        for reset in [Some(Duration::ZERO), None] {
            for (attempt, full) in [(1, 100), (2, 200)] {
                let step = next_step(&policy(), &jitter, &rate_limited(reset), attempt, true);
                let wait = wait_of(step);
                let full = Duration::from_millis(full);
                assert!(
                    (full / 2..=full).contains(&wait),
                    "reset {reset:?}, attempt {attempt}: {wait:?}"
                );
            }
        }
    }
}
