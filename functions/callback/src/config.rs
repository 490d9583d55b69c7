//! Settings of the callback function, read once from the environment at start-up.

use std::time::Duration;

/// Name of the variable holding the sync function to invoke (name, ARN or partial ARN).
const SYNC_FUNCTION_NAME: &str = "SYNC_FUNCTION_NAME";
/// Name of the variable holding the instance table the look-up reads (optional).
const TABLE_NAME: &str = "TABLE_NAME";
/// Name of the variable holding the internal deadline of one callback, in milliseconds.
const CALLBACK_DEADLINE_MS: &str = "CALLBACK_DEADLINE_MS";
/// Internal deadline when none is configured: well inside Lark's 5 s callback timeout.
const DEFAULT_DEADLINE_MS: u64 = 3_000;
/// Lark gives up on a callback after 5 s (Feishu after 10 s).
const LARK_TIMEOUT_MS: u64 = 5_000;
/// What a cold start adds before a callback's deadline starts, besides the warm-up: Lambda
/// starting the sandbox and the process, API Gateway, the network between Feishu and AWS.
const PLATFORM_MARGIN_MS: u64 = 500;
/// How long a fresh container waits at init for its warm-up (credentials, connections), in
/// milliseconds, before it takes its first event anyway.
const INIT_WARM_UP_BUDGET_MS: u64 = 1_000;
/// [`INIT_WARM_UP_BUDGET_MS`] as a duration; see [`crate::warm`].
pub const INIT_WARM_UP_BUDGET: Duration = Duration::from_millis(INIT_WARM_UP_BUDGET_MS);
/// Largest deadline, 3500 ms: a cold start (platform margin and init warm-up) comes on top of
/// it, and the whole must fit in Lark's timeout.
const MAX_DEADLINE_MS: u64 = LARK_TIMEOUT_MS - PLATFORM_MARGIN_MS - INIT_WARM_UP_BUDGET_MS;

/// The callback function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The sync function that receives each decision (`SYNC_FUNCTION_NAME`, required).
    pub sync_function_name: String,
    /// Time budget of one callback, hand-off included (`CALLBACK_DEADLINE_MS`, default 3000).
    pub callback_deadline: Duration,
    /// The sync function's instance table, read (never written) to answer a stale tap with 409
    /// (`TABLE_NAME`; unset or empty: no look-up).
    pub table_name: Option<String>,
}

/// Why the settings are unusable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// The deadline is not a whole number of milliseconds in 1..=3500.
    #[error(
        "{CALLBACK_DEADLINE_MS} must be a whole number of milliseconds from 1 to {MAX_DEADLINE_MS}"
    )]
    InvalidDeadline,
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (variable name → value), so tests need no process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let sync_function_name = lookup(SYNC_FUNCTION_NAME)
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .ok_or(ConfigError::Missing(SYNC_FUNCTION_NAME))?;
        let deadline_ms = match lookup(CALLBACK_DEADLINE_MS) {
            None => DEFAULT_DEADLINE_MS,
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=MAX_DEADLINE_MS).contains(ms))
                .ok_or(ConfigError::InvalidDeadline)?,
        };
        let table_name = lookup(TABLE_NAME)
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        Ok(Self {
            sync_function_name,
            callback_deadline: Duration::from_millis(deadline_ms),
            table_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn reads_function_name_and_defaults_the_deadline_to_3_s() {
        let config = config(&[(SYNC_FUNCTION_NAME, "approval-sync")]).unwrap();
        assert_eq!(config.sync_function_name, "approval-sync");
        assert_eq!(config.callback_deadline, Duration::from_millis(3_000));
        assert_eq!(config.table_name, None, "no table, no look-up");
    }

    #[test]
    fn reads_the_table_the_look_up_reads() {
        let named = config(&[(SYNC_FUNCTION_NAME, "sync"), (TABLE_NAME, " instances ")]).unwrap();
        assert_eq!(named.table_name.as_deref(), Some("instances"));
        let blank = config(&[(SYNC_FUNCTION_NAME, "sync"), (TABLE_NAME, "")]).unwrap();
        assert_eq!(blank.table_name, None);
    }

    #[test]
    fn reads_an_explicit_deadline() {
        let config = config(&[
            (
                SYNC_FUNCTION_NAME,
                "arn:aws:lambda:us-east-1:123456789012:function:sync",
            ),
            (CALLBACK_DEADLINE_MS, "1500"),
        ])
        .unwrap();
        assert_eq!(config.callback_deadline, Duration::from_millis(1_500));
    }

    #[test]
    fn requires_the_sync_function_name() {
        assert_eq!(config(&[]), Err(ConfigError::Missing(SYNC_FUNCTION_NAME)));
        assert_eq!(
            config(&[(SYNC_FUNCTION_NAME, "  ")]),
            Err(ConfigError::Missing(SYNC_FUNCTION_NAME))
        );
    }

    #[test]
    fn refuses_a_deadline_that_is_zero_unparsable_or_past_larks_timeout() {
        for bad in ["0", "abc", "-5", "5000", "2.5"] {
            assert_eq!(
                config(&[(SYNC_FUNCTION_NAME, "sync"), (CALLBACK_DEADLINE_MS, bad)]),
                Err(ConfigError::InvalidDeadline),
                "{bad}"
            );
        }
    }

    #[test]
    fn caps_the_deadline_so_that_a_cold_start_fits_in_larks_5_s() {
        let at_cap = config(&[(SYNC_FUNCTION_NAME, "sync"), (CALLBACK_DEADLINE_MS, "3500")]);
        assert_eq!(
            at_cap.unwrap().callback_deadline,
            Duration::from_millis(3_500)
        );
        // A cold start waits up to the init warm-up budget before the deadline starts, and the
        // platform needs its margin: 4999 ms would let Lark give up first.
        for bad in ["3501", "4999"] {
            assert_eq!(
                config(&[(SYNC_FUNCTION_NAME, "sync"), (CALLBACK_DEADLINE_MS, bad)]),
                Err(ConfigError::InvalidDeadline),
                "{bad}"
            );
        }
    }
}
