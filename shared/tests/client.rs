//! `FeishuClient` against a wiremock Feishu: token caching and refresh, the body `code` checks,
//! rate limits, transient failures, deadlines and permanent errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use feishu_bridge::client::{
    CallCollector, ClientConfig, FeishuClient, FeishuError, RetryPolicy, TransportErrorKind,
};
use feishu_bridge::models::{
    CheckInstancesRequest, CheckInstancesResponse, ExternalApproval, ExternalInstance,
    SendMessageRequest, UpdateMessageRequest,
};
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use serde_json::{Value, json};
use tokio::time::Instant;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const APP_ID: &str = "cli_test_app";
const APP_SECRET: &str = "app-secret-never-logged";
const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
const CHECK_PATH: &str = "/open-apis/approval/v4/external_instances/check";
const SYNC_PATH: &str = "/open-apis/approval/v4/external_instances";

/// A client for `base_url` with fast retries; `tweak` adjusts the configuration.
fn client_at(base_url: String, tweak: impl FnOnce(&mut ClientConfig)) -> FeishuClient {
    let mut config = ClientConfig::for_base_url(base_url);
    config.request_timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    tweak(&mut config);
    let credentials = Credentials {
        app_id: APP_ID.to_owned(),
        app_secret: Secret::new(APP_SECRET),
        callback_token: Secret::new("callback-token"),
        callback_key: None,
        previous_callback: None,
    };
    FeishuClient::new(config, Arc::new(CredentialSource::fixed(credentials))).unwrap()
}

fn client_with(server: &MockServer, tweak: impl FnOnce(&mut ClientConfig)) -> FeishuClient {
    client_at(server.uri(), tweak)
}

fn client(server: &MockServer) -> FeishuClient {
    client_with(server, |_| {})
}

fn in_secs(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

fn token_response(token: &str, expire: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire}),
    )
}

/// A mock of the tenant token endpoint, to refine and mount.
fn token_endpoint() -> MockBuilder {
    Mock::given(method("POST")).and(path(TOKEN_PATH))
}

/// A mock of the instance check endpoint, the call most tests drive the client with.
fn check_endpoint() -> MockBuilder {
    Mock::given(method("POST")).and(path(CHECK_PATH))
}

/// Answers the first check request with `failure` and the second with an empty success, each
/// exactly once (wiremock verifies both counts when the server drops).
async fn check_fails_once_then_succeeds(server: &MockServer, failure: ResponseTemplate) {
    check_endpoint()
        .respond_with(failure)
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    check_endpoint()
        .respond_with(success(NO_DIFF()))
        .expect(1)
        .mount(server)
        .await;
}

/// Serves `token` (valid for two hours) to any number of token requests.
async fn serve_token(server: &MockServer, token: &str) {
    token_endpoint()
        .respond_with(token_response(token, 7200))
        .mount(server)
        .await;
}

fn success(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "msg": "success", "data": data}))
}

fn failure(status: u16, code: i64, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"code": code, "msg": msg}))
}

fn check_request() -> CheckInstancesRequest {
    serde_json::from_value(json!({
        "instances": [{
            "instance_id": "PR-0001",
            "update_time": "1700000000000",
            "tasks": [{"task_id": "step-1", "update_time": "1700000000000"}]
        }]
    }))
    .unwrap()
}

const NO_DIFF: fn() -> Value = || json!({"diff_instances": []});

async fn check(
    client: &FeishuClient,
    deadline: Instant,
) -> Result<CheckInstancesResponse, FeishuError> {
    client.check_instances(&check_request(), deadline).await
}

// --- tenant token ---------------------------------------------------------------------------

#[tokio::test]
async fn the_token_is_requested_once_and_sent_as_a_bearer() {
    let server = MockServer::start().await;
    token_endpoint()
        .and(header("content-type", "application/json; charset=utf-8"))
        .and(body_json(
            json!({"app_id": APP_ID, "app_secret": APP_SECRET}),
        ))
        .respond_with(token_response("t-cached", 7200))
        .expect(1)
        .mount(&server)
        .await;
    check_endpoint()
        .and(header("authorization", "Bearer t-cached"))
        .and(header("content-type", "application/json; charset=utf-8"))
        .respond_with(success(NO_DIFF()))
        .expect(3)
        .mount(&server)
        .await;

    let client = client(&server);
    for _ in 0..3 {
        let response = check(&client, in_secs(5)).await.unwrap();
        assert!(response.diff_instances.is_empty());
    }
}

