//! [`SimHandle`]: in-process access to a simulator — the same operations the `/_sim/` admin API
//! offers over HTTP, and [`SimHandle::exchange`] to call the simulated Feishu API without a
//! socket.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::cards::{CardCallback, MessageRecord, Tap, TapError, TapOutcome};
use crate::clock::Clock;
use crate::config::SimConfig;
use crate::exchange::{ApiCall, FaultSource, SimResponse};
use crate::faults::{Fault, FaultCommand, FaultsSnapshot};
use crate::instances::{InstanceRecord, InstanceVersion, RollbackError};
use crate::rate_limits::ApiRateCounters;
use crate::routes::FeishuApi;
use crate::settings::SimSettings;
use crate::state::{RecordedRequest, SimState, StateSnapshot};

/// A cheap, cloneable handle on the simulator's state.
#[derive(Clone)]
pub struct SimHandle {
    state: Arc<Mutex<SimState>>,
}

impl SimHandle {
    /// A handle on a fresh state running on `clock`.
    pub(crate) fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::new(Mutex::new(SimState::new(config, clock))),
        }
    }

    /// Locks the state. A panic while locked cannot leave it half-updated in a way that matters
    /// to a test double, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one request to the simulated Feishu API, synchronously and without a socket, with
    /// the same validation, state changes, request log and fault rules as the HTTP server.
    ///
    /// `path_and_query` is e.g. `/open-apis/approval/v4/external_instances` (a `?query` is
    /// recorded); `headers` are `(name, value)` pairs, names case-insensitive. `/_sim/` paths are
    /// not served here (use the handle's methods). A `slow` fault does not sleep: its delay comes
    /// back in [`SimResponse::delay`]. An `answer_lost` fault applies the request and sets
    /// [`SimResponse::answer_lost`].
    pub fn exchange(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> SimResponse {
        self.exchange_from(FaultSource::Rules, method, path_and_query, headers, body)
    }

    /// [`SimHandle::exchange`] with the caller's fault decision for this request instead of the
    /// fault rules and random mode (which are neither consulted nor consumed): `None` answers
    /// normally, `Some(fault)` fails (or delays, or loses) this request as the fault says.
    pub fn exchange_with_fault(
        &self,
        fault: Option<Fault>,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> SimResponse {
        self.exchange_from(
            FaultSource::Caller(fault),
            method,
            path_and_query,
            headers,
            body,
        )
    }

    fn exchange_from(
        &self,
        source: FaultSource,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> SimResponse {
        let mut call = ApiCall::new(method, path_and_query, body);
        for (name, value) in headers {
            call.add_header(name, value);
        }
        let mut state = self.lock();
        let admission = state.admit(&call, source);
        let delay = admission.delay();
        let answer = state.answer(&call, admission);
        SimResponse::new(answer, delay)
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

    /// Every bot card as the approver sees it, in sending order.
    pub fn cards(&self) -> Vec<MessageRecord> {
        self.lock().cards()
    }

    /// The bot card with this `message_id`, as the approver sees it.
    pub fn card(&self, message_id: &str) -> Option<MessageRecord> {
        self.lock().card(message_id)
    }

    /// The approver taps a quick-approval button on a card: the callback Feishu would post
    /// (`feishu-api.md` §2.2, encrypted per §2.3 when the card has an `action_callback_key`).
    /// The card does not change until [`SimHandle::settle_tap`] says how the callback went.
    pub fn tap(&self, message_id: &str, tap: &Tap) -> Result<CardCallback, TapError> {
        self.lock().tap(message_id, tap)
    }

    /// What Feishu does to the card once the callback of tap number `tap` answered (§2.4):
    /// success with the action's `next_status` sets that status; success without one leaves the
    /// buttons live; failure leaves only "view details". Returns the card afterwards.
    pub fn settle_tap(
        &self,
        message_id: &str,
        tap: u32,
        outcome: TapOutcome,
    ) -> Result<MessageRecord, TapError> {
        self.lock().settle_tap(message_id, tap, outcome)
    }

    /// The stored instance `instance_id`.
    pub fn instance(&self, instance_id: &str) -> Option<InstanceRecord> {
        self.lock().instance(instance_id)
    }

    /// Every stored version of an instance (one per applied push), oldest first.
    pub fn instance_versions(&self, instance_id: &str) -> Vec<InstanceVersion> {
        self.lock().instance_versions(instance_id)
    }

    /// Forgets an instance as if Feishu lost it (check then reports it unknown); the record as
    /// it was, or `None` if there was none.
    pub fn forget_instance(&self, instance_id: &str) -> Option<InstanceRecord> {
        self.lock().forget_instance(instance_id)
    }

    /// Puts an instance back to stored version `version` (see [`SimHandle::instance_versions`]).
    pub fn roll_back_instance(
        &self,
        instance_id: &str,
        version: u32,
    ) -> Result<InstanceRecord, RollbackError> {
        self.lock().roll_back_instance(instance_id, version)
    }

    /// The run-time behaviour choices.
    pub fn settings(&self) -> SimSettings {
        self.lock().settings()
    }

    /// Replaces the run-time behaviour choices (duplicate-uuid answer, check batch limit, rate
    /// limits).
    pub fn set_settings(&self, settings: SimSettings) {
        self.lock().set_settings(settings);
    }

    /// Adds a fault rule or sets the random-fault mode.
    pub fn inject_fault(&self, command: FaultCommand) {
        self.lock().apply_fault(command);
    }

    /// Pending faults.
    pub fn faults(&self) -> FaultsSnapshot {
        self.lock().faults()
    }

    /// Per API that met the rate windows (setting `rate_limits`): requests admitted, refused
    /// (by which window) and the most one window held. Empty while rate limits were never on;
    /// [`SimHandle::reset`] zeroes them.
    pub fn rate_counters(&self) -> BTreeMap<FeishuApi, ApiRateCounters> {
        self.lock().rate_counters()
    }

    /// Removes every pending fault and turns random mode off.
    pub fn clear_faults(&self) {
        self.lock().clear_faults();
    }

    /// Ends every issued tenant token now; the next token request issues a new one.
    pub fn expire_tokens(&self) {
        self.lock().expire_tokens();
    }

    /// Moves the simulator clock forward (token expiry, uuid window, 30-day update limit), on
    /// top of whatever clock it runs on.
    pub fn advance_clock(&self, by: Duration) {
        self.lock().advance_clock(by);
    }

    /// Forgets everything except the configuration, clock and settings; ids start over.
    pub fn reset(&self) {
        self.lock().reset();
    }
}
