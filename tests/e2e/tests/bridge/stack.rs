//! [`Bridge`]: the whole bridge on local ports for one test.
//!
//! - the real `approval-callback` and `approval-sync` binaries under `cargo lambda watch`
//!   ([`testkit::LambdaWatch`]), sharing one environment;
//! - the Feishu simulator in-process ([`feishu_sim`]), as `FEISHU_BASE_URL`;
//! - `lambda-async` in-process in front of watch, as the callback's `AWS_ENDPOINT_URL_LAMBDA`:
//!   Lambda's asynchronous invoke of the sync function, with retries and the on-failure queue;
//! - moto (one server for the whole test process) for the sync function's DynamoDB table, its
//!   EventBridge bus — with a rule routing `source: feishu-approval-bridge` to an SQS queue the
//!   test reads decision events from — and the SQS on-failure queue, which `lambda-async` writes
//!   to as a session of the bridge's own sync role (so the records' `SenderId` is the role's, as
//!   with Lambda's on-failure destination).

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_sqs::types::QueueAttributeName;
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::store::dynamodb::{DynamoDbStore, create_table};
use feishu_bridge::store::{InstanceRecords, InstanceStore};
use feishu_bridge::tap_context::TapContext;
use feishu_sim::{MessageRecord, RunningSimulator, SimConfig, Simulator, Tap};
use lambda_async::{AsyncConfig, FailureDestination, InvocationRecord, LambdaAsync};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use testkit::{LambdaWatch, MotoServer, WatchConfig};
use tokio::sync::OnceCell;

/// The callback function's binary (and function name under watch).
pub const CALLBACK_FUNCTION: &str = "approval-callback";
/// The sync function's binary (and function name under watch).
pub const SYNC_FUNCTION: &str = "approval-sync";
/// The setup CLI (its binary).
const APPROVALCTL: &str = "approvalctl";
/// The `source` of the sync function's EventBridge events.
const EVENT_SOURCE: &str = "feishu-approval-bridge";
/// How often [`eventually`] checks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The moto server shared by every test of this process (each test makes its own resources).
static MOTO: OnceCell<MotoServer> = OnceCell::const_new();
/// Numbers the resources of the bridges of this process.
static NEXT_BRIDGE: AtomicU32 = AtomicU32::new(1);

/// How a [`Bridge`] runs.
#[derive(Debug, Clone, Copy)]
pub struct BridgeOptions {
    /// Instances per function under watch, and events `lambda-async` runs at once.
    pub concurrency: usize,
    /// The wait before the first retry of a failed sync job (the n-th waits n times as long).
    pub retry_delay: Duration,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// The bridge and its surroundings, stopped when dropped.
pub struct Bridge {
    /// The Feishu simulator.
    pub sim: RunningSimulator,
    /// The asynchronous-invoke emulator in front of watch.
    pub lambda_async: LambdaAsync,
    /// Watch, serving both functions.
    pub watch: LambdaWatch,
    /// The callback key and token configured for the functions.
    pub cipher: CallbackCipher,
    callback_token: String,
    callback_key: String,
    app_env: Vec<(String, String)>,
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    store: DynamoDbStore,
    events_queue_url: String,
    failures_queue_url: String,
    /// The unique id of the role `lambda-async` writes failure records with.
    sync_role_id: String,
    events: Mutex<Vec<Value>>,
    http: reqwest::Client,
}

impl Bridge {
    /// Starts everything (moto once per process) and waits until it answers.
    pub async fn start(options: BridgeOptions) -> Self {
        // One build for everything the tests run (watch finds its functions fresh).
        tokio::task::spawn_blocking(|| {
            testkit::build_binaries(&[CALLBACK_FUNCTION, SYNC_FUNCTION, APPROVALCTL]);
        })
        .await
        .expect("the binaries build");
        let moto = MOTO.get_or_init(MotoServer::start).await;
        let sdk_config = moto.sdk_config().await;
        let suffix = format!(
            "{}-{}",
            std::process::id(),
            NEXT_BRIDGE.fetch_add(1, Ordering::Relaxed)
        );
        let sqs = aws_sdk_sqs::Client::new(&sdk_config);
        let events_queue_url = create_queue(&sqs, &format!("decision-events-{suffix}")).await;
        let failures_queue_url = create_queue(&sqs, &format!("sync-failures-{suffix}")).await;
        let table_name = format!("instances-{suffix}");
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config);
        create_table(&dynamodb, &table_name)
            .await
            .expect("moto creates the table");
        let store = DynamoDbStore::new(dynamodb, &table_name);
        let bus_name = format!("approvals-{suffix}");
        let events_queue_arn = queue_arn(&sqs, &events_queue_url).await;
        route_bridge_events(
            &aws_sdk_eventbridge::Client::new(&sdk_config),
            &bus_name,
            &events_queue_arn,
        )
        .await;

