//! Fault injection through `POST /_sim/faults` (feishu-api.md §0, §7).

use std::time::{Duration, Instant};

use feishu_sim::FaultKind;
use serde_json::{Value, json};

use crate::helpers::{CHECK, INSTANCES, SEND, Sim, UPDATE, instance_body, send_body, task};

fn check_body() -> Value {
    json!({"instances": []})
}

async fn inject(sim: &Sim, fault: Value) -> u16 {
    sim.http
        .post(sim.url("/_sim/faults"))
        .json(&fault)
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or_default()
}

#[tokio::test]
async fn http_500_fails_count_requests_on_the_named_path_only() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    assert_eq!(
        inject(&sim, json!({"path": CHECK, "kind": "http_500", "count": 2})).await,
        200
    );

    for _ in 0..2 {
        let failed = sim.post(CHECK, Some(&token), &check_body()).await;
        assert_eq!(failed.status, 500);
        assert_ne!(failed.code(), 0);
        assert!(failed.header("x-tt-logid").is_some());
    }
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);

    let faulted: Vec<Option<FaultKind>> = sim
        .running
        .handle()
        .requests_to(CHECK)
        .into_iter()
        .map(|request| request.fault)
        .collect();
    assert_eq!(
        faulted,
        [Some(FaultKind::Http500), Some(FaultKind::Http500), None]
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_ratelimit_headers() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(&sim, json!({"kind": "rate_limit", "reset_secs": 7})).await;
    let limited = sim.post(CHECK, Some(&token), &check_body()).await;
    assert_eq!((limited.status, limited.code()), (429, 99_991_400));
    assert_eq!(limited.msg(), "request trigger frequency limit");
    assert_eq!(limited.header("x-ogw-ratelimit-reset"), Some("7"));
    assert!(
        limited
            .header("x-ogw-ratelimit-limit")
            .is_some_and(|v| v.parse::<u32>().is_ok())
    );
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);
}

#[tokio::test]
async fn token_invalid_comes_with_http_200_and_revokes_issued_tokens() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(&sim, json!({"kind": "token_invalid"})).await;
    let revoked = sim.post(CHECK, Some(&token), &check_body()).await;
    assert_eq!((revoked.status, revoked.code()), (200, 99_991_663));

    // The old token now fails on its own; a fresh token works.
    let after = sim.post(CHECK, Some(&token), &check_body()).await;
    assert_eq!((after.status, after.code()), (400, 99_991_663));
    let fresh = sim.token().await;
    assert_ne!(fresh, token);
    assert_eq!(sim.post(CHECK, Some(&fresh), &check_body()).await.code(), 0);
}

#[tokio::test]
async fn slow_delays_then_answers_normally() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(&sim, json!({"kind": "slow", "delay_ms": 300})).await;
    let started = Instant::now();
    let answer = sim.post(CHECK, Some(&token), &check_body()).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!((answer.status, answer.code()), (200, 0));
}

#[tokio::test]
async fn code_1395001_and_token_endpoint_targeting() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(&sim, json!({"kind": "code_1395001"})).await;
    // A fault without a path spares the token endpoint.
    let next_token = sim.token().await;
    assert_eq!(next_token, token);
    let busy = sim.post(INSTANCES, Some(&token), &json!({})).await;
    assert_eq!((busy.status, busy.code()), (400, 1_395_001));

    inject(
        &sim,
        json!({"kind": "http_500", "path": crate::helpers::TOKEN}),
    )
    .await;
    let failed = sim
        .token_answer(feishu_sim::DEFAULT_APP_ID, feishu_sim::DEFAULT_APP_SECRET)
        .await;
    assert_eq!(failed.status, 500);
}

#[tokio::test]
async fn random_mode_is_seeded_and_respects_probability() {
    async fn codes(seed: u64) -> Vec<i64> {
        let sim = Sim::start().await;
        inject(
            &sim,
            json!({"kind": "random", "probability": 0.5, "seed": seed}),
        )
        .await;
        let mut codes = Vec::new();
        for _ in 0..24 {
            // A token_invalid fault revokes tokens, so fetch a live one each time.
            let token = sim.token().await;
            codes.push(sim.post(CHECK, Some(&token), &check_body()).await.code());
        }
        codes
    }
    let first = codes(42).await;
    assert_eq!(first, codes(42).await, "same seed, same faults");
    assert!(first.contains(&0));
    assert!(first.iter().any(|code| *code != 0 && *code != 99_991_663));

    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(
        &sim,
        json!({"kind": "random", "probability": 1.0, "kinds": ["rate_limit"]}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            sim.post(CHECK, Some(&token), &check_body()).await.status,
            429
        );
    }
    let cleared = sim.http.delete(sim.url("/_sim/faults")).send().await;
    assert!(cleared.is_ok_and(|r| r.status().is_success()));
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);
}

