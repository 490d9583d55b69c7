//! Feishu's per-API rate windows (setting `rate_limits`): off by default; fixed or sliding, per
//! second and per minute, answered as Feishu does (HTTP 429, code 99991400,
//! `x-ogw-ratelimit-limit`, `x-ogw-ratelimit-reset`), each API on its own, on the simulator's
//! clock.

use std::num::NonZeroU32;
use std::time::Duration;

use feishu_sim::{
    ApiLimits, ApiRateCounters, FaultCommand, FaultKind, FeishuApi, ManualClock, RateLimits,
    RateWindow, SimConfig, SimHandle, SimResponse, SimSettings, Simulator,
};
use serde_json::{Value, json};

use crate::helpers::{CHECK, SEND, Sim, TOKEN, api_in_process, json_of, send_body};

/// A Unix minute boundary, so fixed windows start exactly here.
const MINUTE_START_MS: i64 = 1_700_000_040_000;

/// An in-process simulator with `rate_limits`, its clock at `MINUTE_START_MS + offset_ms`.
fn simulator(rate_limits: Option<RateLimits>, offset_ms: i64) -> (SimHandle, ManualClock) {
    let clock = ManualClock::new(MINUTE_START_MS + offset_ms);
    let config = SimConfig {
        settings: SimSettings {
            rate_limits,
            ..SimSettings::default()
        },
        ..SimConfig::default()
    };
    (Simulator::in_process(config, clock.clone()), clock)
}

fn limits(window: RateWindow) -> Option<RateLimits> {
    Some(RateLimits {
        window,
        ..RateLimits::default()
    })
}

fn check_body() -> Value {
    json!({"instances": [{"instance_id": "PR-1", "update_time": "1", "tasks": []}]})
}

fn check(sim: &SimHandle) -> SimResponse {
    api_in_process(sim, CHECK, &check_body())
}

/// Sends `count` checks now; all must be admitted.
fn admitted_checks(sim: &SimHandle, count: usize) {
    for sent in 0..count {
        let answer = check(sim);
        assert_eq!(answer.status, 200, "check {sent}: {:?}", json_of(&answer));
    }
}

/// Feishu's rate-limit answer, with the limit and reset it names.
#[track_caller]
fn assert_refused(answer: &SimResponse, limit: &str, reset_secs: &str) {
    assert_eq!(answer.status, 429);
    let body = json_of(answer);
    assert_eq!(body["code"], 99_991_400);
    assert_eq!(body["msg"], "request trigger frequency limit");
    assert_eq!(answer.header("x-ogw-ratelimit-limit"), Some(limit));
    assert_eq!(answer.header("x-ogw-ratelimit-reset"), Some(reset_secs));
}

fn counters(sim: &SimHandle, api: FeishuApi) -> ApiRateCounters {
    sim.rate_counters().get(&api).copied().unwrap_or_default()
}

#[test]
fn rate_limits_are_off_by_default() {
    let (sim, _) = simulator(None, 0);
    assert_eq!(sim.settings().rate_limits, None);
    admitted_checks(&sim, 120);
    for _ in 0..60 {
        assert_eq!(api_in_process(&sim, SEND, &send_body(None)).status, 200);
    }
    assert!(sim.rate_counters().is_empty());
}

#[test]
fn a_fixed_second_admits_50_and_the_next_second_starts_afresh() {
    let (sim, clock) = simulator(limits(RateWindow::Fixed), 200);
    admitted_checks(&sim, 50);
    assert_refused(&check(&sim), "50", "1");
    clock.advance(Duration::from_millis(799));
    assert_refused(&check(&sim), "50", "1");
    // A new calendar second: a burst may straddle the boundary, 100 within 801 ms.
    clock.advance(Duration::from_millis(1));
    admitted_checks(&sim, 50);
    assert_refused(&check(&sim), "50", "1");
    let counters = counters(&sim, FeishuApi::ExternalInstancesCheck);
    assert_eq!(
        (
            counters.admitted,
            counters.refused,
            counters.refused_by_second,
            counters.refused_by_minute,
            counters.peak_per_second,
            counters.peak_per_minute
        ),
        (100, 3, 3, 0, 50, 100)
    );
}

