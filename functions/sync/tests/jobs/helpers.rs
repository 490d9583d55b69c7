//! Shared fixtures: a wiremock Feishu, a recording publisher, a service over the in-memory store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use approval_sync::events::{
    BridgeEvent, DecisionEvent, EventPublisher, PublishError, RefusedEvent,
};
use approval_sync::plan::{
    DecisionStep, InstanceStep, PlanContext, Target, plan_decision, plan_instance,
};
use approval_sync::{
    InstanceStatusPolicy, SyncError, SyncService, SyncSettings, SyncSummary, handle_job, parse_job,
};
use feishu_bridge::client::{ClientConfig, FeishuClient, RetryPolicy};
use feishu_bridge::clock::SystemClock;
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::{DecisionJob, SyncJob};
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::{
    CardChange, CardRecord, CardRef, Commit, DeliveryProgress, Expiry, Head, InMemoryStore,
    InstanceRecords, InstanceStore, Lease, PushRelease, RecentChange, StoreError,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";
pub const SEND_PATH: &str = "/open-apis/approval/v1/message/send";
pub const UPDATE_PATH: &str = "/open-apis/approval/v1/message/update";
pub const CALLBACK_URL: &str = "https://bridge.example.com/feishu/approval/callback";
pub const CALLBACK_TOKEN: &str = "callback-token-value";
pub const START: u64 = 1_700_000_000_000;

pub type Service = SyncService<InMemoryStore, RecordingPublisher>;

/// Publishes into a list; can be told to fail.
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    events: Mutex<Vec<BridgeEvent>>,
    failing: Mutex<bool>,
}

impl RecordingPublisher {
    /// The decision events published, in order.
    pub fn events(&self) -> Vec<DecisionEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                BridgeEvent::Decision(event) => Some(event.clone()),
                BridgeEvent::Refused(_) => None,
            })
            .collect()
    }

    /// The refused-decision events published, in order.
    pub fn refusals(&self) -> Vec<RefusedEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                BridgeEvent::Refused(event) => Some(event.clone()),
                BridgeEvent::Decision(_) => None,
            })
            .collect()
    }

    pub fn fail(&self, failing: bool) {
        *self.failing.lock().unwrap() = failing;
    }
}

impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &BridgeEvent) -> Result<(), PublishError> {
        if *self.failing.lock().unwrap() {
            return Err(PublishError("the bus is down".to_owned()));
        }
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// Answers like Feishu: the instance push echoes the instance, an update echoes the message id,
/// a send returns a message id derived from the `uuid` (so a repeated uuid yields the same id).
pub struct FeishuEcho;

impl Respond for FeishuEcho {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let data = match request.url.path() {
            INSTANCE_PATH => json!({"data": body}),
            UPDATE_PATH => json!({"message_id": body["message_id"]}),
            SEND_PATH => json!({"message_id": message_id_for(body["uuid"].as_str().unwrap_or(""))}),
            other => panic!("unexpected path {other}"),
        };
        ResponseTemplate::new(200)
            .insert_header("x-tt-logid", "LOG-OK")
            .set_body_json(json!({"code": 0, "msg": "success", "data": data}))
    }
}

/// The message id the fake Feishu gives the card with `uuid`.
pub fn message_id_for(uuid: &str) -> String {
    let digest = Sha256::digest(uuid.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(bytes) >> 2).to_string()
}

/// A Feishu that issues token `t-1` and accepts everything.
pub async fn feishu() -> MockServer {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    mount_echo(&server, None).await;
    server
}

pub async fn mount_token(server: &MockServer, token: &str) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200
        })))
        .mount(server)
        .await;
}

/// Accepts every approval call, each answered after `delay`.
pub async fn mount_echo(server: &MockServer, delay: Option<Duration>) {
    for endpoint in [INSTANCE_PATH, SEND_PATH, UPDATE_PATH] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .respond_with(Delayed(FeishuEcho, delay.unwrap_or_default()))
            .with_priority(10)
            .mount(server)
            .await;
    }
}

/// A responder answering after a delay.
pub struct Delayed<R>(pub R, pub Duration);

