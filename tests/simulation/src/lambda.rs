//! Lambda as the simulation runs it: asynchronous events delivered at least once (sometimes
//! twice, possibly at the same time), each delivery invoked in a container (warm and reused, or
//! cold), retried twice after a failure or a death (one and two minutes later, long after any
//! lease of the dead invocation ran out), then parked in the failure queue with its reason.
//! Errors the sync function calls non-retryable are parked at once.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use approval_sync::{SyncService, SyncSettings, SyncSummary, handle_job, parse_job};
use feishu_bridge::callback::{ApprovalDecision, RawCallback};
use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::clock::{Clock, TokioClock};
use feishu_bridge::job::{DecisionJob, SyncJob};
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::tap_context::TapContext;
use feishu_sim::{SimHandle, Tap, TapOutcome};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events::SimPublisher;
use crate::exec::{ExecRef, Execution};
use crate::feishu::{BASE_URL, SimExchange};
use crate::store::SimStore;
use crate::workload::{Action, GHOST_INSTANCE, TapPlan, Workload, instance_json};
use crate::world::World;

/// The function's timeout (`template.yaml`): Lambda ends an invocation then.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of one delivery: the first and Lambda's two retries.
const ATTEMPTS: u32 = 3;
/// The callback URL the bridge puts into bot cards.
const CALLBACK_URL: &str = "https://bridge.example.com/feishu/approval/callback";
/// The callback token the bridge's pair is made of (no key): cards carry it, and the decision
/// jobs are proven under it as the callback function proves them.
const CALLBACK_TOKEN: &str = "callback-token";

/// The container a delivery runs in: one sync service, reused while it lives.
pub struct Container {
    tag: String,
    service: SyncService<SimStore, SimPublisher>,
}

/// What a job is, as the oracle needs to know it.
#[derive(Debug, Clone)]
pub enum JobKind {
    /// Version `version` of company instance `instance`.
    Instance {
        /// Index of the instance plan.
        instance: usize,
        /// Index of its version.
        version: usize,
    },
    /// An approver's tap.
    Decision {
        /// The tap.
        tap: TapPlan,
        /// The user who tapped.
        user_id: String,
        /// The delivery id (the callback's request id).
        delivery_id: String,
        /// The card tapped, when the tap was on a card.
        card: Option<String>,
        /// The task version the tap was made on, as its `action_context` says (the bridge's
        /// context on the card or the task Feishu showed); `None` when it says none.
        version: Option<u64>,
    },
    /// A card status change.
    Message {
        /// The card.
        message_id: String,
        /// Its new status.
        status: &'static str,
    },
}

/// How one delivery of a job ended.
#[derive(Debug, Clone)]
pub enum End {
    /// An invocation returned this summary.
    Done(Box<SyncSummary>),
    /// It is in the failure queue, with the last error.
    Parked(String),
}

/// How one invocation ended.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// It returned a summary.
    Succeeded,
    /// It failed with this Lambda error type and message.
    Failed {
        /// The error type.
        error_type: &'static str,
        /// The message.
        message: String,
        /// Whether the sync function says a retry may help.
        retryable: bool,
    },
    /// The Lambda died at an await.
    Crashed,
    /// Lambda ended it at the function timeout.
    TimedOut,
    /// It panicked.
    Panicked(String),
}

/// One delivery of a job: its attempts and how it ended.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Every invocation, in order.
    pub attempts: Vec<Attempt>,
    /// How it ended (`None` while it runs).
    pub end: Option<End>,
    /// When it ended (virtual time since the start).
    pub ended_at: Option<Duration>,
}

/// A job submitted to the sync function.
#[derive(Debug, Clone)]
pub struct Job {
    /// What it is.
    pub kind: JobKind,
    /// The invocation payload.
    pub payload: Value,
    /// When it was submitted.
    pub submitted_at: Duration,
    /// Its deliveries.
    pub deliveries: Vec<Delivery>,
}

