//! A burst of taps while Feishu fails at random — first decisions, double taps, contrary and
//! wrong-approver taps, on cards and in the list — then the faults stop and the failure queue is
//! redriven: every delivery (a double tap posts the same body: one delivery) is judged exactly
//! once, the first accepted decision of each task is its final status in Feishu, on its card and
//! in the events, and nothing is lost.

use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use feishu_sim::{FaultCommand, FaultKind, RandomFaults, StateSnapshot, Tap};
use futures::{StreamExt, stream};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::stack::{Bridge, BridgeOptions, action_context, approver, card_of, instance_json};

const INSTANCES: usize = 20;
const TASKS_PER_INSTANCE: usize = 10;
/// Tasks that get a first tap; the others stay untouched.
const DECIDED_TASKS: usize = 170;
/// First taps sent again (a double tap, or the same decision from the task list).
const REPEATED: usize = 30;
/// Tasks that also get the contrary action (a second approver's view was stale).
const CONTRARY: usize = 30;
/// Taps by someone who is not the task's approver.
const WRONG_APPROVER: usize = 10;
/// Callbacks in flight at once.
const CALLBACKS_IN_FLIGHT: usize = 8;
/// How long the sync jobs get to finish, retries included.
const QUIESCENCE: Duration = Duration::from_secs(240);
const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";
const UPDATE_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/update";

