//! What a reconcile job costs per 1,000 instances changed within its window: store operations
//! (with the DynamoDB read and write units they would consume, from the sizes of the items the
//! DynamoDB adapter would read), Feishu calls, and wall time, against the Feishu simulator
//! answering every approval call after 80 ms, with the client's default pacing (20 requests a
//! second per API) and the in-memory store.
//!
//! 1,000 instances with two pending tasks each are pushed (half of them then get a decision, so
//! their records hold a decision and a delivery too). Then, each on the same instances:
//! everything in sync; 10 % lost by Feishu; all lost (more re-pushes than one run's budget
//! allows: the run stops and names the job that resumes it, which is run until done).
//!
//! Run with `cargo bench -p approval-sync --bench reconcile`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use approval_sync::events::LogPublisher;
use approval_sync::{SyncError, SyncService, SyncSettings, SyncSummary, handle_job, parse_job};
use feishu_bridge::client::{ClientConfig, FeishuClient, Pacing};
use feishu_bridge::clock::SystemClock;
use feishu_bridge::ids::MessageId;
use feishu_bridge::models::ExternalApproval;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::dynamodb::item_bytes;
use feishu_bridge::store::{
    CardChange, CardRecord, CardRef, Commit, DeliveryProgress, Expiry, Head, InMemoryStore,
    InstanceRecords, InstanceStore, Lease, PushRelease, RecentChange, StoreError,
};
use feishu_sim::{FaultCommand, FaultKind, RandomFaults, SimConfig, Simulator};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const INSTANCES: usize = 1_000;
const FEISHU_LATENCY_MS: u64 = 80;
const START: u64 = 1_700_000_000_000;
const CHECK_PATH: &str = "/open-apis/approval/v4/external_instances/check";
const PUSH_PATH: &str = "/open-apis/approval/v4/external_instances";
/// DynamoDB read unit: one strongly consistent read of up to 4 KB (eventually consistent: half).
const READ_UNIT_BYTES: usize = 4_096;

/// Counts every store operation, over a store shared by several services.
#[derive(Clone)]
struct Counted {
    inner: Arc<InMemoryStore>,
    ops: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    /// Instances changed, per `recently_changed` call (the index entries read).
    index_entries: Arc<AtomicU64>,
}

impl Counted {
    fn count(&self, op: &'static str) {
        *self.ops.lock().expect("ops").entry(op).or_default() += 1;
    }

    fn take(&self) -> BTreeMap<&'static str, u64> {
        std::mem::take(&mut *self.ops.lock().expect("ops"))
    }
}

impl InstanceStore for Counted {
    async fn load(&self, id: &str) -> Result<InstanceRecords, StoreError> {
        self.count("load (GetItem head + Query partition)");
        self.inner.load(id).await
    }
    async fn load_head(&self, id: &str) -> Result<Option<Head>, StoreError> {
        self.count("load_head (GetItem)");
        self.inner.load_head(id).await
    }
    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        self.count("commit");
        self.inner.commit(commit).await
    }
    async fn claim_delivery(
        &self,
        id: &str,
        delivery: &str,
        lease: &Lease,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.count("claim_delivery");
        self.inner.claim_delivery(id, delivery, lease, now).await
    }
    async fn finish_delivery(
        &self,
        id: &str,
        delivery: &str,
        owner: &str,
        progress: DeliveryProgress,
    ) -> Result<(), StoreError> {
        self.count("finish_delivery");
        self.inner
            .finish_delivery(id, delivery, owner, progress)
            .await
    }
    async fn put_card(&self, id: &str, card: &CardRecord) -> Result<bool, StoreError> {
        self.count("put_card");
        self.inner.put_card(id, card).await
    }
    async fn change_card(
        &self,
        id: &str,
        key: &str,
        change: &CardChange,
    ) -> Result<bool, StoreError> {
        self.count("change_card (UpdateItem)");
        self.inner.change_card(id, key, change).await
    }
    async fn index_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        self.count("index_card");
        self.inner.index_card(message_id, card).await
    }
    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        self.count("find_card");
        self.inner.find_card(message_id).await
    }
    async fn claim_push(&self, id: &str, lease: &Lease, now_ms: u64) -> Result<bool, StoreError> {
        self.count("claim_push (UpdateItem head)");
        self.inner.claim_push(id, lease, now_ms).await
    }
    async fn release_push(
        &self,
        id: &str,
        owner: &str,
        seq: u64,
    ) -> Result<PushRelease, StoreError> {
        self.count("release_push (UpdateItem head)");
        self.inner.release_push(id, owner, seq).await
    }
    async fn expire(
        &self,
        id: &str,
        expiry: Expiry,
        cards: &[MessageId],
    ) -> Result<(), StoreError> {
        self.count("expire");
        self.inner.expire(id, expiry, cards).await
    }
    async fn recently_changed(
        &self,
        since: u64,
        until: u64,
    ) -> Result<Vec<RecentChange>, StoreError> {
        self.count("recently_changed (Query of the index, per hour bucket)");
        let changes = self.inner.recently_changed(since, until).await?;
        self.index_entries
            .fetch_add(changes.len() as u64, Ordering::Relaxed);
        Ok(changes)
    }
}