impl Job {
    /// The instance id the job is about, when known.
    pub fn instance_id(&self, workload: &Workload) -> Option<String> {
        match &self.kind {
            JobKind::Instance { instance, .. } => Some(workload.instances[*instance].id.clone()),
            JobKind::Decision { tap, .. } => Some(tap.instance.map_or_else(
                || GHOST_INSTANCE.to_owned(),
                |index| workload.instances[index].id.clone(),
            )),
            JobKind::Message { .. } => None,
        }
    }

    /// Whether every delivery ended in the failure queue.
    pub fn parked(&self) -> bool {
        self.deliveries
            .iter()
            .all(|delivery| matches!(delivery.end, Some(End::Parked(_))))
    }
}

/// The deployed bridge: Feishu, the store, the bus, the containers and the jobs.
pub struct Bridge {
    /// The world.
    pub world: Arc<World>,
    /// Feishu.
    pub sim: SimHandle,
    /// The instance store.
    pub store: SimStore,
    publisher: SimPublisher,
    credentials: Arc<CredentialSource>,
    settings: SyncSettings,
    /// Feishu's code of the approval definition.
    pub approval_code: String,
    clock: TokioClock,
    idle: Mutex<Vec<Arc<Container>>>,
    containers_started: Mutex<u64>,
    jobs: Mutex<Vec<Job>>,
    in_flight: Mutex<BTreeMap<String, u32>>,
    /// The workload.
    pub workload: Workload,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A container's wall clock: the shared virtual clock with the container's own small skew; its
/// reads can be traced.
struct ContainerClock {
    base: TokioClock,
    skew_ms: i64,
    world: Arc<World>,
}

impl fmt::Debug for ContainerClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerClock")
            .field("skew_ms", &self.skew_ms)
            .finish_non_exhaustive()
    }
}

impl Clock for ContainerClock {
    fn now(&self) -> UnixMillis {
        let base = self.base.now().as_millis();
        let now = UnixMillis::from_millis(base.saturating_add_signed(self.skew_ms));
        if self.world.tracing_clock() {
            self.world.trace(|| format!("clock → {now}"));
        }
        now
    }
}

impl Bridge {
    /// A bridge over Feishu `sim`, whose definition code is `approval_code`.
    pub fn new(
        world: Arc<World>,
        sim: SimHandle,
        approval_code: String,
        clock: TokioClock,
        workload: Workload,
    ) -> Arc<Self> {
        let credentials = Arc::new(CredentialSource::fixed(Credentials {
            app_id: feishu_sim::DEFAULT_APP_ID.to_owned(),
            app_secret: Secret::new(feishu_sim::DEFAULT_APP_SECRET),
            callback_token: Secret::new(CALLBACK_TOKEN),
            callback_key: None,
            previous_callback: None,
        }));
        let settings = SyncSettings {
            instance_status_policy: world.knobs.policy,
            callback_url: Some(CALLBACK_URL.to_owned()),
            feishu_calls: world.knobs.feishu_calls,
            ..SyncSettings::default()
        };
        Arc::new(Self {
            store: SimStore::new(Arc::clone(&world)),
            publisher: SimPublisher::new(Arc::clone(&world)),
            world,
            sim,
            credentials,
            settings,
            approval_code,
            clock,
            idle: Mutex::new(Vec::new()),
            containers_started: Mutex::new(0),
            jobs: Mutex::new(Vec::new()),
            in_flight: Mutex::new(BTreeMap::new()),
            workload,
        })
    }

    /// The jobs so far.
    pub fn jobs(&self) -> Vec<Job> {
        lock(&self.jobs).clone()
    }