#[tokio::test]
async fn the_token_request_carries_no_authorization_header() {
    let server = MockServer::start().await;
    serve_token(&server, "t-plain").await;
    let token = client(&server)
        .tenant_access_token(in_secs(5))
        .await
        .unwrap();
    assert_eq!(token.expose(), "t-plain");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].headers.contains_key("authorization"));
}

#[tokio::test]
async fn a_token_within_the_refresh_margin_is_refreshed() {
    let server = MockServer::start().await;
    // Five minutes left is inside the default ten-minute margin: every call must refresh.
    token_endpoint()
        .respond_with(token_response("t-short", 300))
        .expect(2)
        .mount(&server)
        .await;

    let client = client(&server);
    client.tenant_access_token(in_secs(5)).await.unwrap();
    client.tenant_access_token(in_secs(5)).await.unwrap();
}

#[tokio::test]
async fn concurrent_callers_on_a_cold_cache_share_one_refresh() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("t-shared", 7200).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        callers.spawn(async move { client.tenant_access_token(in_secs(5)).await });
    }
    let tokens = callers.join_all().await;
    assert_eq!(tokens.len(), 20);
    for token in tokens {
        assert_eq!(token.unwrap().expose(), "t-shared");
    }
}

#[tokio::test]
async fn bad_app_credentials_fail_at_once_with_the_token_error() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(failure(400, 10014, "app secret invalid"))
        .expect(1)
        .mount(&server)
        .await;

    let error = check(&client(&server), in_secs(5)).await.unwrap_err();
    assert_eq!(error.code(), Some(10014));
    assert!(!error.is_retryable());
    assert_eq!(error.api_failure().unwrap().path, TOKEN_PATH);
    assert!(!error.to_string().contains(APP_SECRET));
    assert!(!format!("{error:?}").contains(APP_SECRET));
}

// --- rejected tokens ------------------------------------------------------------------------

#[tokio::test]
async fn a_rejected_token_with_http_200_is_evicted_refreshed_and_retried() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("t-stale", 7200))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(token_response("t-fresh", 7200))
        .expect(1)
        .mount(&server)
        .await;
    check_endpoint()
        .and(header("authorization", "Bearer t-stale"))
        .respond_with(failure(
            200,
            99991663,
            "Invalid access token for authorization",
        ))
        .expect(1)
        .mount(&server)
        .await;
    check_endpoint()
        .and(header("authorization", "Bearer t-fresh"))
        .respond_with(success(NO_DIFF()))
        .expect(2)
        .mount(&server)
        .await;

    let client = client(&server);
    check(&client, in_secs(5)).await.unwrap();
    // The fresh token is cached: no further token request.
    check(&client, in_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_token_rejected_twice_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(token_response("t-refused", 7200))
        .expect(2)
        .mount(&server)
        .await;
    check_endpoint()
        .respond_with(failure(
            200,
            99991663,
            "Invalid access token for authorization",
        ))
        .expect(2)
        .mount(&server)
        .await;

    let error = check(&client(&server), in_secs(5)).await.unwrap_err();
    assert_eq!(error.code(), Some(99991663));
    assert_eq!(error.http_status(), Some(200));
    assert!(
        error.is_retryable(),
        "the caller's later retry (with the next token) may succeed"
    );
    assert!(!error.to_string().contains("t-refused"));
}

