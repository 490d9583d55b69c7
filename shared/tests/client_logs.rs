//! What `FeishuClient` logs about a failing call.
//!
//! A test binary of its own, with one test and a global subscriber: a subscriber set per test
//! (`set_default`) misses events whenever another test thread registers the same callsites at the
//! same moment, which made this check flaky when it shared a binary with the other client tests.

use std::sync::Arc;
use std::time::Duration;

use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::models::CheckInstancesRequest;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use serde_json::json;
use testkit::CapturedLogs;
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_SECRET: &str = "app-secret-never-logged";
const TOKEN: &str = "t-logged-never";
const CHECK_PATH: &str = "/open-apis/approval/v4/external_instances/check";

#[tokio::test]
async fn logs_name_path_code_and_log_id_but_never_tokens_secrets_or_bodies() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"code": 0, "msg": "ok", "tenant_access_token": TOKEN, "expire": 7200}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 99991663,
            "msg": "Invalid access token for authorization",
            "error": {"log_id": "LOG-TRACE"}
        })))
        .mount(&server)
        .await;
    let credentials = Credentials {
        app_id: "cli_test_app".to_owned(),
        app_secret: Secret::new(APP_SECRET),
        callback_token: Secret::new("callback-token"),
        callback_key: None,
        previous_callback: None,
    };
    let client = FeishuClient::new(
        ClientConfig::for_base_url(server.uri()),
        Arc::new(CredentialSource::fixed(credentials)),
    )
    .unwrap();
    let request: CheckInstancesRequest = serde_json::from_value(json!({
        "instances": [{
            "instance_id": "PR-0001",
            "update_time": "1700000000000",
            "tasks": [{"task_id": "step-1", "update_time": "1700000000000"}]
        }]
    }))
    .unwrap();
    client
        .check_instances(&request, Instant::now() + Duration::from_secs(5))
        .await
        .unwrap_err();

    let text = logs.text();
    assert!(text.contains(CHECK_PATH), "{text}");
    assert!(text.contains("99991663"), "{text}");
    assert!(text.contains("LOG-TRACE"), "{text}");
    for secret in [TOKEN, APP_SECRET, "PR-0001", "step-1"] {
        assert!(!text.contains(secret), "logs leak {secret:?}: {text}");
    }
}
