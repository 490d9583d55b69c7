//! Feishu's rate limits (`feishu-api.md` §0): per API, app and tenant, at most so many requests a
//! second and so many a minute; past either, HTTP 429 with code 99991400 and the headers
//! `x-ogw-ratelimit-limit` and `x-ogw-ratelimit-reset` (seconds to wait).
//!
//! Whether Feishu's windows are fixed (calendar seconds and minutes) or sliding (the last 1 s and
//! 60 s) is not documented, so both are here. Off unless the `rate_limits` setting is given. The
//! simulator serves one app and one tenant: each API has one pair of windows. Time is the
//! simulator's clock, so an in-process simulation runs the windows in virtual time.
//!
//! Choices where Feishu says nothing: a refused request uses no budget (retrying at once stays
//! refused but does not push the reset further out); `x-ogw-ratelimit-limit` names the limit of
//! the window that refused (the one with the longer wait when both are full); the reset is the
//! whole seconds until that window admits a request again, rounded up, so waiting exactly that
//! long is always enough.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::routes::FeishuApi;

/// The per-second limit Feishu documents for the approval APIs (tier 4).
pub const FEISHU_PER_SECOND: NonZeroU32 = NonZeroU32::new(50).expect("50 is not zero");
/// The per-minute limit Feishu documents for the approval APIs (tier 4).
pub const FEISHU_PER_MINUTE: NonZeroU32 = NonZeroU32::new(1000).expect("1000 is not zero");

/// A second, in ms.
const SECOND_MS: i64 = 1_000;
/// A minute, in ms: also how long admitted requests are remembered.
const MINUTE_MS: i64 = 60_000;

/// How a window counts requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateWindow {
    /// Calendar windows: each Unix second and minute starts from zero (a burst may straddle a
    /// boundary: twice the limit within one second).
    #[default]
    Fixed,
    /// The last 1,000 ms and the last 60,000 ms before each request.
    Sliding,
}

/// One API's limits; `None` leaves that window unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiLimits {
    /// Most requests in one second.
    pub per_second: Option<NonZeroU32>,
    /// Most requests in one minute.
    pub per_minute: Option<NonZeroU32>,
}

impl Default for ApiLimits {
    /// Feishu's documented 50 a second and 1,000 a minute.
    fn default() -> Self {
        Self {
            per_second: Some(FEISHU_PER_SECOND),
            per_minute: Some(FEISHU_PER_MINUTE),
        }
    }
}

/// The `rate_limits` setting: the window kind and each API's limits. A field left out of the
/// JSON keeps its default (fixed windows; Feishu's 50/s and 1,000/min for every API, including
/// `message/update`, whose limit Feishu does not state); `null` removes a window.
///
/// Also parsed from `fixed`, `sliding` (the defaults with that window kind) or that JSON, as the
/// CLI's `--rate-limits` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Fixed or sliding windows.
    pub window: RateWindow,
    /// `external_approvals`.
    pub external_approvals: ApiLimits,
    /// `external_instances`.
    pub external_instances: ApiLimits,
    /// `external_instances/check`.
    pub external_instances_check: ApiLimits,
    /// `message/send`.
    pub message_send: ApiLimits,
    /// `message/update`.
    pub message_update: ApiLimits,
}

impl RateLimits {
    /// The limits of `api`.
    pub fn of(&self, api: FeishuApi) -> ApiLimits {
        match api {
            FeishuApi::ExternalApprovals => self.external_approvals,
            FeishuApi::ExternalInstances => self.external_instances,
            FeishuApi::ExternalInstancesCheck => self.external_instances_check,
            FeishuApi::MessageSend => self.message_send,
            FeishuApi::MessageUpdate => self.message_update,
        }
    }
}

/// A `--rate-limits` value that is neither `fixed`, `sliding` nor valid `rate_limits` JSON.
#[derive(Debug, thiserror::Error)]
#[error("expected fixed, sliding or a rate_limits JSON object: {0}")]
pub struct RateLimitsError(#[source] serde_json::Error);

impl FromStr for RateLimits {
    type Err = RateLimitsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value = match text.trim() {
            name @ ("fixed" | "sliding") => serde_json::json!({ "window": name }),
            json => serde_json::from_str(json).map_err(RateLimitsError)?,
        };
        serde_json::from_value(value).map_err(RateLimitsError)
    }
}