#[test]
fn a_sliding_second_admits_again_only_when_the_oldest_request_is_a_second_old() {
    let (sim, clock) = simulator(limits(RateWindow::Sliding), 200);
    admitted_checks(&sim, 50);
    clock.advance(Duration::from_millis(800));
    // The calendar second changed, the last 1,000 ms still hold 50.
    assert_refused(&check(&sim), "50", "1");
    clock.advance(Duration::from_millis(199));
    assert_refused(&check(&sim), "50", "1");
    clock.advance(Duration::from_millis(1));
    admitted_checks(&sim, 50);
    assert_refused(&check(&sim), "50", "1");
}

#[test]
fn a_fixed_minute_admits_1000_and_its_reset_counts_down_to_the_minute_s_end() {
    let (sim, clock) = simulator(limits(RateWindow::Fixed), 0);
    for _ in 0..20 {
        admitted_checks(&sim, 50);
        clock.advance(Duration::from_secs(1));
    }
    // 20 s into the minute, 1,000 spent: the minute window refuses although the second is empty.
    assert_refused(&check(&sim), "1000", "40");
    clock.advance(Duration::from_millis(39_500));
    assert_refused(&check(&sim), "1000", "1");
    clock.advance(Duration::from_millis(499));
    assert_refused(&check(&sim), "1000", "1");
    clock.advance(Duration::from_millis(1));
    admitted_checks(&sim, 50);
    let counters = counters(&sim, FeishuApi::ExternalInstancesCheck);
    assert_eq!(
        (
            counters.refused,
            counters.refused_by_second,
            counters.refused_by_minute,
            counters.peak_per_minute
        ),
        (3, 0, 3, 1000)
    );
}

#[test]
fn a_sliding_minute_admits_again_when_its_oldest_requests_are_a_minute_old() {
    let (sim, clock) = simulator(limits(RateWindow::Sliding), 500);
    for _ in 0..20 {
        admitted_checks(&sim, 50);
        clock.advance(Duration::from_secs(1));
    }
    // The oldest 50 (at 0.5 s) leave the window at 60.5 s: 40 s from 20.5 s.
    assert_refused(&check(&sim), "1000", "40");
    // Past the calendar minute, still within 60 s of them.
    clock.advance(Duration::from_millis(39_999));
    assert_refused(&check(&sim), "1000", "1");
    clock.advance(Duration::from_millis(1));
    admitted_checks(&sim, 50);
    // Those 50 places are spent; the next 50 leave at 61.5 s.
    assert_refused(&check(&sim), "1000", "1");
}

#[test]
fn when_both_windows_are_full_the_headers_name_the_longer_wait() {
    let small = RateLimits {
        external_instances_check: ApiLimits {
            per_second: NonZeroU32::new(2),
            per_minute: NonZeroU32::new(4),
        },
        ..RateLimits::default()
    };
    let (sim, clock) = simulator(Some(small), 10_000);
    admitted_checks(&sim, 2);
    assert_refused(&check(&sim), "2", "1");
    clock.advance(Duration::from_secs(1));
    admitted_checks(&sim, 2);
    // The second is full (1 s to wait) and so is the minute (49 s): the minute decides.
    assert_refused(&check(&sim), "4", "49");
    let counters = counters(&sim, FeishuApi::ExternalInstancesCheck);
    assert_eq!(
        (
            counters.refused,
            counters.refused_by_second,
            counters.refused_by_minute
        ),
        (2, 2, 1)
    );
}

