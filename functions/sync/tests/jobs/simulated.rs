//! Regressions found by the deterministic simulation (`tests/simulation`): each test is the
//! smallest job-level replay of a violating schedule, named by its seed.

use std::time::Duration;

use approval_sync::plan::{InstanceStep, PlanContext, plan_instance};
use approval_sync::{handle_job, parse_job};
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::message::CardStatus;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::store::{CardChange, InMemoryStore, InstanceStore, Lease};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::*;

fn instance_job(update_time: u64, status: &str, tasks: &[(&str, &str)], notify: bool) -> Value {
    let mut instance = instance_json("i-1", update_time, tasks);
    instance["status"] = status.into();
    json!({"type": "instance", "instance": instance, "notify": notify})
}

fn tap(task_id: &str, action: &str) -> Value {
    decision(json!({"instance_id": "i-1", "task_id": task_id, "action": action}))
}

/// Seeds 266 and 660: an instance job's push was overtaken by a later one, and its Lambda died right
/// after the push landed, before it could look whether the instance had moved. Lambda's retry
/// is stale (its own version is the company's current one) and used to push nothing, leaving
/// Feishu on the older state for good.
#[tokio::test]
async fn a_retried_instance_job_pushes_again_when_its_push_may_have_been_overtaken() {
    let server = feishu().await;
    let service = service(&server);
    let job = instance_job(
        START,
        "PENDING",
        &[("t1", "PENDING"), ("t2", "PENDING")],
        false,
    );
    run(&service, job.clone()).await.unwrap();
    run(&service, tap("t1", "APPROVE")).await.unwrap();
    // The instance job's push lands only now, behind the decision's.
    let first: ExternalInstance =
        serde_json::from_value(bodies(&server, INSTANCE_PATH).await[0].clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    service
        .feishu()
        .sync_instance(&first, deadline)
        .await
        .unwrap();

    let summary = serde_json::to_value(run(&service, job).await.unwrap()).unwrap();

    assert_eq!(summary["outcome"], "stale");
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(
        task_status(&last, "t1"),
        "APPROVED",
        "Feishu ends on the latest state"
    );
}

/// Seed 660: as above, but a newer company version was accepted before Lambda's retry, so the
/// retry's own version is no longer the company's current one.
#[tokio::test]
async fn a_retried_older_instance_job_pushes_the_latest_state_again() {
    let server = feishu().await;
    let service = service(&server);
    let tasks = [("t1", "PENDING")];
    let old = instance_job(START, "PENDING", &tasks, false);
    run(&service, old.clone()).await.unwrap();
    let mut newer = instance_job(START + 1, "PENDING", &tasks, false);
    newer["instance"]["form"][0]["value"] = "@i18n@title".into();
    run(&service, newer).await.unwrap();
    // The old job's push lands only now, behind the newer one's.
    let first: ExternalInstance =
        serde_json::from_value(bodies(&server, INSTANCE_PATH).await[0].clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    service
        .feishu()
        .sync_instance(&first, deadline)
        .await
        .unwrap();

    run(&service, old).await.unwrap();

    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(
        last["form"][0]["value"], "@i18n@title",
        "Feishu ends on the newer version"
    );
}

/// Seeds 1, 21, 22, 192: a retried `notify` job sent cards to the pending tasks of an instance
/// that had become final meanwhile (rejected, withdrawn, deleted); nothing updated them after.
#[tokio::test]
async fn notify_sends_no_card_for_a_final_instance() {
    let server = feishu().await;
    let service = service(&server);
    let tasks = [("t1", "PENDING"), ("t2", "PENDING")];
    run(&service, instance_job(START, "PENDING", &tasks, false))
        .await
        .unwrap();
    run(&service, tap("t1", "REJECT")).await.unwrap();

    run(&service, instance_job(START, "PENDING", &tasks, true))
        .await
        .unwrap();

    assert!(
        bodies(&server, SEND_PATH).await.is_empty(),
        "the rejected instance's pending task gets no card"
    );
}

/// Seed 20 (the send half): a decision accepted while a `notify` card was on its way found the
/// card without an id and left it; the job that sent it did not look again, so the card kept
/// its live buttons on a decided task.
#[tokio::test]
async fn a_card_whose_task_was_decided_while_it_was_sent_follows_the_decision() {
    let server = feishu().await;
    let store = InterloperStore::default();
    store.before_next_card_sent(tap("t1", "APPROVE"));
    let service = service_over(&server, settings(), store);

    run(
        &service,
        instance_job(START, "PENDING", &[("t1", "PENDING")], true),
    )
    .await
    .unwrap();

    let sent = bodies(&server, SEND_PATH).await;
    assert_eq!(sent.len(), 1);
    let updates = bodies(&server, UPDATE_PATH).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["status"], "APPROVED");
    assert_eq!(
        updates[0]["message_id"],
        message_id_for(sent[0]["uuid"].as_str().unwrap())
    );
}

/// Seed 171: the company's withdrawal was stored but its job died before pushing it (and was
/// parked); later taps were refused against the withdrawal while Feishu still showed the task
/// pending. A refused (or duplicate) decision now finishes the push, as a stale instance job
/// does.
#[tokio::test]
async fn a_refused_decision_pushes_the_state_it_was_refused_against() {
    let server = feishu().await;
    let service = service(&server);
    // The withdrawal as its job left it: stored, never pushed.
    let withdrawn: ExternalInstance = serde_json::from_value(
        instance_job(START, "CANCELED", &[("t1", "PENDING")], false)["instance"].clone(),
    )
    .unwrap();
    commit_unpushed(service.store(), &withdrawn).await;

    let summary = serde_json::to_value(run(&service, tap("t1", "APPROVE")).await.unwrap()).unwrap();

    assert_eq!(summary["outcome"], "refused");
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0]["status"], "CANCELED");
    let head = service.store().load("i-1").await.unwrap().head.unwrap();
    assert_eq!(head.pushed_seq, head.seq);
}

