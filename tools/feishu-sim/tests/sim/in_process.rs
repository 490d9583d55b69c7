//! The simulator without a socket, on an injected clock (`Simulator::in_process`).

use std::time::{Duration, Instant};

use feishu_sim::{
    Fault, FaultCommand, FaultKind, ManualClock, SimConfig, SimHandle, SimResponse, Simulator,
};
use serde_json::{Value, json};

use crate::helpers::{
    CHECK, DEFINITIONS, INSTANCES, SEND, Sim, TOKEN, api_in_process, definition_body,
    instance_body, json_of, send_body, task, token_in_process,
};

const START_MS: i64 = 1_700_000_000_000;

fn simulator() -> (SimHandle, ManualClock) {
    let clock = ManualClock::new(START_MS);
    (
        Simulator::in_process(SimConfig::default(), clock.clone()),
        clock,
    )
}

/// A fixed request sequence: definition, instance, card, a bad card, a check.
fn scenario(sim: &SimHandle) -> Vec<SimResponse> {
    let definition = api_in_process(sim, DEFINITIONS, &definition_body("purchase"));
    let code = json_of(&definition)["data"]["approval_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut bad_card = send_body(None);
    bad_card.as_object_mut().map(|o| o.remove("approval_name"));
    vec![
        definition,
        api_in_process(
            sim,
            INSTANCES,
            &instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]),
        ),
        api_in_process(sim, SEND, &send_body(Some("uuid-1"))),
        api_in_process(sim, SEND, &bad_card),
        api_in_process(
            sim,
            CHECK,
            &json!({"instances": [{"instance_id": "PR-2", "update_time": "1", "tasks": []}]}),
        ),
    ]
}

