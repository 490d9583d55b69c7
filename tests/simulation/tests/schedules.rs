//! The simulation as part of the suite: the default seed budget holds every invariant, the
//! schedules exercise what they claim to (no hollow run), and a seed replays exactly.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use simulation::{Options, Totals, replay_command, run_seed};

/// Schedules `scripts/test` runs; `SIMULATION_SEEDS` overrides it.
const DEFAULT_SEEDS: u64 = 300;

/// Runs seeds `0..count` on two threads.
fn run_seeds(count: u64) -> Totals {
    let next = AtomicU64::new(0);
    let totals = Mutex::new(Totals::default());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= count {
                        return;
                    }
                    let report = run_seed(seed, Options::default());
                    totals.lock().unwrap().add(&report);
                }
            });
        }
    });
    totals.into_inner().unwrap()
}

#[test]
fn every_invariant_holds_in_the_default_seed_budget() {
    let seeds = std::env::var("SIMULATION_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    let mut totals = run_seeds(seeds);
    totals.failures.sort_by_key(|(seed, _)| *seed);
    let failures: Vec<String> = totals
        .failures
        .iter()
        .map(|(seed, violation)| {
            format!(
                "seed {seed}: {violation}\n  replay: {}",
                replay_command(*seed)
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Not a hollow run: jobs overlapped, Lambdas died at both kinds of crash point, every fault
    // kind was injected, every refusal reason and the re-push after an overtaking occurred.
    let coverage = totals.coverage();
    let must_have = [
        "invocation overlapping another on its instance",
        "event delivered twice",
        "lambda retry",
        "parked in the failure queue",
        "re-push after being overtaken",
        "feishu fault: Http500",
        "feishu fault: RateLimit",
        "feishu fault: RateLimitWithoutReset",
        "feishu fault: TokenInvalid",
        "feishu fault: Code1395001",
        "feishu fault: Slow",
        "feishu fault: slow past the client's timeout",
        "feishu fault: AnswerLost",
        "store fault: conflict",
        "store fault: unavailable",
        "store fault: stall",
        "store fault: applied, answer lost",
        "publish fault: not delivered",
        "publish fault: delivered, answer lost",
        "verdict: accepted",
        "verdict: duplicate",
        "verdict: forwarded (instance never synced)",
        "verdict: refused (task_not_pending)",
        "verdict: refused (instance_not_pending)",
        "verdict: refused (not_the_approver)",
        "verdict: refused (task_not_found)",
        "instance job: stale",
    ];
    for counter in must_have {
        assert!(
            totals.total(counter) > 0,
            "nothing counted for {counter:?}\n{coverage}"
        );
    }
    for phase in ["(before)", "(after, applied)"] {
        let crashes: u64 = totals
            .counters
            .iter()
            .filter(|(name, _)| name.starts_with("crash at ") && name.ends_with(phase))
            .map(|(_, (total, _))| total)
            .sum();
        assert!(crashes > 0, "no crash {phase}\n{coverage}");
    }
}

#[test]
fn one_seed_replays_exactly_clock_reads_and_retry_jitter_included() {
    let options = Options {
        trace: true,
        clock_reads: true,
    };
    let first = run_seed(7, options);
    let second = run_seed(7, options);
    assert!(first.trace.len() > 100, "{}", first.trace.len());
    assert!(first.trace.iter().any(|line| line.contains("clock → ")));
    assert!(first.trace.iter().any(|line| line.contains("[fault ")));
    assert_eq!(first.trace, second.trace);
    assert_eq!(first.counters, second.counters);
    let other = run_seed(8, options);
    assert_ne!(first.trace, other.trace);
}