// --- rate limits ----------------------------------------------------------------------------

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_reset_feishu_asks_for() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_fails_once_then_succeeds(
        &server,
        failure(429, 99991400, "request trigger frequency limit")
            .insert_header("x-ogw-ratelimit-reset", "1"),
    )
    .await;

    let started = Instant::now();
    check(&client(&server), in_secs(10)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried before the reset: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_rate_limit_reset_past_the_deadline_fails_at_once() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    // Legacy form: HTTP 400 with code 99991400.
    check_endpoint()
        .respond_with(
            failure(400, 99991400, "request trigger frequency limit")
                .insert_header("x-ogw-ratelimit-reset", "30")
                .insert_header("X-Tt-Logid", "LOG-RATE"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let error = check(&client(&server), in_secs(5)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    match &error {
        FeishuError::RateLimited {
            retry_after, code, ..
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(30)));
            assert_eq!(*code, Some(99991400));
        }
        other => panic!("expected a rate-limit error, got {other:?}"),
    }
    assert_eq!(error.log_id(), Some("LOG-RATE"));
    assert!(error.is_retryable());
}

// --- transient failures ---------------------------------------------------------------------

#[tokio::test]
async fn a_server_error_is_retried() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_fails_once_then_succeeds(
        &server,
        ResponseTemplate::new(500).set_body_string("Internal Server Error"),
    )
    .await;

    check(&client(&server), in_secs(5)).await.unwrap();
}

#[tokio::test]
async fn try_again_later_is_retried() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_fails_once_then_succeeds(
        &server,
        failure(
            400,
            1395001,
            "There have been some errors. Please try again later",
        ),
    )
    .await;

    check(&client(&server), in_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_request_timeout_is_retried() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_fails_once_then_succeeds(
        &server,
        success(NO_DIFF()).set_delay(Duration::from_secs(5)),
    )
    .await;

    let client = client_with(&server, |config| {
        config.request_timeout = Duration::from_millis(300);
    });
    check(&client, in_secs(5)).await.unwrap();
}