#[test]
fn the_same_requests_on_the_same_clock_give_byte_identical_answers() {
    let (first, _) = simulator();
    let (second, _) = simulator();
    let answers = scenario(&first);
    assert_eq!(answers, scenario(&second));
    assert_eq!(first.state(), second.state());
    let codes: Vec<i64> = answers
        .iter()
        .map(|answer| json_of(answer)["code"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(codes, [0, 0, 0, 60_001, 0]);
    let log_id = answers[0].header("X-Tt-Logid").expect("a log id");
    assert!(log_id.starts_with(&START_MS.to_string()), "{log_id}");
    assert_eq!(answers[0].header("content-type"), Some("application/json"));
    let recorded = first.requests_to(SEND);
    assert_eq!(recorded[0].at_ms, START_MS);
    assert!(!recorded[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn in_process_answers_match_the_servers() {
    let (in_process, _) = simulator();
    let over_http = Sim::start().await;
    let mut bad = instance_body("not-a-system-code", "PR-1", 1, vec![]);
    bad.as_object_mut().map(|o| o.remove("links"));
    for (path, body) in [
        (SEND, send_body(None)),
        (INSTANCES, bad),
        (CHECK, json!({"instances": "PR-1"})),
        ("/open-apis/approval/v4/nope", json!({})),
    ] {
        let mut local = json_of(&api_in_process(&in_process, path, &body));
        let mut remote = over_http.api(path, &body).await.body;
        for answer in [&mut local, &mut remote] {
            if let Some(error) = answer.get_mut("error").and_then(Value::as_object_mut) {
                error.remove("log_id");
            }
        }
        assert_eq!(local, remote, "{path}");
    }
}

#[test]
fn the_injected_clock_drives_tokens_and_advance_clock_adds_on_top() {
    let (sim, clock) = simulator();
    let first = token_in_process(&sim);
    let authorized = |sim: &SimHandle, token: &str| {
        let authorization = format!("Bearer {token}");
        let answer = sim.exchange(
            "POST",
            CHECK,
            &[("authorization", authorization.as_str())],
            br#"{"instances":[]}"#,
        );
        json_of(&answer)["code"].as_i64()
    };
    assert_eq!(authorized(&sim, &first), Some(0));
    clock.advance(Duration::from_secs(3600));
    sim.advance_clock(Duration::from_secs(3601));
    assert_eq!(sim.state().now_ms, START_MS + 7_201_000);
    assert_eq!(authorized(&sim, &first), Some(99_991_663));

    // reset keeps the clock but drops the advance_clock offset.
    sim.reset();
    assert_eq!(sim.state().now_ms, START_MS + 3_600_000);

    // Any closure returning Unix ms is a clock.
    let fixed = Simulator::in_process(SimConfig::default(), || 42_i64);
    assert_eq!(fixed.state().now_ms, 42);
}

#[test]
fn slow_faults_report_their_delay_instead_of_sleeping() {
    let (sim, _) = simulator();
    sim.inject_fault(FaultCommand::Rule(feishu_sim::FaultRule {
        path: Some(CHECK.to_owned()),
        kind: FaultKind::Slow,
        count: 1,
        reset_secs: 1,
        delay_ms: 60_000,
    }));
    let started = Instant::now();
    let answer = api_in_process(&sim, CHECK, &json!({"instances": []}));
    assert!(started.elapsed() < Duration::from_secs(30), "it slept");
    assert_eq!(answer.delay, Duration::from_secs(60));
    assert_eq!((answer.status, answer.answer_lost), (200, false));
    assert_eq!(
        api_in_process(&sim, CHECK, &json!({"instances": []})).delay,
        Duration::ZERO
    );
}

#[test]
fn a_lost_answer_is_applied_and_marked() {
    let (sim, _) = simulator();
    let code = json_of(&api_in_process(
        &sim,
        DEFINITIONS,
        &definition_body("purchase"),
    ))["data"]["approval_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let authorization = format!("Bearer {}", token_in_process(&sim));
    let body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]).to_string();
    let answer = sim.exchange_with_fault(
        Some(Fault::new(FaultKind::AnswerLost)),
        "POST",
        INSTANCES,
        &[("authorization", authorization.as_str())],
        body.as_bytes(),
    );
    assert!(answer.answer_lost);
    assert_eq!(json_of(&answer)["code"], 0, "what would have been answered");
    assert!(sim.instance("PR-1").is_some(), "the push was applied");
    assert_eq!(
        sim.requests_to(INSTANCES)[0].fault,
        Some(FaultKind::AnswerLost)
    );
}

#[test]
fn the_callers_fault_decision_bypasses_the_rules() {
    let (sim, _) = simulator();
    sim.inject_fault(FaultCommand::next(FaultKind::Http500, 1));
    let authorization = format!("Bearer {}", token_in_process(&sim));
    let headers = [("authorization", authorization.as_str())];
    let body = br#"{"instances":[]}"#;

    let spared = sim.exchange_with_fault(None, "POST", CHECK, &headers, body);
    assert_eq!(spared.status, 200);
    assert_eq!(sim.faults().rules.len(), 1, "the rule was not consumed");

    let mut limited = Fault::new(FaultKind::RateLimit);
    limited.reset_secs = 0;
    let chosen = sim.exchange_with_fault(Some(limited), "POST", CHECK, &headers, body);
    assert_eq!(chosen.status, 429);
    assert_eq!(chosen.header("x-ogw-ratelimit-reset"), Some("0"));

    let ruled = sim.exchange("POST", CHECK, &headers, body);
    assert_eq!(ruled.status, 500);
    assert!(sim.faults().rules.is_empty());
}

#[test]
fn only_the_feishu_api_is_served_in_process() {
    let (sim, _) = simulator();
    for (method, path) in [
        ("GET", TOKEN),
        ("POST", "/_sim/state"),
        ("POST", "/open-apis/approval/v4/external_instances/"),
    ] {
        let answer = sim.exchange(method, path, &[], b"{}");
        assert_eq!(answer.status, 404, "{method} {path}");
        assert_eq!(json_of(&answer)["code"], 404);
    }
    assert_eq!(sim.requests().len(), 3);
}

#[test]
fn a_handle_serves_several_threads_at_once() {
    let (sim, _) = simulator();
    let authorization = format!("Bearer {}", token_in_process(&sim));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let answer = sim.exchange(
                        "POST",
                        CHECK,
                        &[("authorization", authorization.as_str())],
                        br#"{"instances":[]}"#,
                    );
                    assert_eq!(answer.status, 200);
                }
            });
        }
    });
    let mut seqs: Vec<u64> = sim.requests().iter().map(|request| request.seq).collect();
    seqs.dedup();
    assert_eq!(seqs, (1..=41).collect::<Vec<u64>>());
}
