//! Reconcile jobs against the Feishu simulator, whose `external_instances/check` follows
//! `feishu-api.md` §4.2 and which can lose an instance or roll it back on demand.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use approval_sync::summary::ReconcileSummary;
use approval_sync::{
    ReconcileSettings, SyncError, SyncService, SyncSettings, SyncSummary, handle_job, parse_job,
};
use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::clock::SystemClock;
use feishu_bridge::models::ExternalApproval;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::{InMemoryStore, InstanceStore};
use feishu_sim::{FaultCommand, FaultKind, RunningSimulator, SimConfig, SimSettings, Simulator};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::*;

const CHECK_PATH: &str = "/open-apis/approval/v4/external_instances/check";

/// The simulator, a service calling it, and the approval code it registered.
struct Stack {
    sim: RunningSimulator,
    service: SyncService<InMemoryStore, RecordingPublisher>,
    code: String,
}

impl Stack {
    async fn start(settings: SyncSettings) -> Self {
        let sim = Simulator::start(SimConfig::default())
            .await
            .expect("the simulator starts");
        let defaults = SimConfig::default();
        let credentials = Arc::new(CredentialSource::fixed(Credentials {
            app_id: defaults.app_id.clone(),
            app_secret: Secret::new(defaults.app_secret.clone()),
            callback_token: Secret::new(CALLBACK_TOKEN),
            callback_key: None,
            previous_callback: None,
        }));
        let feishu = FeishuClient::new(
            ClientConfig::for_base_url(sim.base_url()),
            credentials.clone(),
        )
        .unwrap();
        let definition: ExternalApproval = serde_json::from_value(json!({
            "approval_name": "@i18n@name",
            "approval_code": "PURCHASE",
            "external": {"support_pc": true, "support_mobile": true,
                "action_callback_url": CALLBACK_URL, "action_callback_token": CALLBACK_TOKEN},
            "i18n_resources": [{"locale": "zh-CN", "is_default": true,
                "texts": [{"key": "@i18n@name", "value": "采购"}]}]
        }))
        .unwrap();
        let code = feishu
            .create_approval(&definition, Instant::now() + Duration::from_secs(5))
            .await
            .expect("the definition is registered");
        let service = SyncService::new(
            feishu,
            credentials,
            InMemoryStore::new(),
            RecordingPublisher::default(),
            Arc::new(SystemClock),
            settings,
        );
        Self { sim, service, code }
    }

    /// Pushes instance `id` (tasks `t1`, `t2` pending) through an instance job.
    async fn push(&self, id: &str, notify: bool) {
        let mut instance = instance_json(id, START, &[("t1", "PENDING"), ("t2", "PENDING")]);
        instance["approval_code"] = self.code.clone().into();
        let job = json!({"type": "instance", "instance": instance, "notify": notify});
        run(&self.service, job).await.expect("the instance job");
    }

    /// A decision job (see [`decision`]) on this stack's definition: its approval code is the
    /// one Feishu assigned, as every callback carries it (another code is refused as
    /// `approval_code_mismatch`).
    fn decision(&self, fields: Value) -> Value {
        let mut job = decision(fields);
        job["approval_code"] = self.code.clone().into();
        job
    }

    /// Runs a reconcile job over everything changed until now.
    async fn reconcile(&self) -> Result<ReconcileSummary, SyncError> {
        let until = UnixMillis::now().as_millis() + 1;
        self.reconcile_between(0, until).await
    }

    async fn reconcile_between(
        &self,
        since: u64,
        until: u64,
    ) -> Result<ReconcileSummary, SyncError> {
        let job =
            json!({"type": "reconcile", "since": since.to_string(), "until": until.to_string()});
        run(&self.service, job).await.map(|summary| match summary {
            SyncSummary::Reconcile(summary) => *summary,
            other => panic!("expected a reconcile summary, got {other:?}"),
        })
    }

    /// What the bridge would push for `id` now: instance and task versions.
    async fn derived(&self, id: &str) -> Value {
        let records = self.service.store().load(id).await.unwrap();
        let instance = records
            .derive(self.service.settings().instance_status_policy)
            .unwrap();
        versions_of(&serde_json::to_value(instance).unwrap())
    }

    /// The versions Feishu (the simulator) holds for `id`.
    fn in_feishu(&self, id: &str) -> Option<Value> {
        let stored = self.sim.handle().instance(id)?;
        let tasks: Vec<Value> = stored
            .tasks
            .iter()
            .map(|task| json!({"task_id": task.task_id, "update_time": task.update_time}))
            .collect();
        Some(json!({"update_time": stored.update_time, "tasks": tasks}))
    }
}

/// `{update_time, tasks: [{task_id, update_time}]}` of an instance body, times as numbers.
fn versions_of(instance: &Value) -> Value {
    let tasks: Vec<Value> = instance["task_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(
            |task| json!({"task_id": task["task_id"], "update_time": millis(&task["update_time"])}),
        )
        .collect();
    json!({"update_time": millis(&instance["update_time"]), "tasks": tasks})
}