#[tokio::test]
async fn dropped_connections_are_retried_up_to_max_attempts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&connections);
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });

    let client = client_at(format!("http://{address}"), |config| {
        config.retry.max_attempts = 3;
    });

    let error = client.tenant_access_token(in_secs(5)).await.unwrap_err();
    acceptor.abort();
    assert!(matches!(error, FeishuError::Transport { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = client_at(format!("http://{address}"), |_| {});

    let error = client.tenant_access_token(in_secs(5)).await.unwrap_err();
    match &error {
        FeishuError::Transport { source, .. } => {
            assert_eq!(source.kind(), TransportErrorKind::Connect);
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(error.is_retryable());
}

// --- deadlines ------------------------------------------------------------------------------

#[tokio::test]
async fn a_slow_server_is_cut_off_at_the_deadline() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .respond_with(success(NO_DIFF()).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;

    let started = Instant::now();
    let deadline = started + Duration::from_millis(300);
    let error = check(&client(&server), deadline).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, FeishuError::DeadlineExceeded { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_always_failing_server_is_given_up_by_the_deadline() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .respond_with(failure(503, 0, "unavailable").insert_header("X-Tt-Logid", "LOG-503"))
        .mount(&server)
        .await;

    let client = client_with(&server, |config| {
        config.retry = RetryPolicy {
            max_attempts: 1000,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(100),
        };
    });
    let started = Instant::now();
    let deadline = started + Duration::from_millis(300);
    let error = check(&client, deadline).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    match &error {
        FeishuError::DeadlineExceeded { attempts, .. } => assert!(*attempts >= 2, "{attempts}"),
        other => panic!("expected a deadline error, got {other:?}"),
    }
    // The last attempt's failure is kept.
    assert_eq!(error.http_status(), Some(503));
    assert_eq!(error.log_id(), Some("LOG-503"));
}

// --- permanent failures ---------------------------------------------------------------------

#[tokio::test]
async fn a_permanent_failure_carries_code_msg_log_id_and_violations_without_retry() {
    let server = MockServer::start().await;
    serve_token(&server, "t-secret-token").await;
    check_endpoint()
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 1390001,
            "msg": "param is invalid",
            "error": {
                "log_id": "202511211200ABCDEF",
                "field_violations": [
                    {"field": "instances[0].tasks", "value": "", "description": "tasks is required"}
                ]
            }
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = check(&client(&server), in_secs(5)).await.unwrap_err();
    assert!(!error.is_retryable());
    assert_eq!(error.code(), Some(1390001));
    assert_eq!(error.log_id(), Some("202511211200ABCDEF"));
    assert_eq!(error.http_status(), Some(400));
    let failure = error.api_failure().unwrap();
    assert_eq!(failure.msg, "param is invalid");
    assert_eq!(failure.path, CHECK_PATH);
    assert_eq!(error.field_violations().len(), 1);
    assert_eq!(
        error.field_violations()[0].field.as_deref(),
        Some("instances[0].tasks")
    );

    let text = format!("{error} {error:?}");
    for secret in ["t-secret-token", APP_SECRET, "PR-0001", "step-1"] {
        assert!(
            !text.contains(secret),
            "error text leaks {secret:?}: {text}"
        );
    }
}

#[tokio::test]
async fn the_log_id_falls_back_to_the_response_header() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .respond_with(
            failure(400, 1390002, "approval code not found").insert_header("X-Tt-Logid", "LOG-HDR"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = check(&client(&server), in_secs(5)).await.unwrap_err();
    assert_eq!(error.code(), Some(1390002));
    assert_eq!(error.log_id(), Some("LOG-HDR"));
}

// --- typed endpoints ------------------------------------------------------------------------

fn instance_json() -> Value {
    json!({
        "approval_code": "C30381C8-REAL",
        "status": "PENDING",
        "instance_id": "PR-0001",
        "links": {"pc_link": "https://erp.example.com/pr/1"},
        "user_id": "u-initiator",
        "start_time": "1700000000000",
        "end_time": "0",
        "update_time": "1700000000000",
        "task_list": [{
            "task_id": "step-1",
            "user_id": "u-approver",
            "links": {"pc_link": "https://erp.example.com/pr/1/task"},
            "status": "PENDING",
            "create_time": "1700000000000",
            "end_time": "0",
            "update_time": "1700000000000"
        }],
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [{"key": "@i18n@title", "value": "采购申请"}]
        }]
    })
}

#[tokio::test]
async fn sync_instance_posts_the_instance_and_succeeds_on_code_0() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    let instance: ExternalInstance = serde_json::from_value(instance_json()).unwrap();
    Mock::given(method("POST"))
        .and(path(SYNC_PATH))
        .and(body_json(serde_json::to_value(&instance).unwrap()))
        .respond_with(success(json!({"data": instance_json()})))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .sync_instance(&instance, in_secs(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_accepted_push_succeeds_whatever_feishu_echoes() {
    let mut other_instance = instance_json();
    other_instance["instance_id"] = json!("PR-9999");
    other_instance["status"] = json!("SOMETHING_NEW");
    other_instance["task_list"] = json!("not a list");
    let echoes = [
        // Another instance, with values the strict models reject.
        json!({"code": 0, "msg": "success", "data": {"data": other_instance}}),
        // An echo of a different shape.
        json!({"code": 0, "msg": "success", "data": {"instance": 42}}),
        // No echo at all.
        json!({"code": 0, "msg": "success"}),
    ];
    let instance: ExternalInstance = serde_json::from_value(instance_json()).unwrap();
    for echo in echoes {
        let server = MockServer::start().await;
        serve_token(&server, "t-1").await;
        Mock::given(method("POST"))
            .and(path(SYNC_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(&echo))
            .expect(1)
            .mount(&server)
            .await;

        let result = client(&server).sync_instance(&instance, in_secs(5)).await;
        assert!(result.is_ok(), "echo {echo}: {result:?}");
    }
}

#[tokio::test]
async fn check_instances_returns_the_differences() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .and(body_json(serde_json::to_value(check_request()).unwrap()))
        .respond_with(success(json!({
            "diff_instances": [{"instance_id": "PR-0001", "update_time": "0", "tasks": []}]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let response = check(&client(&server), in_secs(5)).await.unwrap();
    assert_eq!(response.diff_instances.len(), 1);
    assert_eq!(response.diff_instances[0].instance_id, "PR-0001");
}

#[tokio::test]
async fn send_message_returns_the_message_id_losslessly() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    let request: SendMessageRequest = serde_json::from_value(json!({
        "template_id": "1008",
        "user_id": "u-approver",
        "uuid": "PR-0001-step-1",
        "approval_name": "@i18n@name",
        "content": {"summaries": [{"summary": "@i18n@summary"}]},
        "actions": [{
            "action_name": "DETAIL",
            "url": "https://erp.example.com/pr/1",
            "android_url": "https://erp.example.com/pr/1",
            "ios_url": "https://erp.example.com/pr/1",
            "pc_url": "https://erp.example.com/pr/1"
        }],
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": {"@i18n@name": "采购", "@i18n@summary": "金额 100"}
        }]
    }))
    .unwrap();
    Mock::given(method("POST"))
        .and(path("/open-apis/approval/v1/message/send"))
        .and(body_json(serde_json::to_value(&request).unwrap()))
        .respond_with(success(json!({"message_id": "6968359519504171036"})))
        .expect(1)
        .mount(&server)
        .await;

    let message_id = client(&server)
        .send_message(&request, in_secs(5))
        .await
        .unwrap();
    assert_eq!(
        message_id.as_ref().map(|id| id.as_str()),
        Some("6968359519504171036")
    );
}

#[tokio::test]
async fn update_message_posts_the_status_change() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    let request: UpdateMessageRequest =
        serde_json::from_value(json!({"message_id": "6968359519504171036", "status": "APPROVED"}))
            .unwrap();
    Mock::given(method("POST"))
        .and(path("/open-apis/approval/v1/message/update"))
        .and(body_json(
            json!({"message_id": "6968359519504171036", "status": "APPROVED"}),
        ))
        .respond_with(success(json!({"message_id": "6968359519504171036"})))
        .expect(1)
        .mount(&server)
        .await;

    let message_id = client(&server)
        .update_message(&request, in_secs(5))
        .await
        .unwrap();
    assert_eq!(message_id.as_str(), "6968359519504171036");
}

#[tokio::test]
async fn create_approval_uses_user_and_department_ids_and_returns_feishus_code() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    let approval: ExternalApproval = serde_json::from_value(json!({
        "approval_name": "@i18n@approval_name",
        "approval_code": "purchase-request",
        "external": {"support_pc": true, "support_mobile": true},
        "viewers": [{"viewer_type": "TENANT"}],
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [{"key": "@i18n@approval_name", "value": "采购申请"}]
        }]
    }))
    .unwrap();
    Mock::given(method("POST"))
        .and(path("/open-apis/approval/v4/external_approvals"))
        .and(query_param("user_id_type", "user_id"))
        .and(query_param("department_id_type", "department_id"))
        .and(body_json(serde_json::to_value(&approval).unwrap()))
        .respond_with(success(
            json!({"approval_code": "C30381C8-7A5F-4717-A9CF-C233BF0202D4"}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let code = client(&server)
        .create_approval(&approval, in_secs(5))
        .await
        .unwrap();
    assert_eq!(code, "C30381C8-7A5F-4717-A9CF-C233BF0202D4");
}

#[tokio::test]
async fn a_success_without_the_documented_data_is_an_unexpected_response() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": 0, "msg": "success"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = check(&client(&server), in_secs(5)).await.unwrap_err();
    assert!(
        matches!(error, FeishuError::UnexpectedResponse { status: 200, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn the_token_retry_does_not_use_up_the_retry_budget() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .respond_with(failure(
            200,
            99991671,
            "Invalid token: must start with t-/u-",
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    check_endpoint()
        .respond_with(failure(500, 0, "internal error"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    check_endpoint()
        .respond_with(success(NO_DIFF()))
        .expect(1)
        .mount(&server)
        .await;

    let client = client_with(&server, |config| config.retry.max_attempts = 2);
    check(&client, in_secs(5)).await.unwrap();
}

#[tokio::test]
async fn an_observer_learns_the_log_id_of_a_successful_call() {
    let server = MockServer::start().await;
    serve_token(&server, "t-1").await;
    check_endpoint()
        .respond_with(success(NO_DIFF()).insert_header("X-Tt-Logid", "LOG-SUCCESS"))
        .expect(1)
        .mount(&server)
        .await;

    let collector = Arc::new(CallCollector::default());
    let client = client(&server).observed_by(collector.clone());
    check(&client, in_secs(5)).await.unwrap();

    let reports = collector.take();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].succeeded());
    assert_eq!(reports[0].path, CHECK_PATH);
    assert_eq!(reports[0].code, Some(0));
    assert_eq!(reports[0].log_id.as_deref(), Some("LOG-SUCCESS"));
    assert_eq!(reports[0].token_refreshes, 1);
}