#[tokio::test]
async fn bad_fault_commands_are_refused() {
    let sim = Sim::start().await;
    assert_eq!(inject(&sim, json!({"kind": "explode"})).await, 400);
    assert_eq!(
        inject(&sim, json!({"kind": "random", "probability": 2})).await,
        400
    );
    assert!(sim.running.handle().faults().rules.is_empty());
}

#[tokio::test]
async fn rate_limit_can_say_reset_0_or_leave_the_reset_header_out() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(&sim, json!({"kind": "rate_limit", "reset_secs": 0})).await;
    let zero = sim.post(CHECK, Some(&token), &check_body()).await;
    assert_eq!((zero.status, zero.code()), (429, 99_991_400));
    assert_eq!(zero.header("x-ogw-ratelimit-reset"), Some("0"));

    assert_eq!(
        inject(&sim, json!({"kind": "rate_limit_without_reset"})).await,
        200
    );
    let bare = sim.post(CHECK, Some(&token), &check_body()).await;
    assert_eq!((bare.status, bare.code()), (429, 99_991_400));
    assert_eq!(bare.msg(), "request trigger frequency limit");
    assert_eq!(bare.header("x-ogw-ratelimit-reset"), None);
    assert!(bare.header("x-ogw-ratelimit-limit").is_some());
    assert_eq!(
        sim.running.handle().requests_to(CHECK)[1].fault,
        Some(FaultKind::RateLimitWithoutReset)
    );
}

/// POSTs `body` to `path`; the transport error when the answer never arrives.
async fn post_expecting_no_answer(
    sim: &Sim,
    path: &str,
    token: &str,
    body: &Value,
) -> reqwest::Error {
    match sim
        .http
        .post(sim.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
    {
        Ok(response) => panic!("an answer arrived: HTTP {}", response.status()),
        Err(error) => error,
    }
}

#[tokio::test]
async fn answer_lost_applies_the_push_send_and_update_and_closes_the_connection() {
    let sim = Sim::start().await;
    let handle = sim.running.handle();
    let code = sim.definition("purchase").await;
    let token = sim.token().await;

    inject(&sim, json!({"kind": "answer_lost", "path": INSTANCES})).await;
    let body = instance_body(&code, "PR-1", 1, vec![task("t1", "PENDING", 1)]);
    let lost = post_expecting_no_answer(&sim, INSTANCES, &token, &body).await;
    assert!(!lost.is_timeout(), "closed at once, not held: {lost}");
    let stored = handle.instance("PR-1").expect("the push was applied");
    assert_eq!(stored.pushes.len(), 1, "applied exactly once: {stored:?}");

    inject(&sim, json!({"kind": "answer_lost", "path": SEND})).await;
    post_expecting_no_answer(&sim, SEND, &token, &send_body(Some("uuid-lost"))).await;
    let cards = handle.cards();
    assert_eq!(cards.len(), 1, "the card was delivered");
    let message_id = cards[0].message_id.clone();
    // A retry with the same uuid delivers nothing more.
    let retry = sim
        .post(SEND, Some(&token), &send_body(Some("uuid-lost")))
        .await;
    assert_eq!(retry.body["data"]["message_id"], message_id.as_str());
    assert_eq!(handle.cards().len(), 1);

    inject(&sim, json!({"kind": "answer_lost", "path": UPDATE})).await;
    post_expecting_no_answer(
        &sim,
        UPDATE,
        &token,
        &json!({"message_id": message_id, "status": "APPROVED"}),
    )
    .await;
    assert_eq!(
        handle.card(&message_id).map(|card| card.status),
        Some("APPROVED".to_owned())
    );

    // The log shows what would have been answered.
    let recorded: Vec<(Option<FaultKind>, u16, i64)> = [INSTANCES, SEND, UPDATE]
        .into_iter()
        .map(|path| {
            let first = handle.requests_to(path).remove(0);
            (first.fault, first.http_status, first.code)
        })
        .collect();
    assert_eq!(recorded, [(Some(FaultKind::AnswerLost), 200, 0); 3]);
    // The connection is gone, the simulator is not.
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);
}

#[tokio::test]
async fn answer_lost_can_be_chosen_at_random() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    inject(
        &sim,
        json!({"kind": "random", "probability": 1.0, "kinds": ["answer_lost"], "path": SEND}),
    )
    .await;
    post_expecting_no_answer(&sim, SEND, &token, &send_body(None)).await;
    post_expecting_no_answer(&sim, SEND, &token, &send_body(None)).await;
    assert_eq!(sim.running.handle().cards().len(), 2);
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);
}