impl<R: Respond> Respond for Delayed<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request).set_delay(self.1)
    }
}

pub fn settings() -> SyncSettings {
    SyncSettings {
        callback_url: Some(CALLBACK_URL.to_owned()),
        deadline: Duration::from_secs(10),
        ..SyncSettings::default()
    }
}

pub fn service(server: &MockServer) -> Service {
    service_with(server, settings())
}

pub fn service_with(server: &MockServer, settings: SyncSettings) -> Service {
    service_over(server, settings, InMemoryStore::new())
}

/// A service over `store`, for tests that need another store.
pub fn service_over<S: InstanceStore>(
    server: &MockServer,
    settings: SyncSettings,
    store: S,
) -> SyncService<S, RecordingPublisher> {
    let credentials = Arc::new(CredentialSource::fixed(Credentials {
        app_id: "cli_test".to_owned(),
        app_secret: Secret::new("app-secret"),
        callback_token: Secret::new(CALLBACK_TOKEN),
        callback_key: None,
        previous_callback: None,
    }));
    service_from(server, settings, store, credentials)
}

/// A service over the in-memory store with these credentials (a callback pair of its own).
pub fn service_with_credentials(
    server: &MockServer,
    credentials: Arc<CredentialSource>,
) -> Service {
    service_from(server, settings(), InMemoryStore::new(), credentials)
}

fn service_from<S: InstanceStore>(
    server: &MockServer,
    settings: SyncSettings,
    store: S,
    credentials: Arc<CredentialSource>,
) -> SyncService<S, RecordingPublisher> {
    let mut config = ClientConfig::for_base_url(server.uri());
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    let feishu = FeishuClient::new(config, Arc::clone(&credentials)).unwrap();
    SyncService::new(
        feishu,
        credentials,
        store,
        RecordingPublisher::default(),
        Arc::new(SystemClock),
        settings,
    )
}

/// Parses and runs a job given as JSON; a decision job is signed first, as the callback function
/// hands it off ([`sign`]).
pub async fn run<S: InstanceStore>(
    service: &SyncService<S, RecordingPublisher>,
    job: Value,
) -> Result<SyncSummary, SyncError> {
    handle_job(parse_job(sign(job))?, service, None).await
}

/// A decision job given as JSON with the proof the callback function would give it under the
/// services' callback pair ([`CALLBACK_TOKEN`], no key); other jobs as they are.
pub fn sign(job: Value) -> Value {
    testkit::sign_job(job, CALLBACK_TOKEN, None)
}

/// An instance `i-1` with tasks given as `(task_id, status)`, every version at [`START`].
pub fn instance(tasks: &[(&str, &str)]) -> ExternalInstance {
    serde_json::from_value(instance_json("i-1", START, tasks)).unwrap()
}

pub fn instance_json(instance_id: &str, update_time: u64, tasks: &[(&str, &str)]) -> Value {
    let task_list: Vec<Value> = tasks
        .iter()
        .map(|(task_id, status)| {
            json!({
                "task_id": task_id,
                "user_id": format!("approver-{task_id}"),
                "title": "@i18n@task_title",
                "links": {
                    "pc_link": format!("https://erp.example.com/pc/{task_id}"),
                    "mobile_link": format!("https://erp.example.com/m/{task_id}")
                },
                "status": status,
                "create_time": START.to_string(),
                "end_time": "0",
                "update_time": START.to_string(),
                "action_context": format!("ctx-{task_id}"),
                "action_configs": [{"action_type": "APPROVE"}, {"action_type": "REJECT"}]
            })
        })
        .collect();
    json!({
        "approval_code": "APPROVAL-CODE",
        "status": "PENDING",
        "instance_id": instance_id,
        "links": {"pc_link": format!("https://erp.example.com/pc/{instance_id}")},
        "title": "@i18n@title",
        "form": [{"name": "@i18n@amount", "value": "@i18n@amount_value"}],
        "user_id": "initiator",
        "start_time": START.to_string(),
        "end_time": "0",
        "update_time": update_time.to_string(),
        "task_list": task_list,
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@title", "value": "采购申请"},
                {"key": "@i18n@task_title", "value": "审批"},
                {"key": "@i18n@amount", "value": "金额"},
                {"key": "@i18n@amount_value", "value": "1000 元"}
            ]
        }]
    })
}

