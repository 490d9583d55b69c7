//! Settings of the sync function, read once from the environment at start-up.

use std::num::NonZeroUsize;
use std::time::Duration;

use feishu_bridge::client::{ClientConfig, FEISHU_DOMAIN};
pub use feishu_bridge::lifecycle::InstanceStatusPolicy;

/// DynamoDB table of snapshots; unset means the in-memory store.
const TABLE_NAME: &str = "TABLE_NAME";
/// EventBridge bus for decision events; unset means the log publisher.
const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// `derive` or `external`: who decides an instance's status after a decision.
const INSTANCE_STATUS_POLICY: &str = "INSTANCE_STATUS_POLICY";
/// The callback function's public URL, put into bot cards.
const CALLBACK_URL: &str = "CALLBACK_URL";
/// Time budget of one job's Feishu calls, in milliseconds.
const SYNC_DEADLINE_MS: &str = "SYNC_DEADLINE_MS";

/// How many milliseconds before the invocation's own deadline a job stops.
const SYNC_DEADLINE_MARGIN_MS: &str = "SYNC_DEADLINE_MARGIN_MS";
/// Days the records of a final instance are kept.
const RECORD_TTL_DAYS: &str = "RECORD_TTL_DAYS";
/// Days the tombstone of a final instance is kept.
const TOMBSTONE_TTL_DAYS: &str = "TOMBSTONE_TTL_DAYS";
/// Most instances per `external_instances/check` call of a reconcile job.
const RECONCILE_CHECK_BATCH: &str = "RECONCILE_CHECK_BATCH";
/// Time budget of one reconcile job, in milliseconds.
const RECONCILE_DEADLINE_MS: &str = "RECONCILE_DEADLINE_MS";

/// Deadline of one job when none is configured: well inside the 60 s function timeout, with
/// room for the store and the event after the last Feishu call.
const DEFAULT_DEADLINE_MS: u64 = 20_000;
/// Default margin kept before the invocation's deadline: time to record what the job did and to
/// fail cleanly before Lambda ends the invocation.
const DEFAULT_DEADLINE_MARGIN_MS: u64 = 2_000;
/// Default days the records of a final instance are kept: past Feishu's 30-day card window.
const DEFAULT_RECORD_TTL_DAYS: u64 = 60;
/// Default days a final instance's tombstone is kept: a tap on an ancient card is refused
/// instead of looking like an instance the bridge never saw.
const DEFAULT_TOMBSTONE_TTL_DAYS: u64 = 400;

/// Default instances per check call. Feishu documents no maximum (`feishu-api.md` §4.2,
/// UNCONFIRMED); its sibling `external_tasks` takes at most 20 instance ids, so 20 is the
/// conservative choice. A batch Feishu refuses is split and asked again, and later batches of
/// the job use the size Feishu accepted (see the reconcile job).
const DEFAULT_RECONCILE_CHECK_BATCH: usize = 20;
/// The largest accepted `RECONCILE_CHECK_BATCH`.
const MAX_RECONCILE_CHECK_BATCH: usize = 500;
/// Default budget of a reconcile job: most of the function's 60 s timeout, since a reconcile
/// runs alone and resumes where it stopped if the window does not fit.
const DEFAULT_RECONCILE_DEADLINE_MS: u64 = 45_000;

const DAY: Duration = Duration::from_secs(86_400);

/// How a job makes the Feishu calls that do not depend on each other (a decision's card update
/// and its instance push).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeishuCalls {
    /// At the same time: one round trip (as deployed).
    #[default]
    Concurrent,
    /// One after the other (the benchmark's baseline).
    Serial,
}

/// What the job handlers need to know besides their clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// Who decides instance statuses after a decision.
    pub instance_status_policy: InstanceStatusPolicy,
    /// The callback function's public URL for bot cards; bot cards cannot be sent without it.
    pub callback_url: Option<String>,
    /// Time budget of one job (also bounded by the invocation's remaining time).
    pub deadline: Duration,
    /// Kept before the invocation's deadline.
    pub deadline_margin: Duration,
    /// How long the records of a final instance are kept.
    pub record_ttl: Duration,
    /// How long the tombstone of a final instance is kept.
    pub tombstone_ttl: Duration,
    /// Independent Feishu calls at once or in turn.
    pub feishu_calls: FeishuCalls,
    /// How reconcile jobs run.
    pub reconcile: ReconcileSettings,
}