type Service = SyncService<Counted, LogPublisher>;

fn service(base_url: &str, store: Counted, pacing: Pacing) -> Service {
    let defaults = SimConfig::default();
    let credentials = Arc::new(CredentialSource::fixed(Credentials {
        app_id: defaults.app_id.clone(),
        app_secret: Secret::new(defaults.app_secret.clone()),
        callback_token: Secret::new("callback-token"),
        callback_key: None,
        previous_callback: None,
    }));
    let mut config = ClientConfig::for_base_url(base_url);
    config.pacing = pacing;
    let feishu = FeishuClient::new(config, Arc::clone(&credentials)).expect("client");
    SyncService::new(
        feishu,
        credentials,
        store,
        LogPublisher,
        Arc::new(SystemClock),
        SyncSettings::default(),
    )
}

fn instance_job(code: &str, n: usize) -> Value {
    let id = format!("PR-{n:05}");
    let task = |task: &str| {
        json!({
            "task_id": format!("{id}-{task}"), "user_id": format!("u-{task}-{n}"),
            "title": "@i18n@task",
            "links": {"pc_link": format!("https://erp.example.com/pc/{id}"),
                      "mobile_link": format!("https://erp.example.com/m/{id}")},
            "status": "PENDING", "create_time": START.to_string(), "end_time": "0",
            "update_time": START.to_string(), "action_context": format!("{id}/{task}"),
            "action_configs": [{"action_type": "APPROVE"}, {"action_type": "REJECT"}]
        })
    };
    json!({"type": "instance", "instance": {
        "approval_code": code, "status": "PENDING", "instance_id": id,
        "links": {"pc_link": format!("https://erp.example.com/pc/{id}"),
                  "mobile_link": format!("https://erp.example.com/m/{id}")},
        "title": "@i18n@title", "user_id": format!("initiator-{n}"),
        "form": [{"name": "@i18n@amount", "value": "@i18n@amount_value"},
                 {"name": "@i18n@vendor", "value": "@i18n@vendor_value"}],
        "start_time": START.to_string(), "end_time": "0", "update_time": START.to_string(),
        "task_list": [task("manager"), task("finance")],
        "i18n_resources": [{"locale": "zh-CN", "is_default": true, "texts": [
            {"key": "@i18n@title", "value": format!("采购申请 {id}")},
            {"key": "@i18n@task", "value": "审批"},
            {"key": "@i18n@amount", "value": "金额"},
            {"key": "@i18n@amount_value", "value": "¥12,800.00"},
            {"key": "@i18n@vendor", "value": "供应商"},
            {"key": "@i18n@vendor_value", "value": "上海某某办公用品有限公司"}
        ]}]
    }})
}