impl fmt::Display for RateLimits {
    /// The JSON form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}

/// One API's rate-window counters (`GET /_sim/rate-counters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiRateCounters {
    /// Requests the windows let through.
    pub admitted: u64,
    /// Requests answered 429 by a window.
    pub refused: u64,
    /// Of those, the ones the per-second window refused (a request both windows refuse counts
    /// in both).
    pub refused_by_second: u64,
    /// Of those, the ones the per-minute window refused.
    pub refused_by_minute: u64,
    /// The most requests one second window held (the budget in use at its peak).
    pub peak_per_second: u32,
    /// The most requests one minute window held.
    pub peak_per_minute: u32,
}

/// Why a request was refused: what the 429 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateRefusal {
    /// `x-ogw-ratelimit-limit`: the limit of the window that refused.
    pub limit: u32,
    /// `x-ogw-ratelimit-reset`: whole seconds until that window admits a request again.
    pub reset_secs: u64,
}

/// One window's verdict on a request.
struct WindowCount {
    /// Admitted requests the window holds now.
    held: usize,
    /// When the window has room again, if it is full (ms from now).
    full_for_ms: Option<i64>,
}

/// One API's admitted requests of the last minute (arrival times, oldest first) and counters.
#[derive(Debug, Default)]
struct ApiWindows {
    admitted_at: VecDeque<i64>,
    counters: ApiRateCounters,
}

impl ApiWindows {
    /// What the window of `span_ms` holding at most `limit` says about a request at `now_ms`.
    fn count(
        &self,
        window: RateWindow,
        span_ms: i64,
        limit: Option<NonZeroU32>,
        now_ms: i64,
    ) -> WindowCount {
        let window_start = match window {
            RateWindow::Fixed => now_ms.div_euclid(span_ms) * span_ms,
            RateWindow::Sliding => now_ms - span_ms + 1,
        };
        let first = self.admitted_at.partition_point(|&at| at < window_start);
        let end = self.admitted_at.partition_point(|&at| at <= now_ms);
        let held = end.saturating_sub(first);
        let limit = limit.map_or(usize::MAX, |limit| limit.get() as usize);
        let full_for_ms = (held >= limit).then(|| match window {
            RateWindow::Fixed => window_start + span_ms - now_ms,
            // Room again once the oldest requests beyond the limit have left the window.
            RateWindow::Sliding => self
                .admitted_at
                .get(first + held - limit)
                .map_or(1, |&at| at + span_ms - now_ms),
        });
        WindowCount { held, full_for_ms }
    }

    fn admit(
        &mut self,
        limits: ApiLimits,
        window: RateWindow,
        now_ms: i64,
    ) -> Result<(), RateRefusal> {
        while self
            .admitted_at
            .front()
            .is_some_and(|&at| at <= now_ms - MINUTE_MS)
        {
            self.admitted_at.pop_front();
        }
        let second = self.count(window, SECOND_MS, limits.per_second, now_ms);
        let minute = self.count(window, MINUTE_MS, limits.per_minute, now_ms);
        let refusal = [
            (second.full_for_ms, limits.per_second),
            (minute.full_for_ms, limits.per_minute),
        ]
        .into_iter()
        .filter_map(|(full_for_ms, limit)| Some((full_for_ms?, limit?.get())))
        .max_by_key(|(full_for_ms, _)| *full_for_ms);
        if let Some((full_for_ms, limit)) = refusal {
            let counters = &mut self.counters;
            counters.refused += 1;
            counters.refused_by_second += u64::from(second.full_for_ms.is_some());
            counters.refused_by_minute += u64::from(minute.full_for_ms.is_some());
            return Err(RateRefusal {
                limit,
                reset_secs: u64::try_from(full_for_ms)
                    .map_or(1, |ms| ms.max(1).div_ceil(SECOND_MS.unsigned_abs())),
            });
        }
        let at = self.admitted_at.partition_point(|&at| at <= now_ms);
        self.admitted_at.insert(at, now_ms);
        let counters = &mut self.counters;
        counters.admitted += 1;
        let held = |count: WindowCount| u32::try_from(count.held + 1).unwrap_or(u32::MAX);
        counters.peak_per_second = counters.peak_per_second.max(held(second));
        counters.peak_per_minute = counters.peak_per_minute.max(held(minute));
        Ok(())
    }
}

/// Every API's windows and counters.
#[derive(Debug, Default)]
pub(crate) struct RateWindows {
    apis: BTreeMap<FeishuApi, ApiWindows>,
}

impl RateWindows {
    /// Lets a request to `api` at `now_ms` through `limits`' windows (and counts it), or says
    /// why not.
    pub(crate) fn admit(
        &mut self,
        api: FeishuApi,
        limits: &RateLimits,
        now_ms: i64,
    ) -> Result<(), RateRefusal> {
        self.apis
            .entry(api)
            .or_default()
            .admit(limits.of(api), limits.window, now_ms)
    }