/// How reconcile jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// Most instances per `external_instances/check` call (`RECONCILE_CHECK_BATCH`).
    pub check_batch: NonZeroUsize,
    /// Time budget of one reconcile job (`RECONCILE_DEADLINE_MS`), also bounded by the
    /// invocation's remaining time.
    pub deadline: Duration,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            check_batch: NonZeroUsize::new(DEFAULT_RECONCILE_CHECK_BATCH)
                .unwrap_or(NonZeroUsize::MIN),
            deadline: Duration::from_millis(DEFAULT_RECONCILE_DEADLINE_MS),
        }
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            instance_status_policy: InstanceStatusPolicy::Derive,
            callback_url: None,
            deadline: Duration::from_millis(DEFAULT_DEADLINE_MS),
            deadline_margin: Duration::from_millis(DEFAULT_DEADLINE_MARGIN_MS),
            record_ttl: DAY * DEFAULT_RECORD_TTL_DAYS as u32,
            tombstone_ttl: DAY * DEFAULT_TOMBSTONE_TTL_DAYS as u32,
            feishu_calls: FeishuCalls::Concurrent,
            reconcile: ReconcileSettings::default(),
        }
    }
}

/// The sync function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// DynamoDB table of instance records (`TABLE_NAME`); `None` keeps them in memory.
    pub table_name: Option<String>,
    /// EventBridge bus for events (`EVENT_BUS_NAME`); `None` writes them to the log.
    pub event_bus_name: Option<String>,
    /// The Feishu client's settings (`FEISHU_BASE_URL`, else `FEISHU_DOMAIN`).
    pub feishu: ClientConfig,
    /// The handlers' settings.
    pub sync: SyncSettings,
}

