//! What every part of one schedule shares: the seeded random source, the schedule's knobs (how
//! often things go wrong), the trace, the coverage counters, and what the oracle observes.

use std::collections::BTreeMap;
use std::future::pending;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use approval_sync::FeishuCalls;
use approval_sync::events::BridgeEvent;
use feishu_bridge::lifecycle::InstanceStatusPolicy;
use feishu_bridge::store::Commit;
use feishu_sim::DuplicateUuidAnswer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::exec::{self, ExecRef};

/// How one schedule's world behaves: chances per I/O and the bridge's settings. Drawn from the
/// seed, so schedules range from calm to stormy.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Chance that a Feishu request fails (or is slow, or its answer is lost).
    pub feishu_fault: f64,
    /// Chance that a store call fails, conflicts or stalls.
    pub store_fault: f64,
    /// Chance that a Lambda dies at an I/O await (before the request, or after it was applied).
    pub crash: f64,
    /// Chance that publishing an event fails.
    pub publish_fault: f64,
    /// Chance that Lambda delivers an asynchronous event a second time.
    pub duplicate_delivery: f64,
    /// Who sets instance statuses.
    pub policy: InstanceStatusPolicy,
    /// Card updates and pushes at once or in turn.
    pub feishu_calls: FeishuCalls,
    /// What Feishu answers to a repeated card `uuid`.
    pub duplicate_uuid: DuplicateUuidAnswer,
}

impl Knobs {
    /// Knobs drawn from `rng`.
    pub fn draw(rng: &mut StdRng) -> Self {
        let pick = |rng: &mut StdRng, values: &[f64]| values[rng.random_range(0..values.len())];
        Self {
            feishu_fault: pick(rng, &[0.0, 0.05, 0.15, 0.3]),
            store_fault: pick(rng, &[0.0, 0.02, 0.06]),
            crash: pick(rng, &[0.0, 0.003, 0.01, 0.02]),
            publish_fault: pick(rng, &[0.0, 0.1, 0.25]),
            duplicate_delivery: pick(rng, &[0.0, 0.1, 0.3]),
            policy: if rng.random_bool(0.8) {
                InstanceStatusPolicy::Derive
            } else {
                InstanceStatusPolicy::External
            },
            feishu_calls: if rng.random_bool(0.8) {
                FeishuCalls::Concurrent
            } else {
                FeishuCalls::Serial
            },
            duplicate_uuid: match rng.random_range(0..3) {
                0 => DuplicateUuidAnswer::FirstId,
                1 => DuplicateUuidAnswer::None,
                _ => DuplicateUuidAnswer::NewId,
            },
        }
    }
}

/// An event published to the bus.
#[derive(Debug, Clone)]
pub struct Published {
    /// The execution that published it.
    pub by: ExecRef,
    /// The event.
    pub event: BridgeEvent,
}

/// A successful store commit, in the order the store applied them.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The execution that wrote it.
    pub by: ExecRef,
    /// What it wrote.
    pub commit: Commit,
}

/// An instance push Feishu applied.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The execution that pushed it.
    pub by: ExecRef,
    /// The instance.
    pub instance_id: String,
    /// Its `update_time`.
    pub update_time: u64,
}

/// What the oracle needs to know of a schedule besides the final states.
#[derive(Debug, Default)]
pub struct Observations {
    /// Every successful commit, in application order.
    pub commits: Vec<Committed>,
    /// Every event that reached the bus, in order.
    pub published: Vec<Published>,
    /// Every push Feishu applied, in order.
    pub pushes: Vec<Pushed>,
}

/// The trace of a schedule: one readable line per step, or nothing when off.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Option<Vec<String>>,
    /// Whether clock reads are traced too (the determinism test compares them).
    pub clock_reads: bool,
}