    /// The bridge's settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// A warm container if one is idle (usually), else a cold one.
    fn acquire(&self) -> Arc<Container> {
        let world = &self.world;
        {
            let mut idle = lock(&self.idle);
            if !idle.is_empty() && world.chance(0.85) {
                let index = world.below(0, idle.len() as u64) as usize;
                return idle.swap_remove(index);
            }
        }
        let number = {
            let mut started = lock(&self.containers_started);
            *started += 1;
            *started
        };
        world.count("cold container");
        let tag = format!("c{number}");
        let clock = Arc::new(ContainerClock {
            base: self.clock,
            skew_ms: world.below(0, 50) as i64 - 25,
            world: Arc::clone(world),
        });
        let exchange = Arc::new(SimExchange::new(self.sim.clone(), Arc::clone(world)));
        let feishu = FeishuClient::builder(
            ClientConfig::for_base_url(BASE_URL),
            Arc::clone(&self.credentials),
        )
        .exchange(exchange)
        .jitter_seed(world.sub_seed())
        .build()
        .unwrap_or_else(|error| panic!("the simulated Feishu client: {error}"));
        let service = SyncService::new(
            feishu,
            Arc::clone(&self.credentials),
            self.store.clone(),
            self.publisher.clone(),
            clock,
            self.settings.clone(),
        )
        .with_execution_tag(tag.clone());
        Arc::new(Container { tag, service })
    }

    /// Turns a step into a job (`None`: nothing to do, e.g. a message job with no card yet).
    fn resolve(&self, job_id: usize, action: &Action) -> Option<(JobKind, Value)> {
        match action {
            Action::Instance {
                instance,
                version,
                notify,
            } => {
                let plan = &self.workload.instances[*instance];
                let spec = &plan.versions[*version];
                let payload = json!({
                    "type": "instance",
                    "instance": instance_json(&plan.id, spec, &self.approval_code),
                    "notify": notify,
                    "reopen": spec.reopen,
                });
                let kind = JobKind::Instance {
                    instance: *instance,
                    version: *version,
                };
                Some((kind, payload))
            }
            Action::Tap(tap) => self.tap(job_id, tap),
            Action::Message { pick, status } => {
                let cards = self.sim.cards();
                if cards.is_empty() {
                    return None;
                }
                let card = &cards[(*pick % cards.len() as u64) as usize];
                let payload = json!({
                    "type": "message", "message_id": card.message_id, "status": status
                });
                let kind = JobKind::Message {
                    message_id: card.message_id.clone(),
                    status,
                };
                Some((kind, payload))
            }
        }
    }

    /// An approver's tap: on the task's live card when asked and there is one, else in the list.
    /// Approvers only see instances Feishu has: before the first push there is nothing to tap
    /// (except on the instance the bridge never sees, which stands for one synced by other means).
    fn tap(&self, job_id: usize, tap: &TapPlan) -> Option<(JobKind, Value)> {
        let instance_id = tap.instance.map_or_else(
            || GHOST_INSTANCE.to_owned(),
            |index| self.workload.instances[index].id.clone(),
        );
        if tap.instance.is_some() && self.sim.instance(&instance_id).is_none() {
            return None;
        }
        let user_id = if tap.wrong_user {
            "u-intruder".to_owned()
        } else {
            format!("u-{}-{}", tap.instance.unwrap_or(99), tap.task)
        };
        let delivery_id = format!("req-{job_id}");
        let from_card = if tap.via_card {
            self.tap_card(&instance_id, tap, &user_id)
        } else {
            None
        };
        let (decision, card) = match from_card {
            Some((decision, card)) => (decision, Some(card)),
            None => {
                // The list shows the task as Feishu holds it: its `action_context` comes back.
                let mut decision = json!({
                    "approval_code": self.approval_code,
                    "instance_id": instance_id,
                    "task_id": tap.task,
                    "action": tap.action,
                    "user_id": user_id,
                });
                if let Some(context) = self.listed_context(&instance_id, &tap.task) {
                    decision["action_context"] = context.into();
                }
                let decision = serde_json::from_value(decision)
                    .unwrap_or_else(|error| panic!("a list decision: {error}"));
                (decision, None)
            }
        };
        let version =
            TapContext::tapped_version(decision.action_context.as_deref(), &instance_id, &tap.task)
                .map(|version| version.as_millis());
        // Proven as the callback function proves what it hands off.
        let job = SyncJob::Decision(testkit::sign_decision(
            DecisionJob {
                decision,
                received_at: self.clock.now(),
                delivery_id: Some(delivery_id.clone()),
                proof: None,
            },
            CALLBACK_TOKEN,
            None,
        ));
        let payload = serde_json::to_value(&job).unwrap_or(Value::Null);
        let kind = JobKind::Decision {
            tap: tap.clone(),
            user_id,
            delivery_id,
            card,
            version,
        };
        Some((kind, payload))
    }

