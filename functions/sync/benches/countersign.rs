//! Countersign (会签): N approvers decide one instance at the same moment, Feishu answering every
//! approval call in 80 ms, the in-memory store. For N = 8, 12 and 50: failed jobs, whether Feishu
//! ends with every decision, pushes of the instance (at most 2 × N), wall time, and the most
//! pushes of that one instance within any second (Feishu asks integrators not to re-sync one
//! instance in quick succession).
//!
//! Run with `cargo bench -p approval-sync --bench countersign`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use approval_sync::events::LogPublisher;
use approval_sync::{SyncService, SyncSettings, handle_job, parse_job};
use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::clock::SystemClock;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::InMemoryStore;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FEISHU_DELAY: Duration = Duration::from_millis(80);
const START: u64 = 1_700_000_000_000;
const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";

/// Answers like Feishu after [`FEISHU_DELAY`], remembering each instance push and when it came.
#[derive(Clone, Default)]
struct Recorder {
    pushes: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let data = if request.url.path() == INSTANCE_PATH {
            self.pushes
                .lock()
                .expect("pushes")
                .push((Instant::now(), body.clone()));
            json!({"data": body})
        } else {
            json!({"message_id": body["message_id"]})
        };
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 0, "msg": "success", "data": data}))
            .set_delay(FEISHU_DELAY)
    }
}

fn instance_job(approvers: usize) -> Value {
    let tasks: Vec<Value> = (1..=approvers)
        .map(|n| {
            json!({
                "task_id": format!("t{n}"),
                "user_id": format!("u{n}"),
                "links": {"pc_link": "https://erp.example.com/task"},
                "status": "PENDING",
                "create_time": START.to_string(),
                "end_time": "0",
                "update_time": START.to_string()
            })
        })
        .collect();
    json!({"type": "instance", "instance": {
        "approval_code": "CODE", "status": "PENDING", "instance_id": "countersign",
        "links": {"pc_link": "https://erp.example.com/instance"}, "user_id": "initiator",
        "start_time": START.to_string(), "end_time": "0", "update_time": START.to_string(),
        "task_list": tasks,
        "i18n_resources": [{"locale": "zh-CN", "is_default": true, "texts": []}]
    }})
}

/// The decision job of approver `n`, signed as the callback function hands it off.
fn approval(n: usize) -> Value {
    let job = json!({
        "type": "decision", "approval_code": "CODE", "instance_id": "countersign",
        "task_id": format!("t{n}"), "action": "APPROVE", "user_id": format!("u{n}"),
        "received_at": START.to_string(), "delivery_id": format!("tap-{n}")
    });
    testkit::sign_job(job, "token", None)
}

/// The most instants of `times` within any one-second window.
fn most_per_second(times: &[Instant]) -> usize {
    (0..times.len())
        .map(|first| {
            times[first..]
                .iter()
                .take_while(|time| time.duration_since(times[first]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn run(approvers: usize) -> String {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/open-apis/auth/v3/tenant_access_token/internal"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 0, "msg": "ok", "tenant_access_token": "t-bench", "expire": 7200
        })))
        .mount(&server)
        .await;
    let recorder = Recorder::default();
    Mock::given(method("POST"))
        .respond_with(recorder.clone())
        .with_priority(10)
        .mount(&server)
        .await;
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
    let service = SyncService::new(
        feishu,
        credentials,
        InMemoryStore::new(),
        LogPublisher,
        Arc::new(SystemClock),
        SyncSettings::default(),
    );
    let job = parse_job(instance_job(approvers)).expect("instance job");
    handle_job(job, &service, None).await.expect("synced");
    recorder.pushes.lock().expect("pushes").clear();

    let started = Instant::now();
    let results = futures::future::join_all((1..=approvers).map(|n| {
        let service = &service;
        async move { handle_job(parse_job(approval(n)).expect("job"), service, None).await }
    }))
    .await;
    let wall = started.elapsed();

    let failed = results.iter().filter(|result| result.is_err()).count();
    let pushes = recorder.pushes.lock().expect("pushes").clone();
    let complete = pushes.last().is_some_and(|(_, last)| {
        last["status"] == "APPROVED"
            && last["task_list"]
                .as_array()
                .is_some_and(|tasks| tasks.iter().all(|task| task["status"] == "APPROVED"))
    });
    let times: Vec<Instant> = pushes.iter().map(|(time, _)| *time).collect();
    format!(
        "  N = {approvers:>2}: failed {failed}, Feishu has every decision: {complete}, pushes {} \
         (≤ {}), wall {:.0} ms, most pushes of the instance in one second {}",
        pushes.len(),
        2 * approvers,
        wall.as_secs_f64() * 1000.0,
        most_per_second(&times)
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "countersign: N approvals of one instance at once, Feishu {} ms per call",
        FEISHU_DELAY.as_millis()
    );
    for approvers in [8, 12, 50] {
        println!("{}", runtime.block_on(run(approvers)));
    }
}
