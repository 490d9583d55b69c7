//! [`SimHandle`]: in-process access to a running simulator's state, the same operations the
//! `/_sim/` admin API offers over HTTP.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::SimConfig;
use crate::faults::{FaultCommand, FaultsSnapshot};
use crate::state::{RecordedRequest, SimState, StateSnapshot};

/// A cheap, cloneable handle on the simulator's state.
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<Mutex<SimState>>,
}

impl SimHandle {
    /// A handle on a fresh state.
    pub(crate) fn new(config: SimConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(SimState::new(config))),
        }
    }

    /// Locks the state. A panic while locked cannot leave it half-updated in a way that matters
    /// to a test double, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything stored: definitions, instances, cards with status history, tokens, faults.
    pub fn state(&self) -> StateSnapshot {
        self.lock().snapshot()
    }

    /// Every recorded API request, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests(None)
    }

    /// The recorded API requests to `path`, in arrival order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.lock().requests(Some(path))
    }

    /// Adds a fault rule or sets the random-fault mode.
    pub fn inject_fault(&self, command: FaultCommand) {
        self.lock().apply_fault(command);
    }

    /// Pending faults.
    pub fn faults(&self) -> FaultsSnapshot {
        self.lock().faults()
    }

    /// Removes every pending fault and turns random mode off.
    pub fn clear_faults(&self) {
        self.lock().clear_faults();
    }

    /// Ends every issued tenant token now; the next token request issues a new one.
    pub fn expire_tokens(&self) {
        self.lock().expire_tokens();
    }

    /// Moves the simulator clock forward (token expiry, uuid window, 30-day update limit).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().advance_clock(by);
    }

    /// Forgets everything except the configuration; ids start over.
    pub fn reset(&self) {
        self.lock().reset();
    }
}
