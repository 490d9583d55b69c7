//! `approvalctl inspect` end to end: records in a DynamoDB table (moto, written with the sync
//! function's adapter), Feishu played by the in-process simulator.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::lifecycle::InstanceStatusPolicy;
use feishu_bridge::models::instance::{ExternalInstance, InstanceStatus};
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::models::{ActionType, ExternalApproval};
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::dynamodb::{DynamoDbStore, create_table};
use feishu_bridge::store::{
    AcceptedDecision, Base, CardRecord, Commit, Delivery, Head, InstanceStore, Lease, Verdict,
};
use feishu_sim::{RunningSimulator, SimConfig, Simulator};
use serde_json::{Value, json};
use testkit::MotoServer;
use tokio::process::Command;
use tokio::time::Instant;

const APP_ID: &str = "cli_inspect_test";
const APP_SECRET: &str = "app-secret-never-printed";
const TABLE: &str = "bridge-inspect";
const START: u64 = 1_700_000_000_000;

/// moto with the table, the simulator with a definition, and a client of it.
struct Stack {
    moto: MotoServer,
    store: DynamoDbStore,
    sim: RunningSimulator,
    feishu: FeishuClient,
    code: String,
}

impl Stack {
    async fn start() -> Self {
        let moto = MotoServer::start().await;
        let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        create_table(&client, TABLE).await.expect("the table");
        let sim = Simulator::start(SimConfig {
            app_id: APP_ID.to_owned(),
            app_secret: APP_SECRET.to_owned(),
            ..SimConfig::default()
        })
        .await
        .expect("the simulator");
        let credentials = Arc::new(CredentialSource::fixed(Credentials {
            app_id: APP_ID.to_owned(),
            app_secret: Secret::new(APP_SECRET),
            callback_token: Secret::new("callback-token"),
            callback_key: None,
            previous_callback: None,
        }));
        let feishu = FeishuClient::new(ClientConfig::for_base_url(sim.base_url()), credentials)
            .expect("a client");
        let definition: ExternalApproval = serde_json::from_value(json!({
            "approval_name": "@i18n@name", "approval_code": "PURCHASE",
            "external": {"support_pc": true, "support_mobile": true,
                "action_callback_url": "https://bridge.example.com/callback"},
            "i18n_resources": [{"locale": "zh-CN", "is_default": true,
                "texts": [{"key": "@i18n@name", "value": "采购"}]}]
        }))
        .unwrap();
        let code = feishu
            .create_approval(&definition, soon())
            .await
            .expect("the definition");
        Self {
            moto,
            store: DynamoDbStore::new(client, TABLE),
            sim,
            feishu,
            code,
        }
    }

    /// Stores instance `id` as the sync function would after an instance job and an approval of
    /// `t1` from its card (a delivery still held, a card claim still held), and returns what
    /// the records derive.
    async fn seed(&self, id: &str) -> ExternalInstance {
        let now = UnixMillis::now().as_millis();
        let tasks: Vec<Value> = ["t1", "t2"]
            .iter()
            .map(|task| {
                json!({
                    "task_id": task, "user_id": format!("approver-{task}"),
                    "links": {"pc_link": "https://erp.example.com/pc"}, "status": "PENDING",
                    "create_time": START.to_string(), "end_time": "0",
                    "update_time": START.to_string()
                })
            })
            .collect();
        let instance: ExternalInstance = serde_json::from_value(json!({
            "approval_code": self.code, "status": "PENDING", "instance_id": id,
            "links": {"pc_link": "https://erp.example.com/pc"}, "user_id": "initiator",
            "start_time": START.to_string(), "end_time": "0", "update_time": START.to_string(),
            "task_list": tasks,
            "i18n_resources": [{"locale": "zh-CN", "is_default": true, "texts": []}]
        }))
        .unwrap();
        let head = |seq, push_version| Head {
            seq,
            company_version: UnixMillis::from_millis(START),
            push_version: UnixMillis::from_millis(push_version),
            pushed_seq: 0,
            push_lease: None,
            status: InstanceStatus::Pending,
            touched_at: now,
            touched_hour: now / 3_600_000,
            expires_at: None,
        };
        let first = Commit {
            instance_id: id.to_owned(),
            at_seq: 0,
            head: Some(head(1, START + 1)),
            base: Some(Base {
                position: 1,
                instance: instance.clone(),
                task_versions: BTreeMap::new(),
                expires_at: None,
            }),
            ..Commit::default()
        };
        self.store.commit(&first).await.unwrap();
        let job: DecisionJob = serde_json::from_value(json!({
            "approval_code": self.code, "instance_id": id, "task_id": "t1",
            "message_id": "7690275278685244603", "action": "APPROVE", "user_id": "approver-t1",
            "received_at": START.to_string(), "delivery_id": "request-1"
        }))
        .unwrap();
        let lease = Lease {
            owner: "execution-7".to_owned(),
            until: now + 600_000,
        };
        let second = Commit {
            instance_id: id.to_owned(),
            at_seq: 1,
            head: Some(head(2, START + 2)),
            decision: Some(AcceptedDecision {
                task_id: "t1".to_owned(),
                task_version: UnixMillis::ZERO,
                action: ActionType::Approve,
                position: 2,
                push_version: UnixMillis::from_millis(START + 2),
                decided_at: UnixMillis::from_millis(START + 100),
                user_id: "approver-t1".to_owned(),
                delivery_id: "request-1".to_owned(),
                expires_at: None,
            }),
            delivery: Some(Delivery {
                delivery_id: "request-1".to_owned(),
                job,
                task_id: Some("t1".to_owned()),
                verdict: Verdict::Accepted {
                    task_version: UnixMillis::ZERO,
                    position: Some(2),
                    instance_status: InstanceStatus::Pending,
                },
                judged_at: UnixMillis::from_millis(now),
                lease: Some(lease.clone()),
                card_done: false,
                pushed: false,
                published: false,
                expires_at: None,
            }),
            ..Commit::default()
        };
        self.store.commit(&second).await.unwrap();
        let card = CardRecord {
            card_key: "uuid-t1".to_owned(),
            task_id: "t1".to_owned(),
            task_version: UnixMillis::ZERO,
            message_id: Some(MessageId::parse("7690275278685244603").unwrap()),
            sent: true,
            status: None,
            refused: None,
            claim: Some(lease),
            expires_at: None,
        };
        self.store.put_card(id, &card).await.unwrap();
        let records = self.store.load(id).await.unwrap();
        records.derive(InstanceStatusPolicy::Derive).unwrap()
    }