/// The manager's approval of instance `n`, signed as the callback function hands it off.
fn approval(n: usize) -> Value {
    let id = format!("PR-{n:05}");
    let job = json!({
        "type": "decision", "approval_code": "CODE", "instance_id": id,
        "task_id": format!("{id}-manager"), "action": "APPROVE", "user_id": format!("u-manager-{n}"),
        "reason": "预算内，同意", "received_at": START.to_string(), "delivery_id": format!("tap-{n}")
    });
    testkit::sign_job(job, "callback-token", None)
}

/// The bytes DynamoDB would count for one record item (keys included).
fn bytes_of(pk: &str, sk: &str, record: &impl serde::Serialize) -> usize {
    let mut item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(record).expect("an item");
    item.insert(
        "pk".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(pk.into()),
    );
    item.insert(
        "sk".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(sk.into()),
    );
    item_bytes(&item)
}

/// Read units of one `load` of `records` (GetItem of the head, strongly consistent, then a
/// strongly consistent Query of the partition, whose item sizes add up before rounding).
fn load_read_units(records: &InstanceRecords) -> (usize, usize) {
    let pk = format!("inst#{}", records.instance_id);
    let head = records
        .head
        .as_ref()
        .map_or(0, |head| bytes_of(&pk, "head", head));
    let mut partition = head;
    if let Some(base) = &records.base {
        partition += bytes_of(&pk, "base", base);
    }
    for decision in &records.decisions {
        partition += bytes_of(&pk, "dec#t#00000000000000000000", decision);
    }
    for delivery in &records.deliveries {
        partition += bytes_of(&pk, &format!("dlv#{}", delivery.delivery_id), delivery);
    }
    for card in &records.cards {
        partition += bytes_of(&pk, &format!("card#{}", card.card_key), card);
    }
    let units = head.div_ceil(READ_UNIT_BYTES) + partition.div_ceil(READ_UNIT_BYTES);
    (partition, units)
}

async fn reconcile(service: &Service, job: Value) -> (Duration, Result<SyncSummary, SyncError>) {
    let started = Instant::now();
    let result = handle_job(parse_job(job).expect("a job"), service, None).await;
    (started.elapsed(), result)
}

fn calls_by_api(summary: &SyncSummary) -> BTreeMap<&'static str, usize> {
    let mut calls = BTreeMap::new();
    if let SyncSummary::Reconcile(summary) = summary {
        for call in &summary.calls {
            *calls.entry(call.api).or_default() += 1;
        }
    }
    calls
}

fn report(label: &str, wall: Duration, store: &Counted, feishu: BTreeMap<&'static str, usize>) {
    println!("\n## {label}");
    println!("wall time: {:.2} s", wall.as_secs_f64());
    println!("Feishu calls: {feishu:?}");
    for (op, count) in store.take() {
        println!("store: {op}: {count}");
    }
    println!(
        "index entries read: {}",
        store.index_entries.swap(0, Ordering::Relaxed)
    );
}