        let sim_config = SimConfig::default();
        let app_env = vec![
            ("FEISHU_APP_ID".to_owned(), sim_config.app_id.clone()),
            (
                "FEISHU_APP_SECRET".to_owned(),
                sim_config.app_secret.clone(),
            ),
        ];
        let sim = Simulator::start(sim_config)
            .await
            .expect("the Feishu simulator starts");
        let callback_token = random_text(24);
        let callback_key = random_text(32);

        // Lambda sends a failed job's record with the function's execution role.
        let sync_role = moto
            .role_session(&format!("sync-role-{suffix}"), SYNC_FUNCTION)
            .await;
        let destination = aws_sdk_sqs::Client::new(&moto.sdk_config_as(&sync_role).await);

        let watch_port = testkit::free_port();
        let watch_url = format!("http://127.0.0.1:{watch_port}");
        let lambda_async = LambdaAsync::start(
            AsyncConfig {
                functions: vec![SYNC_FUNCTION.to_owned()],
                retry_delay: options.retry_delay,
                max_concurrency: options.concurrency,
                ..AsyncConfig::new(&watch_url)
            },
            FailureDestination::sqs(destination, &failures_queue_url),
        )
        .await
        .expect("lambda-async starts");

        let mut env: Vec<(String, String)> = testkit::aws_env(&moto.endpoint_url())
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        env.extend(app_env.iter().cloned());
        env.extend([
            ("FEISHU_CALLBACK_TOKEN".to_owned(), callback_token.clone()),
            ("FEISHU_CALLBACK_KEY".to_owned(), callback_key.clone()),
            ("FEISHU_BASE_URL".to_owned(), sim.base_url()),
            ("SYNC_FUNCTION_NAME".to_owned(), SYNC_FUNCTION.to_owned()),
            (
                "AWS_ENDPOINT_URL_LAMBDA".to_owned(),
                lambda_async.endpoint_url(),
            ),
            ("TABLE_NAME".to_owned(), table_name),
            ("EVENT_BUS_NAME".to_owned(), bus_name),
            (
                "CALLBACK_URL".to_owned(),
                format!("{watch_url}/lambda-url/{CALLBACK_FUNCTION}/"),
            ),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ]);
        let watch = LambdaWatch::start(WatchConfig {
            port: watch_port,
            functions: vec![CALLBACK_FUNCTION.to_owned(), SYNC_FUNCTION.to_owned()],
            env,
            concurrency: options.concurrency,
        })
        .await;

