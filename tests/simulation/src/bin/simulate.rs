//! `simulate`: runs many seeded schedules in parallel with a progress line and a summary, or
//! replays one seed with its trace. See the crate README.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use clap::Parser;
use simulation::oracle::INVARIANTS;
use simulation::{Options, ScheduleReport, Totals, replay_command, run_seed};

/// Deterministic simulation of the sync step.
#[derive(Debug, Parser)]
#[command(name = "simulate")]
struct Args {
    /// Schedules to run.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Parallel workers (default: the machine's cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Replay this one seed and print its trace.
    #[arg(long)]
    seed: Option<u64>,
    /// With --seed: trace every clock read too.
    #[arg(long)]
    clock_reads: bool,
    /// Succeed only if some schedule breaks an invariant, and stop at the lowest such seed
    /// (for mutants).
    #[arg(long)]
    expect_violation: bool,
    /// Full traces of at most this many failing seeds.
    #[arg(long, default_value_t = 3)]
    show: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(seed) = args.seed {
        return replay(seed, args.clock_reads);
    }
    let workers = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(args.from));
    let stop_after = Arc::new(AtomicU64::new(u64::MAX));
    let end = args.from.saturating_add(args.seeds);
    let (sender, reports) = mpsc::channel::<ScheduleReport>();
    let mut threads = Vec::new();
    for _ in 0..workers {
        let next = Arc::clone(&next);
        let stop_after = Arc::clone(&stop_after);
        let sender = sender.clone();
        let expect_violation = args.expect_violation;
        threads.push(std::thread::spawn(move || {
            loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= end || seed > stop_after.load(Ordering::SeqCst) {
                    return;
                }
                let report = run_seed(seed, Options::default());
                if expect_violation && !report.violations.is_empty() {
                    stop_after.fetch_min(seed, Ordering::SeqCst);
                }
                if sender.send(report).is_err() {
                    return;
                }
            }
        }));
    }
    drop(sender);
    let mut totals = Totals::default();
    let mut done = 0u64;
    let interactive = std::env::var_os("CI").is_none();
    for report in reports {
        done += 1;
        totals.add(&report);
        if interactive || done.is_multiple_of(1000) || done == args.seeds {
            progress(done, args.seeds, &totals, started);
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
    eprintln!();
    let elapsed = started.elapsed().as_secs_f64();
    totals.failures.sort_by_key(|(seed, _)| *seed);
    println!("{}", totals.coverage());
    println!(
        "{} schedules in {elapsed:.1} s: {:.1} schedules/s on {workers} workers; {} jobs; {} crashes, {} Feishu faults, {} store faults, {} publish faults injected",
        totals.schedules,
        totals.schedules as f64 / elapsed.max(1e-9),
        totals.jobs,
        totals.total_prefixed("crash at "),
        totals.total_prefixed("feishu fault: "),
        totals.total_prefixed("store fault: "),
        totals.total_prefixed("publish fault: "),
    );
    println!("violations: {}", totals.failures.len());
    for (seed, violation) in totals.failures.iter().take(50) {
        println!("  seed {seed}: {violation}");
    }
    for (seed, _) in totals.failures.iter().take(args.show) {
        print_failure(run_seed(
            *seed,
            Options {
                trace: true,
                clock_reads: false,
            },
        ));
    }
    match (args.expect_violation, totals.failures.first()) {
        (true, Some((seed, violation))) => {
            let tried = seed - args.from + 1;
            println!("caught: first violating seed {seed} ({tried} seeds) — {violation}");
            ExitCode::SUCCESS
        }
        (true, None) => {
            println!("NOT caught: no violation in {} seeds", totals.schedules);
            ExitCode::FAILURE
        }
        (false, None) => ExitCode::SUCCESS,
        (false, Some(_)) => ExitCode::FAILURE,
    }
}

fn progress(done: u64, total: u64, totals: &Totals, started: Instant) {
    let width = 30;
    let filled = (done * width / total.max(1)) as usize;
    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {done}/{total} seeds  {rate:.0}/s  violations {}   ",
        "#".repeat(filled),
        " ".repeat(width as usize - filled),
        totals.failures.len()
    );
    let _ = std::io::stderr().flush();
}

fn replay(seed: u64, clock_reads: bool) -> ExitCode {
    let report = run_seed(
        seed,
        Options {
            trace: true,
            clock_reads,
        },
    );
    let failed = !report.violations.is_empty();
    if failed {
        print_failure(report);
    } else {
        for line in &report.trace {
            println!("{line}");
        }
        println!("seed {seed}: every invariant holds ({} jobs)", report.jobs);
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_failure(report: ScheduleReport) {
    println!("\n=== seed {} ({}) ===", report.seed, report.knobs);
    for line in &report.trace {
        println!("{line}");
    }
    for violation in &report.violations {
        println!(
            "VIOLATION seed {} — invariant {} ({}): {}",
            report.seed,
            violation.invariant,
            INVARIANTS[usize::from(violation.invariant.clamp(1, 7)) - 1],
            violation.message
        );
    }
    println!("replay: {}", replay_command(report.seed));
}