    async fn push(&self, instance: &ExternalInstance) {
        self.feishu.sync_instance(instance, soon()).await.unwrap();
    }

    async fn inspect(&self, args: &[&str]) -> (i32, String, String) {
        let mut env: Vec<(&str, String)> = testkit::aws_env(&self.moto.endpoint_url());
        env.extend([
            ("FEISHU_BASE_URL", self.sim.base_url()),
            ("FEISHU_APP_ID", APP_ID.to_owned()),
            ("FEISHU_APP_SECRET", APP_SECRET.to_owned()),
            ("FEISHU_CALLBACK_TOKEN", "callback-token".to_owned()),
            ("TABLE_NAME", TABLE.to_owned()),
        ]);
        let output = Command::new(env!("CARGO_BIN_EXE_approvalctl"))
            .arg("inspect")
            .args(args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("approvalctl runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !stdout.contains(APP_SECRET) && !stderr.contains(APP_SECRET),
            "the app secret was printed"
        );
        (output.status.code().unwrap_or(-1), stdout, stderr)
    }

    async fn inspect_json(&self, id: &str) -> (i32, Value) {
        let (code, stdout, stderr) = self.inspect(&[id, "--json"]).await;
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|_| panic!("not JSON: {stdout}\nstderr: {stderr}"));
        (code, report)
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test]
async fn an_instance_feishu_holds_as_derived_is_in_sync_and_its_records_are_shown() {
    let stack = Stack::start().await;
    let derived = stack.seed("PR-1").await;
    stack.push(&derived).await;

    let (code, report) = stack.inspect_json("PR-1").await;

    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["in_sync"], true);
    assert_eq!(report["differences"], json!([]));
    let store = &report["store"];
    assert_eq!(store["head"]["seq"], 2);
    assert_eq!(store["head"]["push_version"], (START + 2).to_string());
    assert_eq!(store["company_instance"]["tasks"][0]["status"], "PENDING");
    assert_eq!(store["derived"]["tasks"][0]["status"], "APPROVED");
    assert_eq!(store["derived"]["update_time"], (START + 2).to_string());
    assert_eq!(store["decisions"][0]["action"], "APPROVE");
    assert_eq!(store["decisions"][0]["delivery_id"], "request-1");
    assert_eq!(store["cards"][0]["message_id"], "7690275278685244603");
    assert_eq!(store["deliveries"][0]["finished"], false);
    let claims: Vec<(&str, &str)> = store["open_claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|claim| {
            (
                claim["kind"].as_str().unwrap(),
                claim["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(claims, [("delivery", "request-1"), ("card", "uuid-t1")]);
    assert_eq!(report["feishu"]["known"], true);
    assert_eq!(report["feishu"]["update_time"], (START + 2).to_string());

    let (code, text, _) = stack.inspect(&["PR-1"]).await;
    assert_eq!(code, 0);
    for line in [
        "head: seq 2, pushed 0 (latest push not confirmed)",
        "task t1: APPROVED",
        "APPROVE on task t1 (version 0) at position 2, by approver-t1",
        "7690275278685244603 for task t1: sent, pending",
        "delivery request-1 held by execution-7",
        "Feishu (external_instances/check): in sync",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_lost_or_older_instance_is_out_of_sync_with_the_difference_named() {
    let stack = Stack::start().await;
    let derived = stack.seed("PR-2").await;
    stack.push(&derived).await;
    stack.sim.handle().forget_instance("PR-2").unwrap();

    let (code, report) = stack.inspect_json("PR-2").await;
    assert_eq!(code, 1);
    assert_eq!(report["in_sync"], false);
    assert_eq!(report["feishu"]["known"], false);
    assert_eq!(report["differences"][0]["what"], "instance");
    let meaning = report["differences"][0]["meaning"].as_str().unwrap();
    assert!(meaning.contains("does not know"), "{meaning}");

    // Feishu holds the version before the decision: the instance and task t1 are older.
    let mut before = derived.clone();
    before.update_time = UnixMillis::from_millis(START + 1);
    let company: ExternalInstance = stack
        .store
        .load("PR-2")
        .await
        .unwrap()
        .base
        .unwrap()
        .instance;
    before.task_list = company.task_list;
    stack.push(&before).await;
    let (code, text, stderr) = stack.inspect(&["PR-2"]).await;
    assert_eq!(code, 1);
    assert!(text.contains("OUT OF SYNC"), "{text}");
    assert!(
        text.contains(&format!(
            "instance (bridge {}, Feishu {}): Feishu holds an older version",
            START + 2,
            START + 1
        )),
        "{text}"
    );
    assert!(stderr.contains("out of sync with Feishu"), "{stderr}");
}

#[tokio::test]
async fn an_instance_the_table_does_not_hold_is_an_error() {
    let stack = Stack::start().await;
    let (code, stdout, stderr) = stack.inspect(&["PR-404"]).await;
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("holds no records of instance PR-404"),
        "{stderr}"
    );
}