        let lambda_config = testkit::aws_sdk_config(&lambda_async.endpoint_url()).await;
        Self {
            sim,
            lambda_async,
            watch,
            cipher: CallbackCipher::new(&callback_key),
            callback_token,
            callback_key,
            app_env,
            lambda: aws_sdk_lambda::Client::new(&lambda_config),
            sqs,
            store,
            events_queue_url,
            failures_queue_url,
            sync_role_id: sync_role.unique_id,
            events: Mutex::new(Vec::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The callback function's public URL (what Feishu posts to).
    pub fn callback_url(&self) -> String {
        self.watch.function_url(CALLBACK_FUNCTION)
    }

    /// The callback token the functions check.
    pub fn callback_token(&self) -> &str {
        &self.callback_token
    }

    /// Registers the approval definition with `approvalctl register` and returns the approval
    /// code Feishu (the simulator) assigned.
    pub async fn register(&self, custom_code: &str) -> String {
        let output = tokio::process::Command::new(testkit::binary_path(APPROVALCTL))
            .args(["register", "--json", "--viewer-tenant", "--approval-code"])
            .arg(custom_code)
            .args(["--name", "采购申请", "--callback-url"])
            .arg(self.callback_url())
            .envs(self.app_env.iter().map(|(key, value)| (key, value)))
            .env("FEISHU_CALLBACK_TOKEN", &self.callback_token)
            .env("FEISHU_CALLBACK_KEY", &self.callback_key)
            .env("FEISHU_BASE_URL", self.sim.base_url())
            .env_remove("FEISHU_SECRET_ID")
            .env_remove("FEISHU_APP_SECRET_ID")
            .env_remove("FEISHU_CALLBACK_SECRET_ID")
            .output()
            .await
            .expect("approvalctl runs");
        assert!(
            output.status.success(),
            "approvalctl register failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let registered: Value =
            serde_json::from_slice(&output.stdout).expect("approvalctl prints JSON");
        assert_eq!(registered["callbacks_encrypted"], true);
        registered["approval_code"]
            .as_str()
            .expect("an approval code")
            .to_owned()
    }

    /// Runs `{"type":"instance","instance":…,"notify":…}` through the sync function (a
    /// synchronous invoke, as the company's system does) and returns the function's summary.
    pub async fn push(&self, instance: &Value, notify: bool) -> Value {
        let job = json!({"type": "instance", "instance": instance, "notify": notify});
        let (error, payload) = self.invoke(&job).await;
        assert_eq!(error, None, "the instance job failed: {payload}");
        payload
    }

    /// Invokes the sync function synchronously with `job`; returns its function error, if any,
    /// and its answer (the summary, or the error object).
    pub async fn invoke(&self, job: &Value) -> (Option<String>, Value) {
        let answer = self
            .lambda
            .invoke()
            .function_name(SYNC_FUNCTION)
            .payload(Blob::new(job.to_string()))
            .send()
            .await
            .expect("the sync function is invoked");
        let payload: Value = answer
            .payload()
            .and_then(|payload| serde_json::from_slice(payload.as_ref()).ok())
            .unwrap_or(Value::Null);
        (answer.function_error().map(str::to_owned), payload)
    }

    /// Invokes the sync function asynchronously with `job` (`InvocationType=Event`, as the
    /// callback hands decisions off): `lambda-async` queues it, retries it and parks it in the
    /// failure queue if it keeps failing.
    pub async fn invoke_async(&self, job: &Value) {
        let answer = self
            .lambda
            .invoke()
            .function_name(SYNC_FUNCTION)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(Blob::new(job.to_string()))
            .send()
            .await
            .expect("the sync function is invoked");
        assert_eq!(answer.status_code(), 202, "the event is queued");
    }

    /// What Feishu posts when `user_id` taps `action` on task `task_id` of `instance_id` in the
    /// Approval Center list: the task's ids and the `action_context` Feishu holds for it now (as
    /// the bridge last pushed it), encrypted with the definition's key.
    pub fn list_tap(
        &self,
        approval_code: &str,
        instance_id: &str,
        task_id: &str,
        action: &str,
        user_id: &str,
    ) -> String {
        let instance = self
            .sim
            .handle()
            .instance(instance_id)
            .expect("Feishu has the instance");
        let task = instance
            .tasks
            .iter()
            .find(|task| task.task_id == task_id)
            .expect("Feishu has the task");
        let mut fields = json!({
            "action_type": action,
            "user_id": user_id,
            "approval_code": approval_code,
            "instance_id": instance_id,
            "task_id": task_id,
        });
        if let Some(context) = task.task["action_context"].as_str() {
            fields["action_context"] = context.into();
        }
        self.encrypted_callback(fields, None)
    }

    /// The sync function's records of `instance_id`, as stored in DynamoDB.
    pub async fn records(&self, instance_id: &str) -> InstanceRecords {
        self.store.load(instance_id).await.expect("moto answers")
    }

    /// The (latest) bot card the bridge sent for task `task_id` of `instance_id`: the one whose
    /// card context names them.
    pub fn card(&self, instance_id: &str, task_id: &str) -> Option<MessageRecord> {
        card_of(&self.sim.handle().state().messages, instance_id, task_id)
    }

    /// What Feishu posts when the card's recipient taps `action` on the card of `task_id` of
    /// `instance_id`: the callback URL and the (encrypted) body.
    pub fn tap(&self, instance_id: &str, task_id: &str, tap: &Tap) -> (String, String) {
        let card = self
            .card(instance_id, task_id)
            .expect("the task has a card");
        let callback = self
            .sim
            .handle()
            .tap(&card.message_id, tap)
            .expect("the card has the button");
        (callback.url, callback.body)
    }

    /// `{"encrypt": …}` of `fields` plus the callback token, with `message_id` (when given) as a
    /// bare JSON number, as Feishu sends card callbacks.
    pub fn encrypted_callback(&self, mut fields: Value, message_id: Option<&str>) -> String {
        fields["token"] = Value::String(self.callback_token.clone());
        if let Some(message_id) = message_id {
            let number: u64 = message_id.parse().expect("a numeric message id");
            fields["message_id"] = Value::from(number);
        }
        json!({"encrypt": self.cipher.encrypt(&fields.to_string())}).to_string()
    }

    /// POSTs `body` to `url`; returns the status and the JSON answer (`Null` if not JSON).
    pub async fn post(&self, url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let answer = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the callback function answers");
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// GETs `url`; returns the status and the JSON answer (`Null` if not JSON).
    pub async fn get(&self, url: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .expect("the callback function answers");
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Every decision event routed to the test's queue so far (EventBridge events; the decision
    /// is in `detail`).
    pub async fn decision_events(&self) -> Vec<Value> {
        let fresh: Vec<Value> = drain_queue(&self.sqs, &self.events_queue_url)
            .await
            .iter()
            .filter_map(|body| serde_json::from_str(body).ok())
            .collect();
        let mut events = self.events.lock().unwrap();
        events.extend(fresh);
        events.clone()
    }

    /// The first event of `detail_type` routed to the test's queue, waiting up to `timeout`.
    pub async fn first_event(&self, detail_type: &str, timeout: Duration) -> Value {
        eventually(detail_type, timeout, || async {
            self.decision_events()
                .await
                .into_iter()
                .find(|event| event["detail-type"] == detail_type)
        })
        .await
    }

    /// Runs `approvalctl redrive` with `args` on the failure queue (in moto), trusting the
    /// bridge's sync role and handing jobs back to `lambda-async` (asynchronous invokes, run
    /// under watch). Returns the exit code, standard output and standard error.
    pub async fn redrive(&self, args: &[&str]) -> (i32, String, String) {
        let moto = MOTO.get().expect("moto runs while a bridge exists");
        let output = tokio::process::Command::new(testkit::binary_path(APPROVALCTL))
            .arg("redrive")
            .args([
                "--queue-url",
                &self.failures_queue_url,
                "--function",
                SYNC_FUNCTION,
                "--sync-role-id",
                &self.sync_role_id,
            ])
            .args(args)
            .env_clear()
            .envs(testkit::aws_env(&moto.endpoint_url()))
            .env("AWS_ENDPOINT_URL_LAMBDA", self.lambda_async.endpoint_url())
            .output()
            .await
            .expect("approvalctl runs");
        (
            output
                .status
                .code()
                .expect("approvalctl exited with a code"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The records of sync jobs that failed for good (the on-failure destination's content),
    /// removed from the queue.
    pub async fn failure_records(&self) -> Vec<InvocationRecord> {
        drain_queue(&self.sqs, &self.failures_queue_url)
            .await
            .iter()
            .map(|body| serde_json::from_str(body).expect("an invocation record"))
            .collect()
    }
}

/// Calls `check` until it returns `Some`, at most for `timeout`.
///
/// # Panics
/// With `what` if `timeout` passes first.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The last card among `cards` whose card context names task `task_id` of `instance_id`.
pub fn card_of(cards: &[MessageRecord], instance_id: &str, task_id: &str) -> Option<MessageRecord> {
    cards
        .iter()
        .rev()
        .find(|card| {
            card.action_callback
                .as_ref()
                .and_then(|callback| callback["action_context"].as_str())
                .and_then(TapContext::decode)
                .is_some_and(|context| {
                    context.instance_id == instance_id && context.task_id == task_id
                })
        })
        .cloned()
}

/// The `action_context` of task `task_id` of `instance_id` in [`instance_json`].
pub fn action_context(instance_id: &str, task_id: &str) -> String {
    format!("{instance_id}/{task_id}")
}

/// The approver of task `task_id` in [`instance_json`].
pub fn approver(task_id: &str) -> String {
    format!("approver-{task_id}")
}

/// A pending external instance with one pending task per id in `task_ids`, each with Approve
/// and Reject quick actions and its own approver ([`approver`]); texts behind i18n keys.
pub fn instance_json(approval_code: &str, instance_id: &str, task_ids: &[&str]) -> Value {
    let now = now_millis().to_string();
    let tasks: Vec<Value> = task_ids
        .iter()
        .map(|task_id| {
            json!({
                "task_id": task_id,
                "user_id": approver(task_id),
                "title": "@i18n@task_title",
                "links": {
                    "pc_link": format!("https://erp.example.com/pc/{instance_id}/{task_id}"),
                    "mobile_link": format!("https://erp.example.com/m/{instance_id}/{task_id}")
                },
                "status": "PENDING",
                "create_time": now,
                "end_time": "0",
                "update_time": now,
                "action_context": action_context(instance_id, task_id),
                "action_configs": [{"action_type": "APPROVE"}, {"action_type": "REJECT"}]
            })
        })
        .collect();
    json!({
        "approval_code": approval_code,
        "status": "PENDING",
        "instance_id": instance_id,
        "links": {
            "pc_link": format!("https://erp.example.com/pc/{instance_id}"),
            "mobile_link": format!("https://erp.example.com/m/{instance_id}")
        },
        "title": "@i18n@title",
        "form": [{"name": "@i18n@amount", "value": "@i18n@amount_value"}],
        "user_id": "initiator",
        "start_time": now,
        "end_time": "0",
        "update_time": now,
        "task_list": tasks,
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@title", "value": "采购申请"},
                {"key": "@i18n@task_title", "value": "部门审批"},
                {"key": "@i18n@amount", "value": "金额"},
                {"key": "@i18n@amount_value", "value": "1000 元"}
            ]
        }]
    })
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default()
}

fn random_text(length: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue URL")
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("moto answers the queue attributes")
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("a queue ARN")
}

/// A bus whose rule sends every event of the bridge to the queue `queue_arn`.
async fn route_bridge_events(
    eventbridge: &aws_sdk_eventbridge::Client,
    bus_name: &str,
    queue_arn: &str,
) {
    eventbridge
        .create_event_bus()
        .name(bus_name)
        .send()
        .await
        .expect("moto creates the bus");
    eventbridge
        .put_rule()
        .name("bridge-decisions")
        .event_bus_name(bus_name)
        .event_pattern(json!({"source": [EVENT_SOURCE]}).to_string())
        .send()
        .await
        .expect("moto creates the rule");
    eventbridge
        .put_targets()
        .rule("bridge-decisions")
        .event_bus_name(bus_name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("decision-queue")
                .arn(queue_arn)
                .build()
                .expect("a target"),
        )
        .send()
        .await
        .expect("moto adds the target");
}

/// Receives and deletes every message in the queue now; returns their bodies.
async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("moto answers")
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("moto deletes the message");
            }
            bodies.extend(message.body);
        }
    }
}

// ---------------------------------------------------------------- reconcile and the contract

impl Bridge {
    /// The environment that points an AWS SDK's Lambda client (in any language) at watch's
    /// Invoke API, with fake credentials, and names the sync function.
    pub fn lambda_client_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_LAMBDA", self.watch.endpoint_url()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("SYNC_FUNCTION_NAME", SYNC_FUNCTION.to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }
}

/// Unix ms now, for reconcile windows.
pub fn now_ms() -> u64 {
    u64::try_from(now_millis()).unwrap_or(u64::MAX)
}
