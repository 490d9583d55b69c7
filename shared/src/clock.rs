//! Wall-clock time as a port: the sync function reads "now" (push versions, leases, expiry)
//! through a [`Clock`], so a simulation can run it on virtual time.

use std::fmt::Debug;

use tokio::time::Instant;

use crate::models::time::UnixMillis;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + Debug {
    /// Now, as Unix milliseconds.
    fn now(&self) -> UnixMillis;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        UnixMillis::now()
    }
}

/// A wall clock that follows tokio's clock from a fixed origin: under paused time (tests, the
/// simulation) it advances only when tokio's virtual clock does.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: UnixMillis,
    started: Instant,
}

impl TokioClock {
    /// A clock reading `origin` now.
    pub fn starting_at(origin: UnixMillis) -> Self {
        Self {
            origin,
            started: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> UnixMillis {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        UnixMillis::from_millis(self.origin.as_millis().saturating_add(elapsed))
    }
}