/// Stores `instance` as the company's base, as an earlier instance job would have, without
/// calling Feishu (recorded as pushed, as that job would have left it).
pub async fn seed<S: InstanceStore>(
    service: &SyncService<S, RecordingPublisher>,
    instance: ExternalInstance,
) {
    let store = service.store();
    let records = store.load(&instance.instance_id).await.unwrap();
    let ctx = PlanContext {
        now: UnixMillis::now(),
        lease: Lease {
            owner: "seed".to_owned(),
            until: 0,
        },
        policy: service.settings().instance_status_policy,
        record_ttl: service.settings().record_ttl,
        tombstone_ttl: service.settings().tombstone_ttl,
    };
    match plan_instance(&records, &instance, &[], &ctx) {
        InstanceStep::Commit(commit) => {
            store.commit(&commit).await.unwrap();
            // As if the seeding job pushed it: take the push lease, let go at its position.
            let seq = commit.head.as_ref().map_or(0, |head| head.seq);
            let pusher = Lease {
                owner: "seed".to_owned(),
                until: u64::MAX,
            };
            let now_ms = UnixMillis::now().as_millis();
            assert!(
                store
                    .claim_push(&instance.instance_id, &pusher, now_ms)
                    .await
                    .unwrap()
            );
            store
                .release_push(&instance.instance_id, "seed", seq)
                .await
                .unwrap();
        }
        InstanceStep::Stale { .. } => panic!("seeded a stale instance"),
    }
}

/// A decision job from the callback function: a delivery of its own (as every callback is),
/// made by the task's approver (`approver-<task>`, as [`instance_json`] names them) unless
/// `fields` say otherwise. Running the same job value twice is a Lambda retry of one delivery.
pub fn decision(fields: Value) -> Value {
    static DELIVERIES: AtomicU64 = AtomicU64::new(1);
    let user_id = match fields["task_id"].as_str() {
        Some(task_id) => format!("approver-{task_id}"),
        None => "approver".to_owned(),
    };
    let delivery = DELIVERIES.fetch_add(1, Ordering::Relaxed);
    let mut job = json!({
        "type": "decision",
        "approval_code": "APPROVAL-CODE",
        "user_id": user_id,
        "received_at": START.to_string(),
        "delivery_id": format!("request-{delivery}"),
    });
    for (key, value) in fields.as_object().unwrap() {
        job[key] = value.clone();
    }
    job
}

/// The JSON bodies Feishu received on `endpoint`, in arrival order.
pub async fn bodies(server: &MockServer, endpoint: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.url.path() == endpoint)
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

/// The status of task `task_id` in an instance body.
pub fn task_status<'a>(instance: &'a Value, task_id: &str) -> &'a str {
    instance["task_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["task_id"] == task_id)
        .and_then(|task| task["status"].as_str())
        .unwrap()
}

/// A millisecond field sent as a string.
pub fn millis(value: &Value) -> u64 {
    value.as_str().unwrap().parse().unwrap()
}

/// An in-memory store in which the company's system stores a newer instance while a job's
/// push is on its way: just before the job lets go of the push lease. It can also accept an
/// approver's decision while a bot card is on its way to Feishu.
#[derive(Debug, Default)]
pub struct InterloperStore {
    inner: InMemoryStore,
    newer: Mutex<Option<ExternalInstance>>,
    decision: Mutex<Option<DecisionJob>>,
    settle_fails: Mutex<bool>,
}

impl InterloperStore {
    /// Commits `instance` as the new base right before the next push lease is released.
    pub fn during_the_next_push(&self, instance: ExternalInstance) {
        *self.newer.lock().unwrap() = Some(instance);
    }

    /// Accepts decision `job` (given as a job's JSON, on `instance_id` + `task_id`) right before
    /// the next card send is recorded: after the card was sent, before its id is stored.
    pub fn before_next_card_sent(&self, job: Value) {
        match parse_job(job).unwrap() {
            SyncJob::Decision(job) => *self.decision.lock().unwrap() = Some(job),
            other => panic!("not a decision: {other:?}"),
        }
    }

