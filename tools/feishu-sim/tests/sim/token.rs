//! Tenant token issuance, reuse and the bearer check (feishu-api.md §1).

use std::time::Duration;

use feishu_sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, SimConfig};
use serde_json::json;

use crate::helpers::{CHECK, Sim, TOKEN};

fn check_body() -> serde_json::Value {
    json!({"instances": []})
}

#[tokio::test]
async fn token_response_is_flat_and_reused_while_30_minutes_remain() {
    let sim = Sim::start().await;
    let first = sim.token_answer(DEFAULT_APP_ID, DEFAULT_APP_SECRET).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.code(), 0);
    assert!(
        first.body.get("data").is_none(),
        "token response is not wrapped in data"
    );
    let token = first.body["tenant_access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(token.starts_with("t-"));
    let expire = first.body["expire"].as_i64().unwrap_or_default();
    assert!((7190..=7200).contains(&expire), "expire {expire}");

    sim.running
        .handle()
        .advance_clock(Duration::from_secs(5000));
    let again = sim.token_answer(DEFAULT_APP_ID, DEFAULT_APP_SECRET).await;
    assert_eq!(again.body["tenant_access_token"], token.as_str());
    assert!(again.body["expire"].as_i64().unwrap_or_default() <= 2200);

    // 5400 s in, fewer than 30 minutes remain: a new token, and the old one keeps working.
    sim.running.handle().advance_clock(Duration::from_secs(401));
    let renewed = sim.token_answer(DEFAULT_APP_ID, DEFAULT_APP_SECRET).await;
    let new_token = renewed.body["tenant_access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(new_token, token);
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);

    // Past the old token's two hours it is refused; the new one is not.
    sim.running
        .handle()
        .advance_clock(Duration::from_secs(1800));
    let expired = sim.post(CHECK, Some(&token), &check_body()).await;
    assert_eq!((expired.status, expired.code()), (400, 99_991_663));
    let log_id = expired.body["error"]["log_id"].as_str().unwrap_or_default();
    assert!(!log_id.is_empty());
    assert_eq!(expired.header("x-tt-logid"), Some(log_id));
    assert!(
        expired.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(
        sim.post(CHECK, Some(&new_token), &check_body())
            .await
            .code(),
        0
    );
}

#[tokio::test]
async fn wrong_credentials_and_get_are_refused() {
    let sim = Sim::start().await;
    let wrong_secret = sim.token_answer(DEFAULT_APP_ID, "nope").await;
    assert_eq!((wrong_secret.status, wrong_secret.code()), (400, 10_014));
    let unknown_app = sim.token_answer("cli_other", DEFAULT_APP_SECRET).await;
    assert_eq!(unknown_app.code(), 10_003);
    let missing = sim
        .post(TOKEN, None, &json!({"app_id": DEFAULT_APP_ID}))
        .await;
    assert_eq!(missing.code(), 10_003);
    assert!(wrong_secret.body.get("tenant_access_token").is_none());

    let get = sim.get(TOKEN).await;
    assert_eq!(get.status, 404);
    assert_ne!(get.code(), 0);
}

#[tokio::test]
async fn bearer_header_is_required_and_checked() {
    let sim = Sim::start().await;
    let missing = sim.post(CHECK, None, &check_body()).await;
    assert_eq!((missing.status, missing.code()), (400, 99_991_661));
    assert!(missing.body["error"]["log_id"].is_string());

    let token = sim.token().await;
    let no_scheme = sim
        .post_with_authorization(CHECK, &token, &check_body())
        .await;
    assert_eq!(no_scheme.code(), 99_991_661);
    let wrong_prefix = sim
        .post_with_authorization(CHECK, "Bearer abc", &check_body())
        .await;
    assert_eq!(wrong_prefix.code(), 99_991_671);
    let unknown = sim.post(CHECK, Some("t-unknown"), &check_body()).await;
    assert_eq!((unknown.status, unknown.code()), (400, 99_991_663));
    assert_eq!(sim.post(CHECK, Some(&token), &check_body()).await.code(), 0);
}

#[tokio::test]
async fn expire_tokens_admin_call_invalidates_and_renews() {
    let sim = Sim::start().await;
    let token = sim.token().await;
    let expired = sim.http.post(sim.url("/_sim/expire-tokens")).send().await;
    assert!(expired.is_ok_and(|r| r.status().is_success()));
    assert_eq!(
        sim.post(CHECK, Some(&token), &check_body()).await.code(),
        99_991_663
    );
    let renewed = sim.token().await;
    assert_ne!(renewed, token);
    assert_eq!(
        sim.post(CHECK, Some(&renewed), &check_body()).await.code(),
        0
    );
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let sim = Sim::start_with(SimConfig {
        token_lifetime: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let first = sim.token_answer(DEFAULT_APP_ID, DEFAULT_APP_SECRET).await;
    let expire = first.body["expire"].as_i64().unwrap_or_default();
    assert!((590..=600).contains(&expire), "expire {expire}");
    // With under 30 minutes left from the start, every request gets a new token.
    let second = sim.token_answer(DEFAULT_APP_ID, DEFAULT_APP_SECRET).await;
    assert_ne!(
        first.body["tenant_access_token"],
        second.body["tenant_access_token"]
    );
}