#[test]
fn each_api_has_windows_of_its_own_and_the_token_endpoint_has_none() {
    let mut rate_limits = RateLimits::default();
    rate_limits.message_update.per_second = NonZeroU32::new(2);
    let (sim, _) = simulator(Some(rate_limits), 0);
    admitted_checks(&sim, 50);
    assert_refused(&check(&sim), "50", "1");
    // Sending cards still works at the same instant: message/send's windows are untouched.
    let sent = api_in_process(&sim, SEND, &send_body(None));
    assert_eq!(sent.status, 200);
    let message_id = json_of(&sent)["data"]["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let update = json!({"message_id": message_id, "status": "APPROVED"});
    for _ in 0..2 {
        let updated = api_in_process(&sim, "/open-apis/approval/v1/message/update", &update);
        assert_eq!(updated.status, 200, "{:?}", json_of(&updated));
    }
    let third = api_in_process(&sim, "/open-apis/approval/v1/message/update", &update);
    assert_refused(&third, "2", "1");
    // Every api_in_process call fetched a token first: none was refused.
    assert!(
        sim.requests_to(TOKEN)
            .iter()
            .all(|request| request.http_status == 200)
    );
    let counters = sim.rate_counters();
    assert_eq!(counters.len(), 3, "{counters:?}");
    assert_eq!(
        counters[&FeishuApi::ExternalInstancesCheck].refused_by_second,
        1
    );
    assert_eq!(counters[&FeishuApi::MessageSend].admitted, 1);
    assert_eq!(counters[&FeishuApi::MessageUpdate].admitted, 2);
    assert_eq!(counters[&FeishuApi::MessageUpdate].refused, 1);
}

#[test]
fn a_refused_request_reaches_no_api_and_takes_no_fault() {
    let small = RateLimits {
        external_instances_check: ApiLimits {
            per_second: NonZeroU32::new(1),
            per_minute: None,
        },
        ..RateLimits::default()
    };
    let (sim, clock) = simulator(Some(small), 0);
    admitted_checks(&sim, 1);
    sim.inject_fault(FaultCommand::on_path(CHECK, FaultKind::Http500, 1));
    assert_refused(&check(&sim), "1", "1");
    assert_eq!(
        sim.faults().rules.len(),
        1,
        "the fault rule is still pending"
    );
    let recorded = sim.requests_to(CHECK);
    assert_eq!(
        recorded
            .last()
            .map(|request| (request.http_status, request.fault)),
        Some((429, None))
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(check(&sim).status, 500);
}

#[test]
fn reset_forgets_the_windows_and_counters_but_keeps_the_setting() {
    let (sim, _) = simulator(limits(RateWindow::Fixed), 0);
    admitted_checks(&sim, 50);
    assert_refused(&check(&sim), "50", "1");
    sim.reset();
    assert!(sim.rate_counters().is_empty());
    assert_eq!(sim.settings().rate_limits, limits(RateWindow::Fixed));
    admitted_checks(&sim, 50);
}

#[tokio::test]
async fn the_admin_api_turns_rate_limits_on_and_off_and_shows_the_counters() {
    let sim = Sim::start().await;
    let (status, settings) = sim
        .admin(
            "POST",
            "/_sim/settings",
            Some(&json!({"rate_limits": {
                "window": "sliding",
                "external_instances_check": {"per_second": null, "per_minute": 3}
            }})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(settings["rate_limits"]["window"], "sliding");
    assert_eq!(
        settings["rate_limits"]["external_instances_check"],
        json!({"per_second": null, "per_minute": 3})
    );
    assert_eq!(
        settings["rate_limits"]["message_send"],
        json!({"per_second": 50, "per_minute": 1000})
    );
    for _ in 0..3 {
        assert_eq!(sim.api(CHECK, &check_body()).await.status, 200);
    }
    let refused = sim.api(CHECK, &check_body()).await;
    assert_eq!((refused.status, refused.code()), (429, 99_991_400));
    assert_eq!(refused.header("x-ogw-ratelimit-limit"), Some("3"));
    let reset: u64 = refused
        .header("x-ogw-ratelimit-reset")
        .and_then(|reset| reset.parse().ok())
        .unwrap_or_default();
    assert!((1..=60).contains(&reset), "reset {reset}");

    // (The wall clock runs here: how many of the three one second held depends on the machine.)
    let (status, counters) = sim.admin("GET", "/_sim/rate-counters", None).await;
    assert_eq!(status, 200);
    let check = &counters["external_instances_check"];
    assert_eq!(
        [
            &check["admitted"],
            &check["refused"],
            &check["refused_by_second"],
            &check["refused_by_minute"],
            &check["peak_per_minute"]
        ],
        [&json!(3), &json!(1), &json!(0), &json!(1), &json!(3)]
    );

    let (status, settings) = sim
        .admin(
            "POST",
            "/_sim/settings",
            Some(&json!({"rate_limits": null})),
        )
        .await;
    assert_eq!((status, &settings["rate_limits"]), (200, &Value::Null));
    assert_eq!(sim.api(CHECK, &check_body()).await.status, 200);

    let (status, _) = sim
        .admin(
            "POST",
            "/_sim/settings",
            Some(&json!({"rate_limits": {"window": "leaky"}})),
        )
        .await;
    assert_eq!(status, 400);
}