    /// The `action_context` Feishu holds for task `task_id` of `instance_id` (the bridge's,
    /// naming the version it pushed), as an Approval Center tap sends it back.
    fn listed_context(&self, instance_id: &str, task_id: &str) -> Option<String> {
        let instance = self.sim.instance(instance_id)?;
        let task = instance.tasks.iter().find(|task| task.task_id == task_id)?;
        task.task["action_context"].as_str().map(str::to_owned)
    }

    /// Taps the newest live card of the task; the decision the callback carries, and the card.
    fn tap_card(
        &self,
        instance_id: &str,
        tap: &TapPlan,
        user_id: &str,
    ) -> Option<(ApprovalDecision, String)> {
        let card = self.sim.cards().into_iter().rev().find(|card| {
            card.buttons_live()
                && card_context(card).is_some_and(|context| {
                    context.instance_id == instance_id && context.task_id == tap.task
                })
        })?;
        let request = Tap::new(tap.action, &self.approval_code).by(user_id);
        let callback = self.sim.tap(&card.message_id, &request).ok()?;
        // The callback function answers 200 once Lambda accepted the job.
        self.sim
            .settle_tap(&card.message_id, callback.tap, TapOutcome::Succeeded)
            .ok()?;
        let decision = RawCallback::parse(&callback.plaintext)
            .ok()?
            .into_decision()
            .ok()?;
        Some((decision, card.message_id))
    }

    /// Submits a job: Lambda delivers it once, or twice.
    fn submit(self: &Arc<Self>, action: &Action, chains: &mut JoinSet<()>) {
        let job_id = lock(&self.jobs).len();
        let Some((kind, payload)) = self.resolve(job_id, action) else {
            return;
        };
        let deliveries = if self.world.chance(self.world.knobs.duplicate_delivery) {
            self.world.count("event delivered twice");
            2
        } else {
            1
        };
        self.world
            .trace(|| format!("submit #{job_id}: {}", describe_job(&kind, &payload)));
        lock(&self.jobs).push(Job {
            kind,
            payload,
            submitted_at: self.world.elapsed(),
            deliveries: vec![Delivery::default(); deliveries],
        });
        for delivery in 1..=deliveries as u32 {
            chains.spawn(Arc::clone(self).deliver(job_id, delivery));
        }
    }

