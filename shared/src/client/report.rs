//! What one Feishu call did — [`CallReport`] — and the hook that receives it: a
//! [`CallObserver`] attached to a client handle with
//! [`FeishuClient::observed_by`](super::FeishuClient::observed_by).
//!
//! Neutral on purpose: the client reports facts (path, code, latency, attempts, throttling,
//! token refreshes, log id); what becomes a metric or a log line is the observer's business.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::error::FailureKind;

/// One finished call of a [`FeishuClient`](super::FeishuClient) method, with all its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    /// The API path, e.g. `/open-apis/approval/v4/external_instances`.
    pub path: &'static str,
    /// `None` when the call succeeded, else the kind of its error.
    pub failure: Option<FailureKind>,
    /// Feishu's body `code` of the last answer: 0 on success; the failure's code otherwise (which
    /// may come from the token endpoint); `None` when no answer carried one.
    pub code: Option<i64>,
    /// The HTTP status of the last answer, if one arrived.
    pub http_status: Option<u16>,
    /// Feishu's log id of the last answer, success or failure, if it sent one.
    pub log_id: Option<String>,
    /// Attempts started (1 when the first one settled the call); retries are `attempts - 1`.
    pub attempts: u32,
    /// How many answers were rate limits (HTTP 429 or code 99991400).
    pub rate_limited: u32,
    /// Tenant token requests this call made (cold or stale cache, or after a rejected token).
    pub token_refreshes: u32,
    /// How long the call waited for its API's pacing slots, over all attempts.
    pub paced: Duration,
    /// From the start of the call to its result, on tokio's clock.
    pub latency: Duration,
}

impl CallReport {
    /// Whether the call succeeded.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// Attempts after the first.
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }
}

/// Receives a [`CallReport`] when a call finishes, success or failure. Called on the calling
/// task, after the call's last attempt and before the method returns, so keep it quick.
pub trait CallObserver: Send + Sync {
    /// One call finished.
    fn call_finished(&self, report: &CallReport);
}

impl<F: Fn(&CallReport) + Send + Sync> CallObserver for F {
    fn call_finished(&self, report: &CallReport) {
        self(report);
    }
}

/// A [`CallObserver`] that keeps every report, for a per-job collector or a test.
#[derive(Debug, Default)]
pub struct CallCollector {
    reports: Mutex<Vec<CallReport>>,
}

impl CallCollector {
    /// Takes the reports collected so far, oldest first, leaving the collector empty.
    pub fn take(&self) -> Vec<CallReport> {
        std::mem::take(&mut *self.reports.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl CallObserver for CallCollector {
    fn call_finished(&self, report: &CallReport) {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(report.clone());
    }
}
