//! End-to-end latency of a decision job against a Feishu that takes 50 ms per approval call, with
//! a warm tenant token and the in-memory store: the job as built (bot card update and instance
//! push concurrently) against the same steps with the two calls made one after the other.
//!
//! Run with `cargo bench -p approval-sync --bench decision_latency`; prints median and p90.

use std::sync::Arc;
use std::time::Duration;

use approval_sync::apply::card_status;
use approval_sync::decision::{apply_to_snapshot, resolve_target};
use approval_sync::events::{DecisionEvent, DecisionPublisher, LogPublisher};
use approval_sync::store::{InMemoryStore, Snapshot, SnapshotStore};
use approval_sync::{SyncService, SyncSettings, handle_job};
use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::job::{DecisionJob, SyncJob};
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::message::UpdateMessageRequest;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use serde_json::{Value, json};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Decision jobs measured per variant.
const ITERATIONS: usize = 40;
/// Feishu's simulated latency on every approval endpoint.
const FEISHU_DELAY: Duration = Duration::from_millis(50);
const START: u64 = 1_700_000_000_000;

/// Echoes like Feishu: the instance push returns the instance, an update its message id.
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

fn instance(instance_id: &str) -> ExternalInstance {
    serde_json::from_value(json!({
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
    }))
    .expect("valid instance")
}

fn decision_job(instance_id: &str) -> DecisionJob {
    serde_json::from_value(json!({
        "approval_code": "CODE",
        "instance_id": instance_id,
        "task_id": "t1",
        "message_id": "7690275278685244603",
        "action": "APPROVE",
        "user_id": "approver",
        "received_at": START.to_string()
    }))
    .expect("valid job")
}

async fn seed(store: &InMemoryStore, instance_id: &str) {
    let mut snapshot = Snapshot::empty(instance_id);
    snapshot.instance = Some(instance(instance_id));
    store.save(&snapshot).await.expect("seeded");
}

/// The decision job's steps with the card update and the instance push made one after the other.
async fn sequential_decision(service: &SyncService<InMemoryStore, LogPublisher>, job: DecisionJob) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let store = service.store();
    let decision = &job.decision;
    let target = resolve_target(store, decision).await.expect("resolved");
    let mut snapshot = store.load(&target.snapshot_id).await.expect("loaded");
    let now = UnixMillis::now();
    apply_to_snapshot(
        &mut snapshot,
        &target,
        &decision.action,
        service.settings().instance_status_policy,
        now,
    );
    let update = UpdateMessageRequest {
        message_id: decision.message_id.clone().expect("card decision"),
        status: card_status(&decision.action),
        status_name: None,
        detail_action_name: None,
        i18n_resources: Vec::new(),
    };
    service
        .feishu()
        .update_message(&update, deadline)
        .await
        .expect("card updated");
    let instance = snapshot.instance.as_ref().expect("seeded instance");
    service
        .feishu()
        .sync_instance(instance, deadline)
        .await
        .expect("instance pushed");
    store.save(&snapshot).await.expect("saved");
    let event = DecisionEvent {
        decision_id: target.decision_id(&decision.action),
        decision: decision.clone(),
        instance_status: Some(instance.status.clone()),
        received_at: job.received_at,
        applied_at: now,
    };
    service
        .publisher()
        .publish(&event)
        .await
        .expect("published");
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
        for endpoint in [
            "/open-apis/approval/v4/external_instances",
            "/open-apis/approval/v1/message/update",
        ] {
            Mock::given(method("POST"))
                .and(path(endpoint))
                .respond_with(Echo)
                .mount(&server)
                .await;
        }
        let credentials = Arc::new(CredentialSource::fixed(Credentials {
            app_id: "cli_bench".to_owned(),
            app_secret: Secret::new("secret"),
            callback_token: Secret::new("token"),
            callback_key: None,
        }));
        let feishu = FeishuClient::new(
            ClientConfig::for_base_url(server.uri()),
            Arc::clone(&credentials),
        )
        .expect("client");
        let service = SyncService::new(
            feishu,
            credentials,
            InMemoryStore::new(),
            LogPublisher,
            SyncSettings::default(),
        );
        service
            .feishu()
            .tenant_access_token(Instant::now() + Duration::from_secs(5))
            .await
            .expect("warm token");

        let mut concurrent = Vec::with_capacity(ITERATIONS);
        let mut sequential = Vec::with_capacity(ITERATIONS);
        for iteration in 0..ITERATIONS {
            let instance_id = format!("concurrent-{iteration}");
            seed(service.store(), &instance_id).await;
            let job = SyncJob::Decision(decision_job(&instance_id));
            let started = std::time::Instant::now();
            handle_job(job, &service).await.expect("decision applied");
            concurrent.push(started.elapsed());

            let instance_id = format!("sequential-{iteration}");
            seed(service.store(), &instance_id).await;
            let job = decision_job(&instance_id);
            let started = std::time::Instant::now();
            sequential_decision(&service, job).await;
            sequential.push(started.elapsed());
        }

        let (concurrent_median, concurrent_p90) = percentiles(concurrent);
        let (sequential_median, sequential_p90) = percentiles(sequential);
        println!(
            "decision job, Feishu latency {} ms per call, {ITERATIONS} iterations each:",
            FEISHU_DELAY.as_millis()
        );
        println!(
            "  concurrent card update + instance push: median {concurrent_median:.1} ms, p90 {concurrent_p90:.1} ms"
        );
        println!(
            "  sequential card update, then push:      median {sequential_median:.1} ms, p90 {sequential_p90:.1} ms"
        );
        println!(
            "  saved per decision (median): {:.1} ms",
            sequential_median - concurrent_median
        );
    });
}