    /// The next write of a card update's outcome fails (the store is unavailable).
    pub fn fail_next_settle(&self) {
        *self.settle_fails.lock().unwrap() = true;
    }

    /// Accepts the pending decision, if any.
    async fn accept_pending_decision(&self, instance_id: &str) {
        let Some(job) = self.decision.lock().unwrap().take() else {
            return;
        };
        let records = self.inner.load(instance_id).await.unwrap();
        let target = Target {
            records_id: instance_id.to_owned(),
            instance_id: Some(instance_id.to_owned()),
            task_id: job.decision.task_id.clone(),
            message_id: None,
        };
        let ctx = PlanContext {
            now: UnixMillis::now(),
            lease: Lease {
                owner: "approver".to_owned(),
                until: 0,
            },
            policy: InstanceStatusPolicy::Derive,
            record_ttl: Duration::from_secs(60),
            tombstone_ttl: Duration::from_secs(60),
        };
        let delivery = job.delivery_id.clone().unwrap_or_default();
        match plan_decision(&records, &job, &target, &delivery, &ctx) {
            DecisionStep::Commit(commit) => self.inner.commit(&commit).await.unwrap(),
            other => panic!("the decision was not judged: {other:?}"),
        }
    }
}

impl InstanceStore for InterloperStore {
    async fn load(&self, instance_id: &str) -> Result<InstanceRecords, StoreError> {
        self.inner.load(instance_id).await
    }

    async fn load_head(&self, instance_id: &str) -> Result<Option<Head>, StoreError> {
        self.inner.load_head(instance_id).await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        self.inner.commit(commit).await
    }

    async fn claim_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.inner
            .claim_delivery(instance_id, delivery_id, lease, now_ms)
            .await
    }

    async fn finish_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        owner: &str,
        progress: DeliveryProgress,
    ) -> Result<(), StoreError> {
        self.inner
            .finish_delivery(instance_id, delivery_id, owner, progress)
            .await
    }

    async fn put_card(&self, instance_id: &str, card: &CardRecord) -> Result<bool, StoreError> {
        self.inner.put_card(instance_id, card).await
    }

    async fn change_card(
        &self,
        instance_id: &str,
        card_key: &str,
        change: &CardChange,
    ) -> Result<bool, StoreError> {
        if matches!(change, CardChange::Sent { .. }) {
            self.accept_pending_decision(instance_id).await;
        }
        if matches!(change, CardChange::Settle { .. })
            && std::mem::take(&mut *self.settle_fails.lock().unwrap())
        {
            return Err(StoreError::Unavailable("throttled".to_owned()));
        }
        self.inner.change_card(instance_id, card_key, change).await
    }

    async fn index_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        self.inner.index_card(message_id, card).await
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        self.inner.find_card(message_id).await
    }

    async fn claim_push(
        &self,
        instance_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.inner.claim_push(instance_id, lease, now_ms).await
    }

    async fn release_push(
        &self,
        instance_id: &str,
        owner: &str,
        seq: u64,
    ) -> Result<PushRelease, StoreError> {
        let newer = self.newer.lock().unwrap().take();
        if let Some(instance) = newer {
            let records = self.inner.load(instance_id).await?;
            let ctx = PlanContext {
                now: UnixMillis::now(),
                lease: Lease {
                    owner: "company".to_owned(),
                    until: 0,
                },
                policy: InstanceStatusPolicy::Derive,
                record_ttl: Duration::from_secs(60),
                tombstone_ttl: Duration::from_secs(60),
            };
            if let InstanceStep::Commit(commit) = plan_instance(&records, &instance, &[], &ctx) {
                self.inner.commit(&commit).await?;
            }
        }
        self.inner.release_push(instance_id, owner, seq).await
    }

    async fn expire(
        &self,
        instance_id: &str,
        expiry: Expiry,
        cards: &[MessageId],
    ) -> Result<(), StoreError> {
        self.inner.expire(instance_id, expiry, cards).await
    }

    async fn recently_changed(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<RecentChange>, StoreError> {
        self.inner.recently_changed(since_ms, until_ms).await
    }
}
