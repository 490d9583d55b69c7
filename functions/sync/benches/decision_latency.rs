//! End-to-end latency of a decision job (a card tap on a known instance) against a Feishu that
//! takes 50 ms per approval call, with a warm tenant token: the real code path with the card
//! update and the instance push at once (as deployed) and — the baseline — the same code path
//! with `FeishuCalls::Serial`, over the in-memory store and over DynamoDB (moto on loopback).
//!
//! Run with `cargo bench -p approval-sync --bench decision_latency` (moto_server on `PATH`, as
//! `scripts/test` sets it); prints median and p90 per variant.

use std::sync::Arc;
use std::time::Duration;

use approval_sync::events::LogPublisher;
use approval_sync::{FeishuCalls, SyncService, SyncSettings, handle_job, parse_job};
use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::clock::SystemClock;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::InMemoryStore;
use feishu_bridge::store::InstanceStore;
use feishu_bridge::store::dynamodb::{DynamoDbStore, create_table};
use serde_json::{Value, json};
use testkit::MotoServer;
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Decision jobs measured per variant.
const ITERATIONS: usize = 40;
/// Feishu's simulated latency on every approval endpoint.
const FEISHU_DELAY: Duration = Duration::from_millis(50);
const START: u64 = 1_700_000_000_000;
const CARD: &str = "7690275278685244603";

/// Answers like Feishu, after [`FEISHU_DELAY`].
struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let data = if request.url.path().ends_with("/external_instances") {
            json!({"data": body})
        } else {
            json!({"message_id": body["message_id"]})
        };
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 0, "msg": "success", "data": data}))
            .set_delay(FEISHU_DELAY)
    }
}

fn instance_job(instance_id: &str) -> Value {
    json!({"type": "instance", "instance": {
        "approval_code": "CODE",
        "status": "PENDING",
        "instance_id": instance_id,
        "links": {"pc_link": "https://erp.example.com/instance"},
        "user_id": "initiator",
        "start_time": START.to_string(),
        "end_time": "0",
        "update_time": START.to_string(),
        "task_list": [{
            "task_id": "t1",
            "user_id": "approver",
            "links": {"pc_link": "https://erp.example.com/task"},
            "status": "PENDING",
            "create_time": START.to_string(),
            "end_time": "0",
            "update_time": START.to_string()
        }],
        "i18n_resources": [{"locale": "zh-CN", "is_default": true, "texts": []}]
    }})
}

/// A card decision on `instance_id`, signed as the callback function hands it off.
fn decision_job(instance_id: &str, delivery: usize) -> Value {
    let job = json!({
        "type": "decision",
        "approval_code": "CODE",
        "instance_id": instance_id,
        "task_id": "t1",
        "message_id": CARD,
        "action": "APPROVE",
        "user_id": "approver",
        "received_at": START.to_string(),
        "delivery_id": format!("bench-{delivery}")
    });
    testkit::sign_job(job, "token", None)
}

/// Median and 90th percentile, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |quantile: f64| {
        let index = ((samples.len() - 1) as f64 * quantile).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.9))
}

/// A service over `store`, making its independent Feishu calls as `calls` says.
fn service<S: InstanceStore>(
    server: &MockServer,
    store: S,
    calls: FeishuCalls,
) -> SyncService<S, LogPublisher> {
    let credentials = Arc::new(CredentialSource::fixed(Credentials {
        app_id: "cli_bench".to_owned(),
        app_secret: Secret::new("secret"),
        callback_token: Secret::new("token"),
        callback_key: None,
        previous_callback: None,
    }));
    let feishu = FeishuClient::new(
        ClientConfig::for_base_url(server.uri()),
        Arc::clone(&credentials),
    )
    .expect("client");
    let settings = SyncSettings {
        feishu_calls: calls,
        ..SyncSettings::default()
    };
    SyncService::new(
        feishu,
        credentials,
        store,
        LogPublisher,
        Arc::new(SystemClock),
        settings,
    )
}

/// Times [`ITERATIONS`] decisions, each on an instance of its own synced just before.
async fn measure<S: InstanceStore>(service: &SyncService<S, LogPublisher>, label: &str) -> String {
    service
        .feishu()
        .tenant_access_token(Instant::now() + Duration::from_secs(5))
        .await
        .expect("warm token");
    let mut samples = Vec::with_capacity(ITERATIONS);
    for iteration in 0..ITERATIONS {
        let instance_id = format!("{label}-{iteration}");
        let job = parse_job(instance_job(&instance_id)).expect("instance job");
        handle_job(job, service, None).await.expect("synced");
        let job = parse_job(decision_job(&instance_id, iteration)).expect("decision job");
        let started = std::time::Instant::now();
        handle_job(job, service, None).await.expect("decided");
        samples.push(started.elapsed());
    }
    let (median, p90) = percentiles(samples);
    format!("  {label:<34} median {median:6.1} ms, p90 {p90:6.1} ms")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "code": 0, "msg": "ok", "tenant_access_token": "t-bench", "expire": 7200
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/open-apis/approval/v4/external_instances"))
            .respond_with(Echo)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/open-apis/approval/v1/message/update"))
            .respond_with(Echo)
            .mount(&server)
            .await;
        let moto = MotoServer::start().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        create_table(&dynamodb, "bench").await.expect("table");

        let mut lines = Vec::new();
        for (calls, name) in [
            (FeishuCalls::Concurrent, "concurrent"),
            (FeishuCalls::Serial, "serial"),
        ] {
            let memory = service(&server, InMemoryStore::new(), calls);
            lines.push(measure(&memory, &format!("memory, {name}")).await);
            let dynamo = service(
                &server,
                DynamoDbStore::new(dynamodb.clone(), "bench"),
                calls,
            );
            lines.push(measure(&dynamo, &format!("dynamodb (moto), {name}")).await);
        }
        println!(
            "decision job (card tap), Feishu {} ms per call, {ITERATIONS} iterations each:",
            FEISHU_DELAY.as_millis()
        );
        for line in lines {
            println!("{line}");
        }
    });
}