/// One tap of the plan.
#[derive(Debug, Clone)]
struct Decision {
    instance_id: String,
    task_id: String,
    action: &'static str,
    /// Made on the bot card, else in the task list (`instance_id` + `task_id`).
    on_card: bool,
    /// Who tapped.
    user_id: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_taps_under_feishu_faults_is_judged_once_each_and_nothing_is_lost() {
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
    let pushes_before = bridge.sim.handle().requests_to(INSTANCE_PATH).len();

    let mut rng = StdRng::seed_from_u64(20_261_130);
    let plan = plan(&mut rng, &instance_ids, &task_ids);
    // Card taps are made while the cards still show their buttons (a stale view, for the
    // contrary and repeated ones).
    let bodies: Vec<String> = plan
        .iter()
        .map(|decision| callback_body(&bridge, &approval_code, decision))
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
    let answers = post_all(&bridge, bodies.clone()).await;
    let stats = bridge.lambda_async.wait_until_idle(QUIESCENCE).await;
    bridge.sim.handle().clear_faults();
    assert_eq!(stats.pending, 0, "the sync jobs did not finish: {stats:?}");
    let faults = bridge
        .sim
        .handle()
        .requests()
        .iter()
        .filter(|request| request.fault.is_some())
        .count();
    assert!(faults > 0, "no fault was injected: the test proves nothing");
    assert!(
        stats.function_errors > 0,
        "no sync job failed under 20 % faults: the test proves nothing ({stats:?})"
    );
    // A tap answered 200, or 409 (stale: the callback's look-up refused it), was handed off.
    let handed_off = answers
        .iter()
        .filter(|(status, _)| *status == 200 || *status == 409)
        .count();
    for (status, answer) in &answers {
        assert!(
            *status == 200 || *status == 409,
            "callbacks are taken or refused: {status} {answer}"
        );
    }
    assert_eq!(stats.accepted, handed_off as u64);

    // Redrive the failure queue once Feishu is well again.
    let parked = bridge.failure_records().await;
    for record in &parked {
        let (error, answer) = bridge.invoke(&record.request_payload).await;
        assert_eq!(error, None, "a redriven job failed again: {answer}");
    }
    let state = bridge.sim.handle().state();
    let events = bridge.decision_events().await;
    let mut problems = Vec::new();

    // Every delivery handed off is judged exactly once: one delivery record each, none unjudged.
    let mut verdicts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for instance_id in &instance_ids {
        for delivery in bridge.records(instance_id).await.deliveries {
            let verdict = match delivery.verdict {
                feishu_bridge::store::Verdict::Accepted { .. } => "accepted",
                feishu_bridge::store::Verdict::Duplicate { .. } => "duplicate",
                feishu_bridge::store::Verdict::Refused { .. } => "refused",
                feishu_bridge::store::Verdict::Forwarded { .. } => "forwarded",
            };
            *verdicts.entry(verdict).or_default() += 1;
            if !delivery.is_finished() {
                problems.push(format!("delivery {} left unfinished", delivery.delivery_id));
            }
        }
    }
    // A tap posting the same body as another (a double tap: same card or task, action and
    // approver) is the same delivery, judged once.
    let deliveries: BTreeSet<String> = bodies
        .iter()
        .zip(&answers)
        .filter(|(_, (status, _))| *status == 200 || *status == 409)
        .map(|(body, _)| delivery_of(&bridge, body))
        .collect();
    let judged: usize = verdicts.values().sum();
    if judged != deliveries.len() {
        problems.push(format!(
            "{handed_off} taps handed off as {} deliveries, {judged} judged: {verdicts:?}",
            deliveries.len()
        ));
    }

    // The accepted decisions, from the events (at least once: deduplicated on decision_id).
    let mut accepted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut refused = 0;
    for event in &events {
        let detail = &event["detail"];
        match event["detail-type"].as_str() {
            Some("Approval Decision") => {
                accepted
                    .entry((text(&detail["instance_id"]), text(&detail["task_id"])))
                    .or_default()
                    .insert(text(&detail["action"]));
            }
            Some("Approval Decision Refused") => refused += 1,
            other => problems.push(format!("an unexpected event {other:?}")),
        }
    }
    for instance_id in &instance_ids {
        let decided: Vec<&str> = task_ids
            .iter()
            .filter_map(|task_id| accepted.get(&(instance_id.clone(), task_id.clone())))
            .flat_map(|actions| actions.iter().map(String::as_str))
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
        for task_id in &task_ids {
            let synced = synced_task_status(&state, instance_id, task_id);
            let card = card_of(&state.messages, instance_id, task_id).map(|card| card.status);
            let (task, expected_card) = match accepted.get(&(instance_id.clone(), task_id.clone()))
            {
                Some(actions) if actions.len() > 1 => {
                    problems.push(format!(
                        "{instance_id}/{task_id} accepted contrary decisions {actions:?}"
                    ));
                    continue;
                }
                Some(actions) => {
                    let status = actions.iter().next().map_or("", |a| task_status(a));
                    (status, status)
                }
                // Not decided: pending, its card left alone until the instance is final.
                None if derived == "PENDING" => ("PENDING", "PENDING"),
                None => ("PENDING", "PROCESSED"),
            };
            if synced.as_deref() != Some(task) || card.as_deref() != Some(expected_card) {
                problems.push(format!(
                    "{instance_id}/{task_id}: expected task {task} and card {expected_card}, \
                     Feishu has {synced:?} and the card {card:?}"
                ));
            }
        }
    }

    // No card set twice to one status.
    let mut successful_updates: BTreeMap<(String, String), usize> = BTreeMap::new();
    for request in bridge.sim.handle().requests_to(UPDATE_MESSAGE_PATH) {
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

    let accepted_decisions: usize = accepted.values().map(BTreeSet::len).sum();
    let pushes = bridge.sim.handle().requests_to(INSTANCE_PATH).len() - pushes_before;
    eprintln!(
        "burst: {} taps ({handed_off} handed off, {} of them answered 409 at once), verdicts \
         {verdicts:?}, {accepted_decisions} decisions accepted, {refused} refusal events, \
         {faults} faults injected, {} sync runs ({} failed), {} parked and redriven, {pushes} \
         instance pushes ({:.2} per accepted decision)",
        plan.len(),
        answers.iter().filter(|(status, _)| *status == 409).count(),
        stats.runs,
        stats.function_errors,
        parked.len(),
        pushes as f64 / accepted_decisions.max(1) as f64,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(accepted_decisions > 0 && verdicts.get("refused").copied().unwrap_or(0) > 0);
}

/// 170 first taps (a quarter of them rejections, half on cards) on random tasks; 30 of them
/// again; the contrary action on 30; 10 by the wrong approver — in random order.
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
            user_id: approver(&task_id),
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
    let repeats: Vec<Decision> = plan
        .choose_multiple(rng, REPEATED)
        .map(|decision| Decision {
            on_card: rng.random_bool(0.5),
            ..decision.clone()
        })
        .collect();
    let contrary: Vec<Decision> = plan
        .choose_multiple(rng, CONTRARY)
        .map(|decision| Decision {
            action: if decision.action == "APPROVE" {
                "REJECT"
            } else {
                "APPROVE"
            },
            on_card: false,
            ..decision.clone()
        })
        .collect();
    let wrong: Vec<Decision> = plan
        .choose_multiple(rng, WRONG_APPROVER)
        .map(|decision| Decision {
            user_id: "someone-else".to_owned(),
            on_card: false,
            ..decision.clone()
        })
        .collect();
    plan.extend(repeats);
    plan.extend(contrary);
    plan.extend(wrong);
    plan.shuffle(rng);
    plan
}

/// The delivery id the callback function gives `body`: the digest of its plaintext.
fn delivery_of(bridge: &Bridge, body: &str) -> String {
    let envelope: Value = serde_json::from_str(body).expect("a JSON body");
    let plaintext = bridge
        .cipher
        .decrypt(envelope["encrypt"].as_str().expect("an encrypted body"))
        .expect("the bridge's key decrypts it");
    feishu_bridge::callback::delivery_id(plaintext.as_bytes())
}

/// The encrypted callback Feishu sends for `decision`.
fn callback_body(bridge: &Bridge, approval_code: &str, decision: &Decision) -> String {
    if decision.on_card {
        let tap = Tap::new(decision.action, approval_code).by(&decision.user_id);
        let (_, body) = bridge.tap(&decision.instance_id, &decision.task_id, &tap);
        return body;
    }
    bridge.encrypted_callback(
        json!({
            "action_type": decision.action,
            "action_context": action_context(&decision.instance_id, &decision.task_id),
            "user_id": decision.user_id,
            "approval_code": approval_code,
            "instance_id": decision.instance_id,
            "task_id": decision.task_id,
        }),
        None,
    )
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

fn task_status(action: &str) -> &'static str {
    match action {
        "APPROVE" => "APPROVED",
        _ => "REJECTED",
    }
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