    /// One delivery of a job, with Lambda's retries.
    async fn deliver(self: Arc<Self>, job: usize, delivery: u32) {
        let world = Arc::clone(&self.world);
        let queued = if delivery == 1 {
            world.millis(5, 300)
        } else {
            world.millis(0, 5_000)
        };
        tokio::time::sleep(queued).await;
        let (payload, instance_id) = {
            let jobs = lock(&self.jobs);
            (
                jobs[job].payload.clone(),
                jobs[job].instance_id(&self.workload),
            )
        };
        for attempt in 1..=ATTEMPTS {
            let at = ExecRef {
                job,
                delivery,
                attempt,
            };
            if attempt > 1 {
                world.count("lambda retry");
            }
            let container = self.acquire();
            let overlapping = self.enter(instance_id.as_deref());
            if overlapping {
                world.count("invocation overlapping another on its instance");
            }
            let (invocation, end) = self.invoke(at, &container, payload.clone()).await;
            self.leave(instance_id.as_deref());
            let healthy = matches!(invocation, Attempt::Succeeded | Attempt::Failed { .. });
            if healthy {
                lock(&self.idle).push(container);
            }
            let parked = match &invocation {
                Attempt::Succeeded => None,
                Attempt::Failed {
                    error_type,
                    message,
                    retryable: false,
                } => Some(format!("{error_type}: {message}")),
                Attempt::Panicked(message) => Some(format!("panicked: {message}")),
                Attempt::Failed {
                    error_type,
                    message,
                    ..
                } if attempt == ATTEMPTS => Some(format!("{error_type}: {message}")),
                Attempt::Crashed if attempt == ATTEMPTS => Some("the Lambda died".to_owned()),
                Attempt::TimedOut if attempt == ATTEMPTS => Some("timed out".to_owned()),
                _ => None,
            };
            let done = matches!(invocation, Attempt::Succeeded);
            {
                let mut jobs = lock(&self.jobs);
                let record = &mut jobs[job].deliveries[delivery as usize - 1];
                record.attempts.push(invocation);
                if let Some(end) = end {
                    record.end = Some(End::Done(Box::new(end)));
                    record.ended_at = Some(world.elapsed());
                } else if let Some(reason) = &parked {
                    record.end = Some(End::Parked(reason.clone()));
                    record.ended_at = Some(world.elapsed());
                }
            }
            if done {
                return;
            }
            if let Some(reason) = parked {
                world.count("parked in the failure queue");
                world.trace(|| format!("#{job}.{delivery} parked: {reason}"));
                return;
            }
            let wait = Duration::from_secs(60 * u64::from(attempt)) + world.millis(0, 5_000);
            tokio::time::sleep(wait).await;
        }
    }

    /// Notes an invocation on `instance_id` starting; whether another is running on it.
    fn enter(&self, instance_id: Option<&str>) -> bool {
        let Some(instance_id) = instance_id else {
            return false;
        };
        let mut in_flight = lock(&self.in_flight);
        let running = in_flight.entry(instance_id.to_owned()).or_default();
        *running += 1;
        *running > 1
    }

    fn leave(&self, instance_id: Option<&str>) {
        if let Some(instance_id) = instance_id
            && let Some(running) = lock(&self.in_flight).get_mut(instance_id)
        {
            *running = running.saturating_sub(1);
        }
    }

    /// One invocation: the job runs as execution `at` in `container` until it returns, dies at
    /// an await, or reaches the function timeout.
    async fn invoke(
        &self,
        at: ExecRef,
        container: &Arc<Container>,
        payload: Value,
    ) -> (Attempt, Option<SyncSummary>) {
        let (execution, mut crashed) = Execution::start(at, container.tag.clone());
        let deadline = Instant::now() + FUNCTION_TIMEOUT;
        let container = Arc::clone(container);
        let run = Arc::clone(&execution).scope(async move {
            let job = async {
                let job = parse_job(payload)?;
                handle_job(job, &container.service, Some(deadline)).await
            };
            tokio::select! {
                biased;
                Ok(()) = &mut crashed => None,
                result = tokio::time::timeout_at(deadline, job) => Some(result),
            }
        });
        let world = &self.world;
        world.trace(|| format!("invoke {}", execution.label()));
        match tokio::spawn(run).await {
            Ok(Some(Ok(Ok(summary)))) => {
                world.trace(|| format!("{} → {}", execution.label(), describe_summary(&summary)));
                (Attempt::Succeeded, Some(summary))
            }
            Ok(Some(Ok(Err(error)))) => {
                world.count(format!("job error: {}", error.error_type()));
                world.trace(|| {
                    format!(
                        "{} → error {}: {error}",
                        execution.label(),
                        error.error_type()
                    )
                });
                let attempt = Attempt::Failed {
                    error_type: error.error_type(),
                    message: error.to_string(),
                    retryable: error.is_retryable(),
                };
                (attempt, None)
            }
            Ok(Some(Err(_elapsed))) => {
                execution.crash();
                world.count("lambda timed out");
                world.trace(|| format!("{} → timed out", execution.label()));
                (Attempt::TimedOut, None)
            }
            Ok(None) => {
                world.count("lambda died");
                (Attempt::Crashed, None)
            }
            Err(join_error) => {
                execution.crash();
                let message = match join_error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                        .unwrap_or_else(|| "a panic".to_owned()),
                    Err(error) => error.to_string(),
                };
                world.trace(|| format!("{} → PANIC {message}", execution.label()));
                (Attempt::Panicked(message), None)
            }
        }
    }
}

