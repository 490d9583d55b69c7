//! `feishu-sim`: an in-memory simulator of the Feishu OpenAPI surface the bridge uses — the tenant
//! token, third-party approval definitions, instances and checks, and approval bot cards — with
//! Feishu's paths, envelopes, error codes and HTTP statuses (`feishu-api.md` §0–§5, §7), and
//! optionally its per-API rate windows, plus a `/_sim/` admin API for assertions and fault
//! injection.
//!
//! It validates raw JSON on its own terms (it shares no models with `feishu-bridge`), so a wrong
//! field type, a missing required field or a custom approval code used where the system code
//! belongs fails here the way it fails against Feishu.
//!
//! ```no_run
//! # async fn demo() -> Result<(), feishu_sim::SimError> {
//! let sim = feishu_sim::Simulator::start(feishu_sim::SimConfig::default()).await?;
//! let base_url = sim.base_url(); // point the Feishu client here
//! // … exercise the client …
//! let cards = sim.handle().cards();
//! # let _ = (base_url, cards);
//! # Ok(()) }
//! ```
//!
//! Without a socket, on a virtual clock (a deterministic simulation):
//!
//! ```
//! use feishu_sim::{ManualClock, SimConfig, Simulator};
//!
//! let clock = ManualClock::new(1_700_000_000_000);
//! let sim = Simulator::in_process(SimConfig::default(), clock.clone());
//! let body = br#"{"app_id":"cli_feishusim000001","app_secret":"feishu-sim-secret"}"#;
//! let answer = sim.exchange("POST", "/open-apis/auth/v3/tenant_access_token/internal", &[], body);
//! assert_eq!(answer.status, 200);
//! assert_eq!(answer.json().ok().and_then(|json| json["expire"].as_i64()), Some(7200));
//! ```

mod auth;
mod cards;
mod clock;
mod config;
mod definitions;
mod exchange;
mod faults;
mod handle;
mod i18n;
mod ids;
mod instances;
mod messages;
mod rate_limits;
mod reply;
mod routes;
mod schema;
mod serve;
mod server;
mod settings;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use auth::TokenInfo;
pub use cards::{
    CardButtons, CardCallback, MessageRecord, StatusChange, StatusSource, Tap, TapAttachment,
    TapError, TapOutcome, TapRecord,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, DEFAULT_TOKEN_LIFETIME, SimConfig};
pub use definitions::DefinitionRecord;
pub use exchange::SimResponse;
pub use faults::{
    Fault, FaultCommand, FaultCommandError, FaultKind, FaultRule, FaultsSnapshot, RandomFaults,
};
pub use handle::SimHandle;
pub use instances::{
    CcRecord, InstanceRecord, InstanceVersion, PushOutcome, PushRecord, RollbackError, TaskRecord,
    UpdateMode,
};
pub use rate_limits::{
    ApiLimits, ApiRateCounters, FEISHU_PER_MINUTE, FEISHU_PER_SECOND, RateLimits, RateLimitsError,
    RateWindow,
};
pub use routes::FeishuApi;
pub use settings::{DuplicateUuidAnswer, SettingsError, SimSettings, UnknownDuplicateUuidAnswer};
pub use state::{RecordedRequest, StateSnapshot};

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server task panicked or was cancelled.
    #[error("simulator server task ended abnormally: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Binds `config.bind` and serves in a background task of the current Tokio runtime, on the
    /// wall clock.
    pub async fn start(config: SimConfig) -> Result<RunningSimulator, SimError> {
        let bind = config.bind;
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| SimError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr: bind, source })?;
        let handle = SimHandle::new(config, Arc::new(SystemClock));
        let router = server::router(handle.clone());
        // Either an explicit stop or the sender being dropped ends the server.
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::serve(listener, router, stopped));
        Ok(RunningSimulator {
            addr,
            handle,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// A simulator without a server, answering [`SimHandle::exchange`] synchronously on
    /// `clock` (a [`ManualClock`], a closure returning Unix ms, …). Ids, log ids and answers
    /// depend only on the request sequence and the clock. Needs no Tokio runtime.
    pub fn in_process(config: SimConfig, clock: impl Clock) -> SimHandle {
        SimHandle::new(config, Arc::new(clock))
    }
}

/// A simulator serving in the background; dropping it stops the server.
pub struct RunningSimulator {
    addr: SocketAddr,
    handle: SimHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// `http://host:port`, the base URL to give a Feishu client (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// In-process access to state, request log, faults and clock.
    pub fn handle(&self) -> &SimHandle {
        &self.handle
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(SimError::Task),
            None => Ok(()),
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
