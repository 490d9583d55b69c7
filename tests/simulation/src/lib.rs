//! Deterministic simulation of the sync step.
//!
//! One `u64` seed fixes a whole schedule ([`run_seed`]): the workload (the company's instance
//! versions, the approvers' taps, card status changes), how often Feishu, the store and the bus
//! fail, when Lambdas die and how Lambda redelivers. The real [`approval_sync::SyncService`]
//! runs every job — in several containers at once, interleaved at their await points on a
//! current-thread Tokio runtime with paused time, so virtual time only moves when every task
//! waits — against feishu-sim in process, the real in-memory store and a bus, each behind a
//! seeded wrapper. When the schedule has quiesced, [`oracle::check`] checks the invariants.
//!
//! Nothing reads the wall clock or an unseeded random source: the bridge's clock follows
//! Tokio's paused clock, the client's retry jitter is seeded, lease owners are named by
//! container, and the simulation's own choices come from the seed, in the order the
//! deterministic scheduler runs the tasks. The same seed gives the same trace.

pub mod events;
pub mod exec;
pub mod feishu;
pub mod lambda;
pub mod model;
pub mod oracle;
pub mod store;
pub mod workload;
pub mod world;

use std::collections::BTreeMap;
use std::time::Duration;

use feishu_bridge::clock::{Clock, TokioClock};
use feishu_bridge::lifecycle::InstanceStatusPolicy;
use feishu_bridge::models::time::UnixMillis;
use feishu_sim::{SimConfig, SimSettings, Simulator};

use crate::lambda::{Bridge, register_definition, run_workload};
use crate::oracle::{Evidence, Violation};
use crate::workload::{BRIDGE_EPOCH, Workload};
use crate::world::World;

/// The virtual time a schedule has to quiesce in: its steps span about two minutes, and a
/// delivery retried twice takes three more.
pub const BUDGET: Duration = Duration::from_secs(30 * 60);

/// How to run a schedule.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Write the readable trace.
    pub trace: bool,
    /// Trace every clock read too.
    pub clock_reads: bool,
}

/// What one schedule did and broke.
#[derive(Debug, Clone)]
pub struct ScheduleReport {
    /// The seed.
    pub seed: u64,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Coverage counters: faults and crashes injected, verdicts, retries, …
    pub counters: BTreeMap<String, u64>,
    /// Jobs submitted.
    pub jobs: usize,
    /// Virtual time until quiescence.
    pub virtual_time: Duration,
    /// The schedule's knobs.
    pub knobs: String,
    /// The trace (empty unless asked for).
    pub trace: Vec<String>,
}

/// Runs schedule `seed` on a fresh current-thread runtime with paused time.
pub fn run_seed(seed: u64, options: Options) -> ScheduleReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap_or_else(|error| panic!("a current-thread runtime: {error}"));
    runtime.block_on(simulate(seed, options))
}

async fn simulate(seed: u64, options: Options) -> ScheduleReport {
    let world = World::new(seed, options.trace, options.clock_reads);
    let workload = Workload::draw(&world);
    let clock = TokioClock::starting_at(UnixMillis::from_millis(BRIDGE_EPOCH));
    let config = SimConfig {
        settings: SimSettings {
            duplicate_uuid: world.knobs.duplicate_uuid,
            ..SimSettings::default()
        },
        ..SimConfig::default()
    };
    let sim_clock = move || i64::try_from(clock.now().as_millis()).unwrap_or(i64::MAX);
    let sim = Simulator::in_process(config, sim_clock);
    let approval_code = register_definition(&sim);
    world.trace(|| format!("seed {seed}: {:?}", world.knobs));
    let bridge = Bridge::new(
        std::sync::Arc::clone(&world),
        sim.clone(),
        approval_code,
        clock,
        workload.clone(),
    );
    let quiesced = run_workload(&bridge, BUDGET).await;
    let virtual_time = world.elapsed();
    let jobs = bridge.jobs();
    let seen = world.take_observations();
    let mut records = BTreeMap::new();
    for plan in &workload.instances {
        records.insert(plan.id.clone(), bridge.store.records(&plan.id).await);
    }
    let evidence = Evidence {
        workload: &workload,
        jobs: &jobs,
        seen: &seen,
        sim: &sim,
        records: &records,
        derive: bridge.settings().instance_status_policy == InstanceStatusPolicy::Derive,
        quiesced,
    };
    let violations = oracle::check(&evidence, &world);
    world.trace(|| format!("quiesced: {quiesced}; {} violation(s)", violations.len()));
    ScheduleReport {
        seed,
        violations,
        counters: world.counters(),
        jobs: jobs.len(),
        virtual_time,
        knobs: format!("{:?}", world.knobs),
        trace: world.trace_lines(),
    }
}

/// Totals over many schedules.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Schedules run.
    pub schedules: u64,
    /// Jobs submitted.
    pub jobs: u64,
    /// Per counter: the total, and how many schedules had it.
    pub counters: BTreeMap<String, (u64, u64)>,
    /// Schedules with a violation, and their first violation.
    pub failures: Vec<(u64, Violation)>,
}

impl Totals {
    /// Adds a schedule.
    pub fn add(&mut self, report: &ScheduleReport) {
        self.schedules += 1;
        self.jobs += report.jobs as u64;
        for (name, count) in &report.counters {
            let entry = self.counters.entry(name.clone()).or_default();
            entry.0 += count;
            entry.1 += 1;
        }
        if let Some(first) = report.violations.first() {
            self.failures.push((report.seed, first.clone()));
        }
    }

    /// The total of counter `name`.
    pub fn total(&self, name: &str) -> u64 {
        self.counters.get(name).map_or(0, |(total, _)| *total)
    }

    /// The totals of every counter whose name starts with `prefix`.
    pub fn total_prefixed(&self, prefix: &str) -> u64 {
        self.counters
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, (total, _))| total)
            .sum()
    }

    /// The coverage summary, one counter a line.
    pub fn coverage(&self) -> String {
        let mut text = format!(
            "{} schedules, {} jobs\n{:<58} {:>10} {:>10}\n",
            self.schedules, self.jobs, "coverage", "total", "schedules"
        );
        for (name, (total, schedules)) in &self.counters {
            text.push_str(&format!("  {name:<56} {total:>10} {schedules:>10}\n"));
        }
        text
    }
}

/// The command that replays schedule `seed` with its trace.
pub fn replay_command(seed: u64) -> String {
    let mut command = "scripts/simulate".to_owned();
    for (feature, on) in [
        (
            "mutant-decision-write-unconditional",
            cfg!(feature = "mutant-decision-write-unconditional"),
        ),
        (
            "mutant-skip-duplicate-check",
            cfg!(feature = "mutant-skip-duplicate-check"),
        ),
        (
            "mutant-publish-early",
            cfg!(feature = "mutant-publish-early"),
        ),
        ("mutant-no-repush", cfg!(feature = "mutant-no-repush")),
    ] {
        if on {
            command.push_str(&format!(" --mutant {feature}"));
        }
    }
    command.push_str(&format!(" --seed {seed}"));
    command
}