/// The bridge context of a simulator card.
pub fn card_context(card: &feishu_sim::MessageRecord) -> Option<TapContext> {
    card.action_callback
        .as_ref()
        .and_then(|callback| callback["action_context"].as_str())
        .and_then(TapContext::decode)
}

/// A job, for the trace.
fn describe_job(kind: &JobKind, payload: &Value) -> String {
    match kind {
        JobKind::Instance { .. } => format!(
            "instance {} v{} {} notify={} reopen={}",
            payload["instance"]["instance_id"].as_str().unwrap_or("?"),
            payload["instance"]["update_time"].as_str().unwrap_or("?"),
            payload["instance"]["status"].as_str().unwrap_or("?"),
            payload["notify"],
            payload["reopen"]
        ),
        JobKind::Decision {
            tap,
            user_id,
            delivery_id,
            card,
            ..
        } => format!(
            "decision {delivery_id}: {} {} on {} by {user_id} ({})",
            tap.action,
            tap.task,
            payload["instance_id"].as_str().unwrap_or("(card)"),
            card.as_ref()
                .map_or_else(|| "list".to_owned(), |card| format!("card {card}"))
        ),
        JobKind::Message { message_id, status } => format!("message {message_id} → {status}"),
    }
}

/// A summary, for the trace.
fn describe_summary(summary: &SyncSummary) -> String {
    let value = serde_json::to_value(summary).unwrap_or(Value::Null);
    format!(
        "{} {}",
        value["job"].as_str().unwrap_or("?"),
        value["outcome"]
            .as_str()
            .or_else(|| value["status"].as_str())
            .unwrap_or("done")
    )
}

/// Runs the workload against the bridge until every delivery ended, or the virtual-time budget
/// ran out. Returns whether it quiesced in time.
pub async fn run_workload(bridge: &Arc<Bridge>, budget: Duration) -> bool {
    let mut chains = JoinSet::new();
    let origin = bridge.world.origin();
    let steps = bridge.workload.steps.clone();
    let deadline = origin + budget;
    let run = async {
        for step in &steps {
            tokio::time::sleep_until(origin + step.at).await;
            bridge.submit(&step.action, &mut chains);
        }
        while chains.join_next().await.is_some() {}
    };
    tokio::time::timeout_at(deadline, run).await.is_ok()
}

/// Registers the approval definition in Feishu (the company's setup, before any job) and
/// returns Feishu's code for it.
pub fn register_definition(sim: &SimHandle) -> String {
    let token = sim.exchange(
        "POST",
        "/open-apis/auth/v3/tenant_access_token/internal",
        &[("Content-Type", "application/json")],
        json!({"app_id": feishu_sim::DEFAULT_APP_ID, "app_secret": feishu_sim::DEFAULT_APP_SECRET})
            .to_string()
            .as_bytes(),
    );
    let token: Value = serde_json::from_slice(&token.body).unwrap_or(Value::Null);
    let bearer = format!(
        "Bearer {}",
        token["tenant_access_token"].as_str().unwrap_or_default()
    );
    let answer = sim.exchange(
        "POST",
        "/open-apis/approval/v4/external_approvals?department_id_type=department_id&user_id_type=user_id",
        &[("Content-Type", "application/json"), ("Authorization", &bearer)],
        crate::workload::definition_json().to_string().as_bytes(),
    );
    let answer: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    answer["data"]["approval_code"]
        .as_str()
        .unwrap_or_else(|| panic!("the definition was refused: {answer}"))
        .to_owned()
}