fn settings_with_batch(check_batch: usize) -> SyncSettings {
    SyncSettings {
        reconcile: ReconcileSettings {
            check_batch: NonZeroUsize::new(check_batch).unwrap(),
            ..ReconcileSettings::default()
        },
        ..settings()
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn lost_rolled_back_and_overwritten_instances_are_pushed_again_and_the_rest_left_alone() {
    let stack = Stack::start(settings()).await;
    for id in ["lost", "rolled-back", "overwritten", "fine"] {
        stack.push(id, false).await;
    }
    // A decision moves "rolled-back" to a second version, which Feishu then loses.
    let approve =
        stack.decision(json!({"instance_id": "rolled-back", "task_id": "t1", "action": "APPROVE"}));
    run(&stack.service, approve).await.unwrap();
    stack.sim.handle().forget_instance("lost").unwrap();
    stack
        .sim
        .handle()
        .roll_back_instance("rolled-back", 1)
        .unwrap();
    // Someone else pushes "overwritten" with a later version than the bridge's.
    let mut foreign = instance_json("overwritten", START, &[("t1", "REJECTED")]);
    foreign["approval_code"] = stack.code.clone().into();
    foreign["update_time"] = (UnixMillis::now().as_millis() + 3_600_000)
        .to_string()
        .into();
    let foreign = serde_json::from_value(foreign).unwrap();
    stack
        .service
        .feishu()
        .sync_instance(&foreign, Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    let checks_before = stack.sim.handle().requests_to(CHECK_PATH).len();

    let summary = stack.reconcile().await.expect("reconcile");

    assert_eq!(
        (summary.changed, summary.checked, summary.in_sync),
        (4, 4, 1)
    );
    assert_eq!(summary.missing, ["lost"]);
    assert_eq!(summary.older, ["rolled-back"]);
    assert_eq!(summary.newer, ["overwritten"]);
    assert_eq!(
        sorted(summary.repushed),
        ["lost", "overwritten", "rolled-back"]
    );
    assert!(summary.failures.is_empty() && summary.resume.is_none());
    // Feishu now holds exactly what the bridge derives, for every instance.
    for id in ["lost", "rolled-back", "overwritten", "fine"] {
        assert_eq!(stack.in_feishu(id), Some(stack.derived(id).await), "{id}");
    }
    let rolled_back = stack.sim.handle().instance("rolled-back").unwrap();
    assert_eq!(rolled_back.tasks[0].status, "APPROVED");

    // One check call asked about all four, with the versions as pushed.
    let checks = stack.sim.handle().requests_to(CHECK_PATH);
    assert_eq!(checks.len(), checks_before + 1);
    let asked = checks.last().unwrap().body["instances"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(asked.len(), 4);
    for entry in asked {
        let id = entry["instance_id"].as_str().unwrap();
        let derived = stack.derived(id).await;
        assert_eq!(versions_of_check(&entry), derived, "{id}");
    }

    // A second run finds everything in sync and pushes nothing.
    let again = stack.reconcile().await.unwrap();
    assert_eq!((again.checked, again.in_sync), (4, 4));
    assert!(again.repushed.is_empty());
    assert_eq!(again.calls.len(), 1);
}

/// `{update_time, tasks}` of a check entry, times as numbers.
fn versions_of_check(entry: &Value) -> Value {
    let tasks: Vec<Value> = entry["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(
            |task| json!({"task_id": task["task_id"], "update_time": millis(&task["update_time"])}),
        )
        .collect();
    json!({"update_time": millis(&entry["update_time"]), "tasks": tasks})
}

#[tokio::test]
async fn batches_feishu_refuses_are_split_and_later_batches_use_the_size_it_accepted() {
    let stack = Stack::start(settings_with_batch(8)).await;
    stack.sim.handle().set_settings(SimSettings {
        check_batch_limit: NonZeroUsize::new(3),
        ..SimSettings::default()
    });
    let ids: Vec<String> = (0..10).map(|n| format!("i-{n:02}")).collect();
    for id in &ids {
        stack.push(id, false).await;
    }
    stack.sim.handle().forget_instance("i-09").unwrap();

    let summary = stack.reconcile().await.expect("reconcile");

    assert_eq!((summary.checked, summary.in_sync), (10, 9));
    assert_eq!(summary.missing, ["i-09"]);
    assert_eq!(summary.repushed, ["i-09"]);
    assert_eq!(summary.check_batch, 2);
    // 8 refused, 4 + 4 refused, 2 + 2 + 2 + 2 accepted; then the last 2 in one call.
    let checks: Vec<(usize, bool)> = summary
        .calls
        .iter()
        .filter(|call| call.api == "external_instances/check")
        .map(|call| {
            (
                call.target.split(' ').next().unwrap().parse().unwrap(),
                call.accepted,
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            (8, false),
            (4, false),
            (2, true),
            (2, true),
            (4, false),
            (2, true),
            (2, true),
            (2, true)
        ]
    );
    assert!(stack.sim.handle().instance("i-09").is_some());
}

#[tokio::test]
async fn only_instances_changed_within_the_window_are_checked() {
    let stack = Stack::start(settings()).await;
    stack.push("before", false).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = UnixMillis::now().as_millis();
    stack.push("within", false).await;
    stack.sim.handle().forget_instance("before").unwrap();
    stack.sim.handle().forget_instance("within").unwrap();

    let summary = stack
        .reconcile_between(since, UnixMillis::now().as_millis() + 1)
        .await
        .unwrap();

    assert_eq!((summary.changed, summary.checked), (1, 1));
    assert_eq!(summary.repushed, ["within"]);
    assert!(stack.sim.handle().instance("before").is_none());
}

#[tokio::test]
async fn a_run_out_of_time_names_the_job_that_resumes_it() {
    let stack = Stack::start(settings()).await;
    stack.push("a", false).await;
    stack.sim.handle().forget_instance("a").unwrap();
    let until = UnixMillis::now().as_millis() + 1;
    let touched = stack
        .service
        .store()
        .load_head("a")
        .await
        .unwrap()
        .unwrap()
        .touched_at;
    let job = json!({"type": "reconcile", "since": "0", "until": until.to_string()});

    // An invocation with 2.5 s left: after the 2 s margin, too little for a round.
    let invocation_deadline = Instant::now() + Duration::from_millis(2_500);
    let error = handle_job(
        parse_job(job).unwrap(),
        &stack.service,
        Some(invocation_deadline),
    )
    .await
    .unwrap_err();

    assert_eq!(error.error_type(), "ReconcileIncomplete");
    assert!(error.is_retryable());
    let text = error.to_string();
    let named: Value = text
        .split_once("resume with ")
        .and_then(|(_, job)| serde_json::from_str(job).ok())
        .unwrap_or_else(|| panic!("no job to resume with in: {text}"));
    let resume =
        json!({"type": "reconcile", "since": touched.to_string(), "until": until.to_string()});
    assert_eq!(named, resume);
    assert!(stack.sim.handle().instance("a").is_none());

    // The job it names, given time, finishes the window.
    let summary = stack
        .reconcile_between(touched, until)
        .await
        .expect("the resumed reconcile");
    assert_eq!(summary.repushed, ["a"]);
    assert!(stack.sim.handle().instance("a").is_some());
}

#[tokio::test]
async fn an_instance_feishu_refuses_fails_the_job_once_the_rest_is_in_sync() {
    let stack = Stack::start(settings()).await;
    stack.push("good", false).await;
    stack.sim.handle().forget_instance("good").unwrap();
    // A base Feishu never accepted (pushed with the custom approval code, 1390002).
    seed(&stack.service, refused_instance("bad")).await;

    let error = stack.reconcile().await.unwrap_err();

    assert_eq!(error.error_type(), "ReconcileIncomplete");
    assert!(!error.is_retryable(), "a refusal does not pass by itself");
    let text = error.to_string();
    assert!(text.contains("bad") && text.contains("1390002"), "{text}");
    assert!(stack.sim.handle().instance("good").is_some());
}

/// Instance `id` with an approval code Feishu does not know (it refuses the push).
fn refused_instance(id: &str) -> feishu_bridge::models::instance::ExternalInstance {
    serde_json::from_value(instance_json(id, START, &[("t1", "PENDING")])).unwrap()
}

#[tokio::test]
async fn cards_left_behind_by_a_failed_job_are_brought_in_line() {
    let stack = Stack::start(settings()).await;
    stack.push("carded", true).await;
    let card = stack
        .sim
        .handle()
        .cards()
        .into_iter()
        .find(|card| card.user_id.as_deref() == Some("approver-t1"))
        .expect("a card for t1");
    assert_eq!(card.status, "PENDING");
    stack.sim.handle().inject_fault(FaultCommand::on_path(
        "/open-apis/approval/v1/message/update",
        FaultKind::Http500,
        10,
    ));
    let approve =
        stack.decision(json!({"instance_id": "carded", "task_id": "t1", "action": "APPROVE"}));
    let failed = run(&stack.service, approve).await.unwrap_err();
    assert_eq!(failed.error_type(), "FeishuTransient");
    stack.sim.handle().clear_faults();
    let lagging = stack.sim.handle().card(&card.message_id).unwrap();
    assert_eq!(
        lagging.status, "PENDING",
        "the failed job left the card behind"
    );

    let summary = stack.reconcile().await.expect("reconcile");

    assert_eq!(
        summary.in_sync, 1,
        "the push went through; only the card lagged"
    );
    assert_eq!(summary.cards_updated.len(), 1);
    let card = stack.sim.handle().card(&card.message_id).unwrap();
    assert_eq!(card.status, "APPROVED");
}