/// Stores `instance` as the company's base without pushing it.
async fn commit_unpushed(store: &InMemoryStore, instance: &ExternalInstance) {
    let records = store.load(&instance.instance_id).await.unwrap();
    let ctx = PlanContext {
        now: UnixMillis::now(),
        lease: Lease {
            owner: "died".to_owned(),
            until: 0,
        },
        policy: approval_sync::InstanceStatusPolicy::Derive,
        record_ttl: Duration::from_secs(60),
        tombstone_ttl: Duration::from_secs(60),
    };
    match plan_instance(&records, instance, &[], &ctx) {
        InstanceStep::Commit(commit) => store.commit(&commit).await.unwrap(),
        InstanceStep::Stale { .. } => panic!("stale"),
    }
}

/// Seeds 297, 1518, 2604, 2865: a card update Feishu applied could not be recorded (the store
/// failed the write), and the job carried on as if it had; when the instance later came back to
/// the state the record still showed, the card was taken for settled and kept the status Feishu
/// had been given. Now the job fails (Lambda retries it) and leaves the claim to run out, after
/// which the card counts as unknown and is set again (see `plan`'s card tests).
#[tokio::test]
async fn a_card_update_whose_outcome_cannot_be_recorded_fails_the_job() {
    let server = feishu().await;
    let store = InterloperStore::default();
    let service = service_over(&server, settings(), store);
    run(
        &service,
        instance_job(START, "PENDING", &[("t1", "PENDING")], true),
    )
    .await
    .unwrap();
    service.store().fail_next_settle();

    let error = run(&service, tap("t1", "APPROVE")).await.unwrap_err();

    assert_eq!(error.error_type(), "StoreUnavailable");
    assert_eq!(bodies(&server, UPDATE_PATH).await[0]["status"], "APPROVED");
    let records = service.store().load("i-1").await.unwrap();
    let card = &records.cards[0];
    assert!(card.status.is_none() && card.claim.is_some(), "{card:?}");
}

/// Seed 20 (the claim half): one execution of a decision claimed its card and died (or failed)
/// before settling it; a second delivery of the same decision found the card claimed, left it
/// to the claimer and recorded the delivery's card work as done, so the claimer's retry skipped
/// it and the card never followed. A delivery now records its card work done only when no card
/// was left to another execution's claim — and waits for that claim: a claim that outlives the
/// job's deadline fails the job retryably (`CardsInFlight`) …
#[tokio::test]
async fn a_card_claimed_past_the_deadline_fails_the_job_for_a_retry() {
    let server = feishu().await;
    let service = service(&server);
    let claimed = card_claimed_by_a_dead_execution(&service, Duration::from_secs(60)).await;
    let job = tap("t1", "APPROVE");
    let invocation_ends =
        Instant::now() + service.settings().deadline_margin + Duration::from_secs(1);

    let error = handle_job(
        parse_job(sign(job.clone())).unwrap(),
        &service,
        Some(invocation_ends),
    )
    .await
    .unwrap_err();

    assert_eq!(error.error_type(), "CardsInFlight");
    assert!(error.is_retryable());
    assert!(
        bodies(&server, UPDATE_PATH).await.is_empty(),
        "the card is claimed"
    );
    let delivery_id = job["delivery_id"].as_str().unwrap();
    let records = service.store().load("i-1").await.unwrap();
    let delivery = records.delivery(delivery_id).unwrap();
    assert!(delivery.pushed && delivery.published);
    assert!(
        !delivery.card_done,
        "a later execution of the delivery looks again"
    );
    let card = records.cards.iter().find(|card| card.card_key == claimed);
    assert!(
        card.unwrap().claim.is_some(),
        "the dead execution's claim is untouched"
    );
}

/// … and a claim that runs out while the job waits is taken over: the job sets the card itself.
#[tokio::test]
async fn a_card_claim_that_runs_out_is_taken_over_by_the_waiting_job() {
    let server = feishu().await;
    let service = service(&server);
    card_claimed_by_a_dead_execution(&service, Duration::from_millis(300)).await;
    let job = tap("t1", "APPROVE");

    run(&service, job.clone()).await.unwrap();

    let updates = bodies(&server, UPDATE_PATH).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["status"], "APPROVED");
    let delivery_id = job["delivery_id"].as_str().unwrap();
    let records = service.store().load("i-1").await.unwrap();
    assert!(records.delivery(delivery_id).unwrap().is_finished());
}

/// Sends `i-1`'s card to `t1`, then claims it for an execution that dies holding the claim for
/// `lease`; returns the card's key.
async fn card_claimed_by_a_dead_execution(service: &Service, lease: Duration) -> String {
    run(
        service,
        instance_job(START, "PENDING", &[("t1", "PENDING")], true),
    )
    .await
    .unwrap();
    let store = service.store();
    let records = store.load("i-1").await.unwrap();
    let now = UnixMillis::now().as_millis();
    let claim = CardChange::Claim {
        at_seq: records.seq(),
        target: CardStatus::Approved,
        lease: Lease {
            owner: "died".to_owned(),
            until: now + u64::try_from(lease.as_millis()).unwrap(),
        },
        now_ms: now,
    };
    let card_key = records.cards[0].card_key.clone();
    assert!(store.change_card("i-1", &card_key, &claim).await.unwrap());
    card_key
}
