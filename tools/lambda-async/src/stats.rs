//! [`AsyncStats`]: counters of the asynchronous queue.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of the asynchronous queue's counters (also served at `GET /_lambda-async/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncStats {
    /// `Event` invocations accepted (answered `202`).
    pub accepted: u64,
    /// Accepted events not finished yet (queued, running, or waiting for a retry).
    pub pending: u64,
    /// Runs of the function, retries included.
    pub runs: u64,
    /// Runs that ended in a function error or a timeout.
    pub function_errors: u64,
    /// Events whose function eventually succeeded.
    pub succeeded: u64,
    /// Events given up (retries exhausted or too old); each one's record went to the
    /// destination unless counted in `destination_errors`.
    pub failed: u64,
    /// Records the destination did not take (logged instead).
    pub destination_errors: u64,
    /// The most runs in flight at the same moment (shows that events overlapped).
    pub max_running: u64,
}

/// The live counters behind [`AsyncStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    finished: AtomicU64,
    runs: AtomicU64,
    function_errors: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    destination_errors: AtomicU64,
    running: AtomicU64,
    max_running: AtomicU64,
}

/// One run in flight; counted until dropped.
pub(crate) struct Running<'a>(&'a Counters);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counters {
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a run in flight until the guard is dropped.
    pub(crate) fn running(&self) -> Running<'_> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        Running(self)
    }

    pub(crate) fn ran(&self) {
        self.runs.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn function_error(&self) {
        self.function_errors.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn succeeded(&self) {
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a given-up event; `delivered` tells whether its record reached the destination.
    pub(crate) fn failed(&self, delivered: bool) {
        if !delivered {
            self.destination_errors.fetch_add(1, Ordering::SeqCst);
        }
        self.failed.fetch_add(1, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn snapshot(&self) -> AsyncStats {
        // `finished` is read first: `pending` can only be overstated, never negative.
        let finished = self.finished.load(Ordering::SeqCst);
        let accepted = self.accepted.load(Ordering::SeqCst);
        AsyncStats {
            accepted,
            pending: accepted.saturating_sub(finished),
            runs: self.runs.load(Ordering::SeqCst),
            function_errors: self.function_errors.load(Ordering::SeqCst),
            succeeded: self.succeeded.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            destination_errors: self.destination_errors.load(Ordering::SeqCst),
            max_running: self.max_running.load(Ordering::SeqCst),
        }
    }
}
