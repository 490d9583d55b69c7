//! Per-API pacing: a token bucket per API path, so a job that fans out (card sync, reconcile) or a
//! burst of jobs in one container stays under Feishu's per-API limit (`feishu-api.md` §0: 50
//! requests a second per API, app and tenant) instead of turning into rate limits and retries.
//!
//! The bucket is kept as a generic cell rate schedule (GCRA): each request reserves the earliest
//! slot its API allows and sleeps until it, on tokio's clock. Reservations are first come, first
//! served, and a caller whose slot would fall past its deadline reserves nothing, so abandoned
//! waits never delay the callers behind them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::config::Pacing;

/// The request schedules of every API path, for one client and its clones.
pub(super) struct Pacer {
    /// Time between two requests to one API at the sustained rate.
    interval: Duration,
    /// How far ahead of the sustained schedule a burst may run.
    tolerance: Duration,
    /// Per path, the theoretical arrival time of the next request at the sustained rate.
    next_due: Mutex<HashMap<&'static str, Instant>>,
}

impl Pacer {
    /// A pacer allowing `pacing.requests_per_second` per API, in bursts of `pacing.burst`.
    /// Both are at least 1 (checked by the configuration).
    pub fn new(pacing: Pacing) -> Self {
        let interval = Duration::from_secs(1) / pacing.requests_per_second.max(1);
        Self {
            interval,
            tolerance: interval * pacing.burst.max(1).saturating_sub(1),
            next_due: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves the earliest slot for a request to `path` and returns when it starts, or `None`
    /// (reserving nothing) when that slot would not start before `deadline`.
    pub fn reserve(&self, path: &'static str, deadline: Instant) -> Option<Instant> {
        let now = Instant::now();
        let mut next_due = self.next_due.lock().unwrap_or_else(PoisonError::into_inner);
        let due = next_due.get(path).map_or(now, |due| (*due).max(now));
        let start = due
            .checked_sub(self.tolerance)
            .map_or(now, |start| start.max(now));
        if start >= deadline {
            return None;
        }
        next_due.insert(path, due + self.interval);
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/a";
    const B: &str = "/b";

    fn pacer(requests_per_second: u32, burst: u32) -> Pacer {
        Pacer::new(Pacing {
            requests_per_second,
            burst,
        })
    }

    fn offsets(pacer: &Pacer, path: &'static str, count: usize, deadline: Instant) -> Vec<u64> {
        let origin = Instant::now();
        (0..count)
            .map(|_| {
                let start = pacer.reserve(path, deadline).expect("a slot");
                u64::try_from((start - origin).as_millis()).unwrap()
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_starts_at_once_and_the_rest_follow_at_the_rate() {
        let pacer = pacer(10, 3);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(offsets(&pacer, A, 6, far), [0, 0, 0, 100, 200, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn apis_have_separate_schedules() {
        let pacer = pacer(10, 1);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(offsets(&pacer, A, 3, far), [0, 100, 200]);
        assert_eq!(offsets(&pacer, B, 3, far), [0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_api_regains_its_burst() {
        let pacer = pacer(10, 2);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(offsets(&pacer, A, 4, far), [0, 0, 100, 200]);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(offsets(&pacer, A, 3, far), [0, 0, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_past_the_deadline_is_refused_and_not_reserved() {
        let pacer = pacer(10, 1);
        let deadline = Instant::now() + Duration::from_millis(150);
        assert_eq!(offsets(&pacer, A, 2, deadline), [0, 100]);
        assert_eq!(pacer.reserve(A, deadline), None);
        // The refused caller left the schedule as it was: a caller with time gets the 200 ms slot.
        let later = Instant::now() + Duration::from_secs(1);
        let start = pacer.reserve(A, later).unwrap();
        assert_eq!(start - Instant::now(), Duration::from_millis(200));
    }
}