#[tokio::main]
async fn main() {
    let sim = Simulator::start(SimConfig::default()).await.expect("sim");
    let shared = Arc::new(InMemoryStore::new());
    let counted = Counted {
        inner: Arc::clone(&shared),
        ops: Arc::default(),
        index_entries: Arc::default(),
    };
    let fast = Pacing {
        requests_per_second: 2_000,
        burst: 2_000,
    };
    let seeding = service(&sim.base_url(), counted.clone(), fast);
    let definition: ExternalApproval = serde_json::from_value(json!({
        "approval_name": "@i18n@name", "approval_code": "PURCHASE",
        "external": {"support_pc": true, "support_mobile": true,
            "action_callback_url": "https://bridge.example.com/callback"},
        "i18n_resources": [{"locale": "zh-CN", "is_default": true,
            "texts": [{"key": "@i18n@name", "value": "采购"}]}]
    }))
    .expect("definition");
    let code = seeding
        .feishu()
        .create_approval(
            &definition,
            tokio::time::Instant::now() + Duration::from_secs(5),
        )
        .await
        .expect("registered");
    let since = UnixMillis::now().as_millis();
    stream::iter(0..INSTANCES)
        .for_each_concurrent(32, |n| {
            let (seeding, code) = (&seeding, &code);
            async move {
                handle_job(parse_job(instance_job(code, n)).unwrap(), seeding, None)
                    .await
                    .expect("instance job");
                if n % 2 == 0 {
                    handle_job(parse_job(approval(n)).unwrap(), seeding, None)
                        .await
                        .expect("decision job");
                }
            }
        })
        .await;
    let until = UnixMillis::now().as_millis() + 1;
    counted.take();

    // Item sizes and read units of one load, over the seeded instances.
    let (mut bytes, mut units, mut largest) = (0, 0, 0);
    for n in 0..INSTANCES {
        let records = shared.load(&format!("PR-{n:05}")).await.expect("records");
        let (partition, read_units) = load_read_units(&records);
        bytes += partition;
        units += read_units;
        largest = largest.max(partition);
    }
    println!("# reconcile, {INSTANCES} instances changed in the window");
    println!(
        "records per instance: mean {} bytes, largest {largest} bytes; one load = {:.2} read units on average ({units} for all)",
        bytes / INSTANCES,
        units as f64 / INSTANCES as f64
    );

    sim.handle()
        .inject_fault(FaultCommand::Random(RandomFaults {
            path: None,
            probability: 1.0,
            seed: 1,
            kinds: vec![FaultKind::Slow],
            reset_secs: 1,
            delay_ms: FEISHU_LATENCY_MS,
        }));
    let measured = service(&sim.base_url(), counted.clone(), Pacing::default());
    let job = json!({"type": "reconcile", "since": since.to_string(), "until": until.to_string()});

    let (wall, result) = reconcile(&measured, job.clone()).await;
    let summary = result.expect("in sync");
    report("all in sync", wall, &counted, calls_by_api(&summary));

    for n in (0..INSTANCES).step_by(10) {
        sim.handle().forget_instance(&format!("PR-{n:05}"));
    }
    let (wall, result) = reconcile(&measured, job.clone()).await;
    let summary = result.expect("10 % lost");
    if let SyncSummary::Reconcile(summary) = &summary {
        println!("\nrepushed: {}", summary.repushed.len());
    }
    report(
        "10 % lost by Feishu",
        wall,
        &counted,
        calls_by_api(&summary),
    );

    for n in 0..INSTANCES {
        sim.handle().forget_instance(&format!("PR-{n:05}"));
    }
    let mut job = job;
    let mut runs = 0;
    let mut total = Duration::ZERO;
    loop {
        runs += 1;
        let checks_before = sim.handle().requests_to(CHECK_PATH).len();
        let pushes_before = sim.handle().requests_to(PUSH_PATH).len();
        let (wall, result) = reconcile(&measured, job.clone()).await;
        total += wall;
        let checks = sim.handle().requests_to(CHECK_PATH).len() - checks_before;
        let pushes = sim.handle().requests_to(PUSH_PATH).len() - pushes_before;
        let feishu = BTreeMap::from([
            ("external_instances/check", checks),
            ("external_instances", pushes),
        ]);
        match result {
            Ok(_) => {
                report(
                    &format!("all lost, run {runs} (done)"),
                    wall,
                    &counted,
                    feishu,
                );
                break;
            }
            Err(SyncError::ReconcileIncomplete { detail, .. }) => {
                report(
                    &format!("all lost, run {runs} (cut by its deadline)"),
                    wall,
                    &counted,
                    feishu,
                );
                let resume = detail
                    .split_once("resume with ")
                    .and_then(|(_, job)| serde_json::from_str::<Value>(job).ok())
                    .expect("a job to resume with");
                println!("resumes with: {resume}");
                job = resume;
            }
            Err(other) => panic!("reconcile failed: {other}"),
        }
    }
    println!(
        "\nall lost: {runs} runs, {:.2} s in all",
        total.as_secs_f64()
    );
    let lost = (0..INSTANCES)
        .filter(|n| sim.handle().instance(&format!("PR-{n:05}")).is_none())
        .count();
    assert_eq!(lost, 0, "every instance is back in Feishu");
}
