//! A burst of decisions while Feishu fails at random: nothing lost, nothing applied twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use feishu_sim::{FaultCommand, FaultKind, RandomFaults, StateSnapshot};
use futures::{StreamExt, stream};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::stack::{Bridge, BridgeOptions, action_context, approver, instance_json};

const INSTANCES: usize = 20;
const TASKS_PER_INSTANCE: usize = 10;
/// Tasks that get a decision; the others stay pending.
const DECIDED_TASKS: usize = 170;
/// Decisions sent a second time (a double tap, or the same decision from the task list).
const REPEATED_DECISIONS: usize = 30;
/// Callbacks in flight at once.
const CALLBACKS_IN_FLIGHT: usize = 8;
/// How long the sync jobs get to finish, retries included.
const QUIESCENCE: Duration = Duration::from_secs(240);
/// The simulator path of bot card updates.
const UPDATE_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/update";

/// One decision of the plan.
#[derive(Debug, Clone)]
struct Decision {
    instance_id: String,
    task_id: String,
    action: &'static str,
    /// Made on the bot card (`message_id` only), else in the task list (`instance_id` +
    /// `task_id`).
    on_card: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_decisions_under_feishu_faults_is_neither_lost_nor_applied_twice() {
    let bridge = Bridge::start(BridgeOptions {
        concurrency: 2,
        retry_delay: Duration::from_millis(300),
    })
    .await;
    let approval_code = bridge.register("E2E_BURST").await;
    let task_ids: Vec<String> = (0..TASKS_PER_INSTANCE).map(|n| format!("t{n}")).collect();
    let task_refs: Vec<&str> = task_ids.iter().map(String::as_str).collect();
    let instance_ids: Vec<String> = (0..INSTANCES).map(|n| format!("burst-{n:02}")).collect();
    for instance_id in &instance_ids {
        bridge
            .push(
                &instance_json(&approval_code, instance_id, &task_refs),
                true,
            )
            .await;
    }

    let mut rng = StdRng::seed_from_u64(20_261_122);
    let plan = plan(&mut rng, &instance_ids, &task_ids);
    let cards = bridge.sim.handle().state();
    let bodies: Vec<String> = plan
        .iter()
        .map(|decision| callback_body(&bridge, &cards, &approval_code, decision))
        .collect();

    bridge
        .sim
        .handle()
        .inject_fault(FaultCommand::Random(RandomFaults {
            path: None,
            probability: 0.2,
            seed: 42,
            kinds: FaultKind::TRANSIENT.to_vec(),
            reset_secs: 1,
            delay_ms: 0,
        }));
    let answers = post_all(&bridge, bodies).await;
    assert!(
        answers
            .iter()
            .all(|(status, answer)| *status == 200 && answer["code"] == 0),
        "every callback is accepted: {answers:?}"
    );
    let stats = bridge.lambda_async.wait_until_idle(QUIESCENCE).await;
    bridge.sim.handle().clear_faults();
    assert_eq!(stats.pending, 0, "the sync jobs did not finish: {stats:?}");
    assert_eq!(stats.accepted, plan.len() as u64);

    let state = bridge.sim.handle().state();
    let failed = failed_decisions(&bridge, &state).await;
    let events = bridge.decision_events().await;
    let updates = bridge.sim.handle().requests_to(UPDATE_MESSAGE_PATH);
    let expected = distinct_decisions(&plan);
    assert_eq!(expected.len(), DECIDED_TASKS);
    let mut problems = Vec::new();

    // None lost: each decision is in Feishu and on the bus, or in the failure queue.
    let mut events_per_decision: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for event in &events {
        let detail = &event["detail"];
        let key = (
            text(&detail["instance_id"]),
            text(&detail["task_id"]),
            text(&detail["action"]),
        );
        *events_per_decision.entry(key).or_default() += 1;
    }
    let mut reflected = 0;
    for ((instance_id, task_id), action) in &expected {
        let status = task_status(action);
        let card = card_status(&state, instance_id, task_id);
        let synced = synced_task_status(&state, instance_id, task_id);
        let published = events_per_decision
            .get(&(instance_id.clone(), task_id.clone(), (*action).to_owned()))
            .copied()
            .unwrap_or(0);
        if card.as_deref() == Some(status) && synced.as_deref() == Some(status) && published > 0 {
            reflected += 1;
        } else if !failed.contains(&(instance_id.clone(), task_id.clone())) {
            problems.push(format!(
                "{instance_id}/{task_id} {action} is lost: card {card:?}, instance task \
                 {synced:?}, {published} events, not in the failure queue"
            ));
        }
    }

    // None applied twice: one successful update per card and status. (Events are at least
    // once: consumers deduplicate on the stable decision id; repeats are only counted.)
    let republished = events_per_decision
        .values()
        .filter(|count| **count > 1)
        .count();
    let mut successful_updates: BTreeMap<(String, String), usize> = BTreeMap::new();
    for request in updates {
        if request.http_status == 200 && request.code == 0 {
            let key = (
                text(&request.body["message_id"]),
                text(&request.body["status"]),
            );
            *successful_updates.entry(key).or_default() += 1;
        }
    }
    for ((message_id, status), count) in &successful_updates {
        if *count > 1 {
            problems.push(format!(
                "card {message_id} was set to {status} {count} times"
            ));
        }
    }

    // Undecided tasks are untouched; instance statuses follow the tasks.
    for instance_id in &instance_ids {
        for task_id in &task_ids {
            if expected.contains_key(&(instance_id.clone(), task_id.clone())) {
                continue;
            }
            let card = card_status(&state, instance_id, task_id);
            let synced = synced_task_status(&state, instance_id, task_id);
            if card.as_deref() != Some("PENDING") || synced.as_deref() != Some("PENDING") {
                problems.push(format!(
                    "undecided {instance_id}/{task_id} changed: card {card:?}, instance task \
                     {synced:?}"
                ));
            }
        }
        if failed
            .iter()
            .any(|(failed_instance, _)| failed_instance == instance_id)
        {
            continue;
        }
        let decided: Vec<&str> = task_ids
            .iter()
            .filter_map(|task_id| {
                expected
                    .get(&(instance_id.clone(), task_id.clone()))
                    .copied()
            })
            .collect();
        let derived = if decided.contains(&"REJECT") {
            "REJECTED"
        } else if decided.len() == TASKS_PER_INSTANCE {
            "APPROVED"
        } else {
            "PENDING"
        };
        let synced = state
            .instances
            .iter()
            .find(|instance| &instance.instance_id == instance_id)
            .map(|instance| instance.status.as_str());
        if synced != Some(derived) {
            problems.push(format!("{instance_id} is {synced:?}, expected {derived}"));
        }
    }

    let faults = bridge
        .sim
        .handle()
        .requests()
        .iter()
        .filter(|request| request.fault.is_some())
        .count();
    eprintln!(
        "burst: {} callbacks, {reflected} decisions applied, {} in the failure queue, \
         {faults} faults injected, {} sync runs ({} failed), {republished} events published \
         more than once",
        plan.len(),
        failed.len(),
        stats.runs,
        stats.function_errors,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// 170 distinct decisions (a quarter of them rejections, half on cards) on random tasks, plus
/// 30 of them again (on the card or in the list), in random order.
fn plan(rng: &mut StdRng, instance_ids: &[String], task_ids: &[String]) -> Vec<Decision> {
    let mut tasks: Vec<(String, String)> = instance_ids
        .iter()
        .flat_map(|instance_id| {
            task_ids
                .iter()
                .map(move |task_id| (instance_id.clone(), task_id.clone()))
        })
        .collect();
    tasks.shuffle(rng);
    let mut plan: Vec<Decision> = tasks
        .into_iter()
        .take(DECIDED_TASKS)
        .map(|(instance_id, task_id)| Decision {
            instance_id,
            task_id,
            action: if rng.random_bool(0.25) {
                "REJECT"
            } else {
                "APPROVE"
            },
            on_card: rng.random_bool(0.5),
        })
        .collect();
    let repeated: Vec<Decision> = plan
        .choose_multiple(rng, REPEATED_DECISIONS)
        .cloned()
        .collect();
    let repeats: Vec<Decision> = repeated
        .into_iter()
        .map(|decision| Decision {
            on_card: rng.random_bool(0.5),
            ..decision
        })
        .collect();
    plan.extend(repeats);
    plan.shuffle(rng);
    plan
}

/// The encrypted callback Feishu sends for `decision`.
fn callback_body(
    bridge: &Bridge,
    state: &StateSnapshot,
    approval_code: &str,
    decision: &Decision,
) -> String {
    let mut fields = json!({
        "action_type": decision.action,
        "action_context": action_context(&decision.instance_id, &decision.task_id),
        "user_id": approver(&decision.task_id),
        "approval_code": approval_code,
    });
    if decision.on_card {
        let message_id = card_message_id(state, &decision.instance_id, &decision.task_id)
            .unwrap_or_else(|| panic!("no card for {decision:?}"));
        bridge.encrypted_callback(fields, Some(&message_id))
    } else {
        fields["instance_id"] = json!(decision.instance_id);
        fields["task_id"] = json!(decision.task_id);
        bridge.encrypted_callback(fields, None)
    }
}

/// POSTs every body to the bridge's callback URL, a few at a time; returns the answers in order.
async fn post_all(bridge: &Bridge, bodies: Vec<String>) -> Vec<(u16, Value)> {
    let url = bridge.callback_url();
    stream::iter(bodies)
        .map(|body| bridge.post(&url, body))
        .buffered(CALLBACKS_IN_FLIGHT)
        .collect()
        .await
}

/// Each decided task and its action (repeats collapse).
fn distinct_decisions(plan: &[Decision]) -> BTreeMap<(String, String), &'static str> {
    plan.iter()
        .map(|decision| {
            (
                (decision.instance_id.clone(), decision.task_id.clone()),
                decision.action,
            )
        })
        .collect()
}

/// The tasks whose decision job ended in the failure queue.
async fn failed_decisions(bridge: &Bridge, state: &StateSnapshot) -> BTreeSet<(String, String)> {
    bridge
        .failure_records()
        .await
        .iter()
        .map(|record| {
            let job = &record.request_payload;
            if let (Some(instance_id), Some(task_id)) =
                (job["instance_id"].as_str(), job["task_id"].as_str())
            {
                return (instance_id.to_owned(), task_id.to_owned());
            }
            let message_id = text(&job["message_id"]);
            let context = state
                .messages
                .iter()
                .find(|card| card.message_id == message_id)
                .and_then(|card| card.action_callback.as_ref())
                .and_then(|callback| callback["action_context"].as_str())
                .unwrap_or_else(|| panic!("a failed job names an unknown card: {job}"));
            let (instance_id, task_id) = context.split_once('/').expect("instance/task");
            (instance_id.to_owned(), task_id.to_owned())
        })
        .collect()
}

fn task_status(action: &str) -> &'static str {
    match action {
        "APPROVE" => "APPROVED",
        _ => "REJECTED",
    }
}

fn card_message_id(state: &StateSnapshot, instance_id: &str, task_id: &str) -> Option<String> {
    let context = action_context(instance_id, task_id);
    state
        .messages
        .iter()
        .find(|card| {
            card.action_callback
                .as_ref()
                .and_then(|callback| callback["action_context"].as_str())
                == Some(context.as_str())
        })
        .map(|card| card.message_id.clone())
}

fn card_status(state: &StateSnapshot, instance_id: &str, task_id: &str) -> Option<String> {
    let message_id = card_message_id(state, instance_id, task_id)?;
    state
        .messages
        .iter()
        .find(|card| card.message_id == message_id)
        .map(|card| card.status.clone())
}

fn synced_task_status(state: &StateSnapshot, instance_id: &str, task_id: &str) -> Option<String> {
    state
        .instances
        .iter()
        .find(|instance| instance.instance_id == instance_id)?
        .tasks
        .iter()
        .find(|task| task.task_id == task_id)
        .map(|task| task.status.clone())
}

/// A JSON string or number as text.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