/// The world of one schedule.
pub struct World {
    rng: Mutex<StdRng>,
    /// The schedule's knobs.
    pub knobs: Knobs,
    origin: Instant,
    trace: Mutex<Trace>,
    counters: Mutex<BTreeMap<String, u64>>,
    observations: Mutex<Observations>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl World {
    /// The world of schedule `seed`, starting now (virtual time). With `trace`, every step is
    /// written down; with `clock_reads`, every clock read too.
    pub fn new(seed: u64, trace: bool, clock_reads: bool) -> Arc<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let knobs = Knobs::draw(&mut rng);
        Arc::new(Self {
            rng: Mutex::new(rng),
            knobs,
            origin: Instant::now(),
            trace: Mutex::new(Trace {
                lines: trace.then(Vec::new),
                clock_reads,
            }),
            counters: Mutex::new(BTreeMap::new()),
            observations: Mutex::new(Observations::default()),
        })
    }

    /// Virtual time since the schedule started.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// When the schedule started.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && lock(&self.rng).random_bool(p.min(1.0))
    }

    /// A number in `low..high` (`low` when the range is empty).
    pub fn below(&self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        lock(&self.rng).random_range(low..high)
    }

    /// A duration of `low..high` milliseconds.
    pub fn millis(&self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.below(low, high))
    }

    /// A fresh seed for a sub-generator (a client's retry jitter).
    pub fn sub_seed(&self) -> u64 {
        lock(&self.rng).random()
    }

    /// Whether the trace is on.
    pub fn tracing(&self) -> bool {
        lock(&self.trace).lines.is_some()
    }

    /// Whether clock reads are traced.
    pub fn tracing_clock(&self) -> bool {
        let trace = lock(&self.trace);
        trace.lines.is_some() && trace.clock_reads
    }

    /// Writes a trace line by the current execution (or the world), if the trace is on.
    pub fn trace(&self, line: impl FnOnce() -> String) {
        let mut trace = lock(&self.trace);
        if let Some(lines) = &mut trace.lines {
            let elapsed = self.elapsed();
            let who = exec::current().map_or_else(|| "world".to_owned(), |exec| exec.label());
            lines.push(format!(
                "{:>4}.{:03}s  {who:<18} {}",
                elapsed.as_secs(),
                elapsed.subsec_millis(),
                line()
            ));
        }
    }

    /// The trace lines so far.
    pub fn trace_lines(&self) -> Vec<String> {
        lock(&self.trace).lines.clone().unwrap_or_default()
    }

    /// Counts one occurrence of `what` (coverage).
    pub fn count(&self, what: impl Into<String>) {
        *lock(&self.counters).entry(what.into()).or_default() += 1;
    }

    /// The coverage counters.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        lock(&self.counters).clone()
    }

    /// Records what the oracle must know.
    pub fn observe(&self, change: impl FnOnce(&mut Observations)) {
        change(&mut lock(&self.observations));
    }

    /// Takes the observations for the oracle.
    pub fn take_observations(&self) -> Observations {
        std::mem::take(&mut lock(&self.observations))
    }

    /// Before an I/O call at `site`: the request travels for `latency`; a Lambda may die here,
    /// before anything was applied. Outside an execution, only the latency applies.
    pub async fn before_io(&self, site: &'static str, latency: Duration) {
        let exec = exec::current();
        halt_if_crashed(exec.as_deref()).await;
        tokio::time::sleep(latency).await;
        halt_if_crashed(exec.as_deref()).await;
        if let Some(exec) = exec
            && self.chance(self.knobs.crash)
        {
            self.count(format!("crash at {site} (before)"));
            self.trace(|| format!("CRASH before {site}"));
            exec.crash();
            pending::<()>().await;
        }
    }

    /// After an I/O call at `site` was applied: a Lambda may die here, before it sees the
    /// answer; then the answer travels for `latency`.
    pub async fn after_io(&self, site: &'static str, latency: Duration) {
        let exec = exec::current();
        if let Some(exec) = &exec
            && self.chance(self.knobs.crash)
        {
            self.count(format!("crash at {site} (after, applied)"));
            self.trace(|| format!("CRASH after {site} was applied"));
            exec.crash();
            pending::<()>().await;
        }
        tokio::time::sleep(latency).await;
        halt_if_crashed(exec.as_deref()).await;
    }
}

/// Never returns once `exec` has crashed: a dead Lambda does nothing more.
pub async fn halt_if_crashed(exec: Option<&exec::Execution>) {
    if exec.is_some_and(exec::Execution::crashed) {
        pending::<()>().await;
    }
}