    /// The counters of every API that met the windows.
    pub(crate) fn counters(&self) -> BTreeMap<FeishuApi, ApiRateCounters> {
        self.apis
            .iter()
            .map(|(api, windows)| (*api, windows.counters))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(window: RateWindow, per_second: Option<u32>, per_minute: Option<u32>) -> RateLimits {
        RateLimits {
            window,
            external_instances: ApiLimits {
                per_second: per_second.and_then(NonZeroU32::new),
                per_minute: per_minute.and_then(NonZeroU32::new),
            },
            ..RateLimits::default()
        }
    }

    fn admit(windows: &mut RateWindows, limits: &RateLimits, at_ms: i64) -> Option<RateRefusal> {
        windows
            .admit(FeishuApi::ExternalInstances, limits, at_ms)
            .err()
    }

    #[test]
    fn fixed_windows_start_afresh_at_each_calendar_second() {
        let limits = limits(RateWindow::Fixed, Some(2), None);
        let mut windows = RateWindows::default();
        assert_eq!(admit(&mut windows, &limits, 10_900), None);
        assert_eq!(admit(&mut windows, &limits, 10_950), None);
        assert_eq!(
            admit(&mut windows, &limits, 10_999),
            Some(RateRefusal {
                limit: 2,
                reset_secs: 1
            })
        );
        assert_eq!(admit(&mut windows, &limits, 11_000), None);
        assert_eq!(admit(&mut windows, &limits, 11_001), None);
    }

    #[test]
    fn sliding_windows_free_a_place_when_the_oldest_request_leaves() {
        let limits = limits(RateWindow::Sliding, None, Some(2));
        let mut windows = RateWindows::default();
        assert_eq!(admit(&mut windows, &limits, 0), None);
        assert_eq!(admit(&mut windows, &limits, 30_000), None);
        // The request at 0 leaves the window at 60,000: 29.5 s from 30,500, rounded up.
        assert_eq!(
            admit(&mut windows, &limits, 30_500).map(|refusal| refusal.reset_secs),
            Some(30)
        );
        assert!(admit(&mut windows, &limits, 59_999).is_some());
        assert_eq!(admit(&mut windows, &limits, 60_000), None);
        // Now the one at 30,000 is the oldest: room again at 90,000.
        assert_eq!(
            admit(&mut windows, &limits, 60_001).map(|refusal| refusal.reset_secs),
            Some(30)
        );
    }

    #[test]
    fn the_longer_wait_decides_the_headers() {
        let limits = limits(RateWindow::Fixed, Some(1), Some(1));
        let mut windows = RateWindows::default();
        assert_eq!(admit(&mut windows, &limits, 60_000), None);
        assert_eq!(
            admit(&mut windows, &limits, 60_100),
            Some(RateRefusal {
                limit: 1,
                reset_secs: 60
            })
        );
        let counters = windows.counters()[&FeishuApi::ExternalInstances];
        assert_eq!(
            (
                counters.refused,
                counters.refused_by_second,
                counters.refused_by_minute
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_clock_set_back_counts_only_what_lies_before_it() {
        let limits = limits(RateWindow::Sliding, Some(1), None);
        let mut windows = RateWindows::default();
        assert_eq!(admit(&mut windows, &limits, 5_000), None);
        assert_eq!(admit(&mut windows, &limits, 2_000), None);
        assert!(admit(&mut windows, &limits, 2_500).is_some());
    }

    #[test]
    fn parses_window_names_and_json() {
        assert_eq!(
            "sliding"
                .parse::<RateLimits>()
                .ok()
                .map(|limits| limits.window),
            Some(RateWindow::Sliding)
        );
        let parsed: Option<RateLimits> =
            r#"{"message_update": {"per_second": 10, "per_minute": null}}"#
                .parse()
                .ok();
        assert_eq!(
            parsed.map(|limits| limits.message_update),
            Some(ApiLimits {
                per_second: NonZeroU32::new(10),
                per_minute: None
            })
        );
        assert_eq!(
            parsed.map(|limits| limits.message_send),
            Some(ApiLimits::default())
        );
        for bad in [
            "burst",
            "{\"window\": \"leaky\"}",
            "{\"nope\": 1}",
            "{\"message_send\": {\"per_second\": 0}}",
        ] {
            assert!(bad.parse::<RateLimits>().is_err(), "{bad}");
        }
        let round_trip = RateLimits::default().to_string().parse::<RateLimits>();
        assert_eq!(round_trip.ok(), Some(RateLimits::default()));
    }
}
