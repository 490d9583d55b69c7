//! The `/_sim/` admin API and Feishu-style answers to unknown paths.

use feishu_sim::{RecordedRequest, StateSnapshot};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::helpers::{CHECK, SEND, Sim, TOKEN, send_body};

/// `GET` an admin path and read its JSON answer as `T`.
async fn admin_get<T: DeserializeOwned>(sim: &Sim, path: &str) -> T {
    let answer = sim.http.get(sim.url(path)).send().await;
    let answer = answer.expect("admin answers");
    answer
        .json()
        .await
        .expect("admin answer is the expected JSON")
}

#[tokio::test]
async fn requests_are_recorded_without_secrets() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let answer = sim
        .post(CHECK, Some(&token), &json!({"instances": []}))
        .await;

    let all: Vec<RecordedRequest> = admin_get(&sim, "/_sim/requests").await;
    assert_eq!(all.len(), 2);
    let token_request = &all[0];
    assert_eq!(
        (token_request.method.as_str(), token_request.path.as_str()),
        ("POST", TOKEN)
    );
    assert_eq!(token_request.body["app_secret"], "<redacted>");
    let check = &all[1];
    assert_eq!((check.seq, check.http_status, check.code), (2, 200, 0));
    assert_eq!(check.body, json!({"instances": []}));
    assert!(!check.headers.contains_key("authorization"));
    assert_eq!(
        check.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(answer.header("x-tt-logid"), Some(check.log_id.as_str()));

    let only_check: Vec<RecordedRequest> =
        admin_get(&sim, &format!("/_sim/requests?path={CHECK}")).await;
    assert_eq!(only_check, vec![check.clone()]);
}

#[tokio::test]
async fn state_and_reset() {
    let sim = Sim::start().await;
    sim.definition("purchase").await;
    let first_card = sim.api(SEND, &send_body(None)).await.body["data"]["message_id"].clone();

    let state: StateSnapshot = admin_get(&sim, "/_sim/state").await;
    assert_eq!((state.definitions.len(), state.messages.len()), (1, 1));
    assert_eq!(state.tokens.len(), 1);

    let reset = sim.http.post(sim.url("/_sim/reset")).send().await;
    assert!(reset.is_ok_and(|r| r.status().is_success()));
    let state = sim.running.handle().state();
    assert!(state.definitions.is_empty() && state.messages.is_empty() && state.tokens.is_empty());
    assert!(sim.running.handle().requests().is_empty());
    // Ids start over, so runs are reproducible.
    let again = sim.api(SEND, &send_body(None)).await.body["data"]["message_id"].clone();
    assert_eq!(again, first_card);
}

#[tokio::test]
async fn clock_can_be_advanced_over_http() {
    let sim = Sim::start().await;
    let before = sim.running.handle().state().now_ms;
    let answer = sim
        .http
        .post(sim.url("/_sim/clock"))
        .json(&json!({"advance_secs": 3600}))
        .send()
        .await
        .expect("admin answers");
    assert!(answer.status().is_success());
    assert!(sim.running.handle().state().now_ms >= before + 3_600_000);
}

#[tokio::test]
async fn unknown_paths_get_a_feishu_style_404() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let answer = sim
        .post("/open-apis/approval/v4/nope", Some(&token), &json!({}))
        .await;
    assert_eq!(answer.status, 404);
    assert_ne!(answer.code(), 0);
    assert!(answer.msg().contains("404"));
    assert!(answer.body["error"]["log_id"].is_string());
    let recorded = sim
        .running
        .handle()
        .requests_to("/open-apis/approval/v4/nope");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].http_status, 404);
}