/// Why the settings are unusable. Messages name variables, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `INSTANCE_STATUS_POLICY` is neither `derive` nor `external`.
    #[error("{INSTANCE_STATUS_POLICY} must be `derive` or `external`")]
    InvalidPolicy,
    /// `FEISHU_DOMAIN` is neither `feishu` nor `lark`.
    #[error("{FEISHU_DOMAIN} must be `feishu` or `lark`")]
    InvalidDomain,
    /// `SYNC_DEADLINE_MS` is not a positive whole number of milliseconds.
    #[error("{SYNC_DEADLINE_MS} must be a positive whole number of milliseconds")]
    InvalidDeadline,
    /// A whole-number setting is not one.
    #[error("{0} must be a whole number")]
    InvalidNumber(&'static str),
    /// `CALLBACK_URL` is not an absolute http(s) URL.
    #[error("{CALLBACK_URL} must be an absolute http(s) URL")]
    InvalidCallbackUrl,
    /// `RECONCILE_CHECK_BATCH` is not between 1 and the maximum.
    #[error("{RECONCILE_CHECK_BATCH} must be a whole number from 1 to {MAX_RECONCILE_CHECK_BATCH}")]
    InvalidCheckBatch,
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (variable name → value); empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let number = |name: &'static str, default: u64| match var(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u64>()
                .map_err(|_| ConfigError::InvalidNumber(name)),
        };
        let instance_status_policy = match var(INSTANCE_STATUS_POLICY).as_deref() {
            None => InstanceStatusPolicy::Derive,
            Some(policy) if policy.eq_ignore_ascii_case("derive") => InstanceStatusPolicy::Derive,
            Some(policy) if policy.eq_ignore_ascii_case("external") => {
                InstanceStatusPolicy::External
            }
            Some(_) => return Err(ConfigError::InvalidPolicy),
        };
        let feishu = ClientConfig::from_lookup(&lookup).map_err(|_| ConfigError::InvalidDomain)?;
        let deadline_ms = match var(SYNC_DEADLINE_MS) {
            None => DEFAULT_DEADLINE_MS,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or(ConfigError::InvalidDeadline)?,
        };
        let days = |name: &'static str, default: u64| {
            number(name, default).map(|days| Duration::from_secs(days.saturating_mul(86_400)))
        };
        let callback_url = var(CALLBACK_URL)
            .map(|url| {
                let absolute = url.split_once("://").is_some_and(|(scheme, rest)| {
                    matches!(scheme, "http" | "https") && !rest.is_empty()
                });
                if absolute {
                    Ok(url)
                } else {
                    Err(ConfigError::InvalidCallbackUrl)
                }
            })
            .transpose()?;
        let check_batch = match var(RECONCILE_CHECK_BATCH) {
            None => DEFAULT_RECONCILE_CHECK_BATCH,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|size| *size <= MAX_RECONCILE_CHECK_BATCH)
                .ok_or(ConfigError::InvalidCheckBatch)?,
        };
        let reconcile = ReconcileSettings {
            check_batch: NonZeroUsize::new(check_batch).ok_or(ConfigError::InvalidCheckBatch)?,
            deadline: Duration::from_millis(
                number(RECONCILE_DEADLINE_MS, DEFAULT_RECONCILE_DEADLINE_MS)?.max(1),
            ),
        };
        Ok(Self {
            table_name: var(TABLE_NAME),
            event_bus_name: var(EVENT_BUS_NAME),
            feishu,
            sync: SyncSettings {
                instance_status_policy,
                callback_url,
                deadline: Duration::from_millis(deadline_ms),
                deadline_margin: Duration::from_millis(number(
                    SYNC_DEADLINE_MARGIN_MS,
                    DEFAULT_DEADLINE_MARGIN_MS,
                )?),
                record_ttl: days(RECORD_TTL_DAYS, DEFAULT_RECORD_TTL_DAYS)?,
                tombstone_ttl: days(TOMBSTONE_TTL_DAYS, DEFAULT_TOMBSTONE_TTL_DAYS)?,
                feishu_calls: FeishuCalls::Concurrent,
                reconcile,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use feishu_bridge::client::FEISHU_BASE_URL;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_to_memory_log_derive_feishu_and_20_s() {
        let config = config(&[]).unwrap();
        assert_eq!(config.table_name, None);
        assert_eq!(config.event_bus_name, None);
        assert_eq!(config.feishu.base_url, "https://open.feishu.cn");
        assert_eq!(config.sync, SyncSettings::default());
        assert_eq!(config.sync.deadline, Duration::from_secs(20));
        assert_eq!(config.sync.record_ttl, DAY * 60);
        assert_eq!(config.sync.tombstone_ttl, DAY * 400);
        assert_eq!(config.sync.reconcile.check_batch.get(), 20);
        assert_eq!(config.sync.reconcile.deadline, Duration::from_secs(45));
    }

    #[test]
    fn reads_every_variable() {
        let config = config(&[
            (TABLE_NAME, "snapshots"),
            (EVENT_BUS_NAME, "approvals"),
            (INSTANCE_STATUS_POLICY, "external"),
            (CALLBACK_URL, "https://example.com/feishu/approval/callback"),
            (FEISHU_DOMAIN, "lark"),
            (SYNC_DEADLINE_MS, "5000"),
            (SYNC_DEADLINE_MARGIN_MS, "1500"),
            (RECORD_TTL_DAYS, "45"),
            (TOMBSTONE_TTL_DAYS, "365"),
            (RECONCILE_CHECK_BATCH, "50"),
            (RECONCILE_DEADLINE_MS, "30000"),
        ])
        .unwrap();
        assert_eq!(config.table_name.as_deref(), Some("snapshots"));
        assert_eq!(config.event_bus_name.as_deref(), Some("approvals"));
        assert_eq!(config.feishu.base_url, "https://open.larksuite.com");
        assert_eq!(
            config.sync,
            SyncSettings {
                instance_status_policy: InstanceStatusPolicy::External,
                callback_url: Some("https://example.com/feishu/approval/callback".to_owned()),
                deadline: Duration::from_secs(5),
                deadline_margin: Duration::from_millis(1500),
                record_ttl: DAY * 45,
                tombstone_ttl: DAY * 365,
                feishu_calls: FeishuCalls::Concurrent,
                reconcile: ReconcileSettings {
                    check_batch: NonZeroUsize::new(50).unwrap(),
                    deadline: Duration::from_secs(30),
                },
            }
        );
    }

    #[test]
    fn base_url_wins_over_domain() {
        let config = config(&[
            (FEISHU_BASE_URL, "http://127.0.0.1:9000"),
            (FEISHU_DOMAIN, "lark"),
        ])
        .unwrap();
        assert_eq!(config.feishu.base_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn rejects_invalid_values() {
        assert_eq!(
            config(&[(INSTANCE_STATUS_POLICY, "company")]),
            Err(ConfigError::InvalidPolicy)
        );
        assert_eq!(
            config(&[(FEISHU_DOMAIN, "larksuite")]),
            Err(ConfigError::InvalidDomain)
        );
        for deadline in ["0", "-5", "1.5", "soon"] {
            assert_eq!(
                config(&[(SYNC_DEADLINE_MS, deadline)]),
                Err(ConfigError::InvalidDeadline)
            );
        }
        assert_eq!(
            config(&[(RECORD_TTL_DAYS, "two months")]),
            Err(ConfigError::InvalidNumber(RECORD_TTL_DAYS))
        );
        for batch in ["0", "501", "twenty"] {
            assert_eq!(
                config(&[(RECONCILE_CHECK_BATCH, batch)]),
                Err(ConfigError::InvalidCheckBatch)
            );
        }
        for url in ["example.com/callback", "ftp://example.com", "https://"] {
            assert_eq!(
                config(&[(CALLBACK_URL, url)]),
                Err(ConfigError::InvalidCallbackUrl)
            );
        }
    }
}
