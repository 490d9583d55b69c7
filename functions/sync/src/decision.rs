//! Decision jobs: an approver approved, rejected or took a custom action on a task.
//!
//! 1. Resolve the task: `instance_id` + `task_id` from the decision, else the bot card's task
//!    (`message_id`, recorded when the card was sent). A decision whose instance cannot be
//!    resolved is kept in a snapshot named `message:<message_id>` (or `task:<task_id>`).
//! 2. A decision already in the snapshot is a duplicate: Feishu is not called again; only its
//!    event is published if that had not happened yet.
//! 3. Otherwise the decision is applied to the stored instance ([`apply_decision`]), and the bot
//!    card update and the instance push (`REPLACE`) run concurrently.
//! 4. The snapshot is saved with the decision recorded, conditional on its version. On a conflict
//!    (a concurrent decision on another task, a newer instance) the decision is re-applied on the
//!    newer snapshot and pushed again before saving again; if it no longer changes the instance
//!    (its task is gone, or a concurrent delivery applied it) the stored instance is pushed again
//!    whenever this job pushed another one. So the last push always starts after every earlier
//!    save and contains every saved decision.
//! 5. The decision event is published, then marked published (best effort).
//!
//! Nothing is recorded before Feishu accepted the instance push. A bot card update Feishu
//! rejects outright (e.g. a card older than 30 days) does not fail the decision: it is reported
//! in the summary and logged, since retrying cannot fix it and the decision must still reach the
//! instance and the company's system. A transient card failure fails the job (and is retried).

use feishu_bridge::callback::ApprovalDecision;
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::time::UnixMillis;
use std::time::Duration;

use tokio::time::Instant;

use crate::apply::{Applied, apply_decision, card_status};
use crate::config::InstanceStatusPolicy;
use crate::error::SyncError;
use crate::events::{DecisionEvent, DecisionPublisher};
use crate::handler::{SyncService, push_instance, update_card};
use crate::store::{
    AppliedDecision, DecisionClaim, Snapshot, SnapshotStore, StoreError, decision_key,
};
use crate::summary::{DecisionOutcome, DecisionSummary, FeishuCall, InstanceEffect};

/// Save attempts before a decision gives up on a contended snapshot (the job is then retried).
pub const MAX_SAVE_ATTEMPTS: u32 = 5;

/// How often a delivery waiting for a concurrent delivery of the same decision looks again.
const CLAIM_POLL: Duration = Duration::from_millis(100);

/// How long a claim outlives the job's Feishu deadline, for the saves around the calls.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// Attempts to mark an event published before leaving the flag unset (a later duplicate
/// delivery then publishes the event again; consumers deduplicate on `decision_id`).
const MAX_MARK_ATTEMPTS: u32 = 3;

/// The task a decision is about, as far as it can be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The snapshot holding the decision: the instance id, or `message:<id>` / `task:<id>` when
    /// the instance is unknown.
    pub snapshot_id: String,
    /// The instance, when known.
    pub instance_id: Option<String>,
    /// The task, when known.
    pub task_id: Option<String>,
    /// The bot card acted on, when the decision came from a card.
    pub message_id: Option<MessageId>,
}

impl Target {
    /// The task part of the idempotency key and the decision id: the task id, else the card.
    fn task_label(&self) -> String {
        match (&self.task_id, &self.message_id) {
            (Some(task_id), _) => task_id.clone(),
            (None, Some(message_id)) => format!("message:{message_id}"),
            (None, None) => String::new(),
        }
    }

    /// The decision's idempotency key in the snapshot.
    pub fn decision_key(&self, action: &ActionType) -> String {
        decision_key(&self.task_label(), action)
    }

    /// The stable id of the decision event: `instance_id/task_id/action`.
    pub fn decision_id(&self, action: &ActionType) -> String {
        let instance = self.instance_id.as_deref().unwrap_or(&self.snapshot_id);
        format!("{instance}/{}/{action}", self.task_label())
    }
}

/// The decision's task id, when it carries one.
fn decision_task_id(decision: &ApprovalDecision) -> Option<&str> {
    decision
        .task_id
        .as_deref()
        .filter(|task_id| !task_id.is_empty())
}

/// Finds the task a decision is about: from its own ids, else from the card it was made on.
pub async fn resolve_target<S: SnapshotStore>(
    store: &S,
    decision: &ApprovalDecision,
) -> Result<Target, SyncError> {
    let instance_id = decision
        .instance_id
        .as_deref()
        .filter(|instance_id| !instance_id.is_empty());
    let task_id = decision_task_id(decision);
    let message_id = decision.message_id.clone();
    if let (Some(instance_id), Some(task_id)) = (instance_id, task_id) {
        return Ok(Target {
            snapshot_id: instance_id.to_owned(),
            instance_id: Some(instance_id.to_owned()),
            task_id: Some(task_id.to_owned()),
            message_id,
        });
    }
    if let Some(message_id) = &message_id {
        if let Some(card) = store.find_card(message_id).await? {
            if task_id.is_some_and(|task_id| task_id != card.task_id) {
                tracing::warn!(
                    %message_id,
                    card_task_id = %card.task_id,
                    "decision names another task than its card; using the card's task"
                );
            }
            return Ok(Target {
                snapshot_id: card.instance_id.clone(),
                instance_id: Some(card.instance_id),
                task_id: Some(card.task_id),
                message_id: Some(message_id.clone()),
            });
        }
        return Ok(Target {
            snapshot_id: format!("message:{message_id}"),
            instance_id: instance_id.map(str::to_owned),
            task_id: task_id.map(str::to_owned),
            message_id: Some(message_id.clone()),
        });
    }
    match task_id {
        Some(task_id) => Ok(Target {
            snapshot_id: format!("task:{task_id}"),
            instance_id: None,
            task_id: Some(task_id.to_owned()),
            message_id: None,
        }),
        None => Err(SyncError::InvalidJob(
            "the decision names no task: it needs `instance_id` and `task_id`, or `message_id`"
                .to_owned(),
        )),
    }
}

/// Applies the decision to `snapshot` and records it; returns what happens to the instance.
pub fn apply_to_snapshot(
    snapshot: &mut Snapshot,
    target: &Target,
    action: &ActionType,
    policy: InstanceStatusPolicy,
    now: UnixMillis,
) -> InstanceEffect {
    let effect = match (snapshot.instance.as_mut(), target.task_id.as_deref()) {
        (Some(instance), Some(task_id)) => {
            match apply_decision(instance, task_id, action, policy, now) {
                Applied::Changed => InstanceEffect::Pushed,
                Applied::Unchanged => InstanceEffect::Unchanged,
                Applied::TaskNotFound => InstanceEffect::TaskNotFound,
            }
        }
        _ => InstanceEffect::NotSynced,
    };
    let key = target.decision_key(action);
    snapshot.claims.remove(&key);
    snapshot.decisions.insert(
        key,
        AppliedDecision {
            applied_at: now,
            event_published: false,
            task_id: target.task_id.clone(),
            action: Some(action.clone()),
        },
    );
    effect
}

/// The result of claiming a decision.
enum Claim {
    /// The decision is already applied (a retry, a double tap, another path).
    Applied(Snapshot),
    /// This delivery holds the decision; `card_updated` tells whether an earlier attempt
    /// already updated the bot card.
    Held {
        snapshot: Snapshot,
        card_updated: bool,
    },
}

/// Claims decision `key` in the snapshot before any Feishu call, so that concurrent deliveries of
/// the same decision change Feishu once: a delivery finding a live claim waits until the decision
/// is applied (then it is a duplicate) or the claim is released. Gives up with a retryable error
/// at the deadline.
async fn claim<S, P>(
    service: &SyncService<S, P>,
    target: &Target,
    key: &str,
    mut snapshot: Snapshot,
    deadline: Instant,
) -> Result<Claim, SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    loop {
        if snapshot.decisions.contains_key(key) {
            return Ok(Claim::Applied(snapshot));
        }
        let now = UnixMillis::now();
        let previous = snapshot.claims.get(key);
        if previous.is_some_and(|claim| claim.lease_until > now) {
            if Instant::now() + CLAIM_POLL > deadline {
                return Err(SyncError::DecisionInFlight {
                    decision_key: key.to_owned(),
                });
            }
            tokio::time::sleep(CLAIM_POLL).await;
            snapshot = service.store.load(&target.snapshot_id).await?;
            continue;
        }
        let card_updated = previous.is_some_and(|claim| claim.card_updated);
        let lease = service.settings.deadline + CLAIM_MARGIN;
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        snapshot.claims.insert(
            key.to_owned(),
            DecisionClaim {
                lease_until: UnixMillis::from_millis(now.as_millis().saturating_add(lease_ms)),
                card_updated,
            },
        );
        match service.store.save(&snapshot).await {
            Ok(version) => {
                snapshot.version = version;
                return Ok(Claim::Held {
                    snapshot,
                    card_updated,
                });
            }
            Err(StoreError::Conflict { .. }) => {
                snapshot = service.store.load(&target.snapshot_id).await?;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Ends a failed attempt's claim on `key` at once, keeping whether the card was updated, so that
/// Lambda's retry (or another delivery) neither waits for the lease nor updates the card again.
/// Best effort: if it cannot be saved, the lease runs out by itself.
async fn release<S: SnapshotStore>(store: &S, snapshot_id: &str, key: &str, card_updated: bool) {
    for _ in 0..MAX_MARK_ATTEMPTS {
        let mut snapshot = match store.load(snapshot_id).await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(%error, "could not reload the snapshot to release a decision claim");
                return;
            }
        };
        let Some(claim) = snapshot.claims.get_mut(key) else {
            return;
        };
        claim.lease_until = UnixMillis::ZERO;
        claim.card_updated |= card_updated;
        match store.save(&snapshot).await {
            Ok(_) => return,
            Err(StoreError::Conflict { .. }) => continue,
            Err(error) => {
                tracing::warn!(%error, "could not release a decision claim; its lease will end it");
                return;
            }
        }
    }
}

/// Runs a decision job.
pub(crate) async fn handle_decision<S, P>(
    service: &SyncService<S, P>,
    job: DecisionJob,
    deadline: Instant,
) -> Result<DecisionSummary, SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let decision = &job.decision;
    let action = &decision.action;
    let target = resolve_target(&service.store, decision).await?;
    let key = target.decision_key(action);
    let snapshot = service.store.load(&target.snapshot_id).await?;
    let summary = DecisionSummary {
        decision_id: target.decision_id(action),
        outcome: DecisionOutcome::Applied,
        instance_id: target.instance_id.clone(),
        task_id: target.task_id.clone(),
        instance: InstanceEffect::AlreadyApplied,
        instance_status: None,
        card: None,
        event_published: false,
        calls: Vec::new(),
    };

    let (working, card_updated) = match claim(service, &target, &key, snapshot, deadline).await? {
        Claim::Held {
            snapshot,
            card_updated,
        } => (snapshot, card_updated),
        Claim::Applied(snapshot) => {
            return duplicate(service, &job, &target, &key, summary, snapshot).await;
        }
    };
    let mut card_done = card_updated;
    let result = apply_claimed(
        service,
        &job,
        &target,
        working,
        summary,
        &mut card_done,
        deadline,
    )
    .await;
    if result.is_err() {
        release(&service.store, &target.snapshot_id, &key, card_done).await;
    }
    result
}

/// Answers a decision already applied: no Feishu call, only its event if still unpublished.
async fn duplicate<S, P>(
    service: &SyncService<S, P>,
    job: &DecisionJob,
    target: &Target,
    key: &str,
    mut summary: DecisionSummary,
    snapshot: Snapshot,
) -> Result<DecisionSummary, SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    if let Some(applied) = snapshot.decisions.get(key) {
        tracing::info!(decision_id = %summary.decision_id, "duplicate decision");
        summary.outcome = DecisionOutcome::Duplicate;
        summary.instance_status = snapshot.instance.as_ref().map(|i| i.status.clone());
        summary.event_published = applied.event_published;
        if !applied.event_published {
            let applied_at = applied.applied_at;
            publish(service, job, target, &summary, applied_at, snapshot).await?;
            summary.event_published = true;
        }
    }
    Ok(summary)
}

/// Applies a claimed decision: bot card and instance push concurrently, then the save that
/// records it, then its event. `card_done` tells (and learns) whether the card is updated.
async fn apply_claimed<S, P>(
    service: &SyncService<S, P>,
    job: &DecisionJob,
    target: &Target,
    snapshot: Snapshot,
    mut summary: DecisionSummary,
    card_done: &mut bool,
    deadline: Instant,
) -> Result<DecisionSummary, SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let action = &job.decision.action;
    let key = target.decision_key(action);
    let card = target.message_id.clone().or_else(|| {
        target
            .task_id
            .as_ref()
            .and_then(|task_id| snapshot.cards.get(task_id).cloned())
    });
    let policy = service.settings.instance_status_policy;
    let now = UnixMillis::now();
    let mut working = snapshot;
    let mut effect = apply_to_snapshot(&mut working, target, action, policy, now);
    let to_push = pushable(effect, &working);

    let card_update = async {
        match &card {
            Some(message_id) if !*card_done => {
                Some(update_card(service, message_id, card_status(action), deadline).await)
            }
            _ => None,
        }
    };
    let instance_push = async {
        match &to_push {
            Some(instance) => Some(push_instance(service, instance, deadline).await),
            None => None,
        }
    };
    let (card_result, push_result) = tokio::join!(card_update, instance_push);

    summary.card = card.clone();
    if let Some(result) = card_result {
        match result {
            Ok(call) => {
                *card_done = true;
                summary.calls.push(call);
            }
            Err(SyncError::Feishu {
                api,
                target,
                source,
            }) if !source.is_retryable() => {
                tracing::warn!(
                    message_id = %target,
                    error = %source,
                    "Feishu rejected the bot card update; the decision is applied without it"
                );
                *card_done = true;
                summary.calls.push(FeishuCall::failed(api, target, &source));
            }
            Err(error) => return Err(error),
        }
    }
    let mut last_pushed = match push_result {
        Some(result) => {
            summary.calls.push(result?);
            to_push
        }
        None => None,
    };

    let mut attempts = 1;
    loop {
        match service.store.save(&working).await {
            Ok(version) => {
                working.version = version;
                break;
            }
            Err(StoreError::Conflict { .. }) if attempts < MAX_SAVE_ATTEMPTS => {
                attempts += 1;
                let latest = service.store.load(&target.snapshot_id).await?;
                if latest.decisions.contains_key(&key) {
                    tracing::info!(
                        decision_id = %summary.decision_id,
                        "a concurrent delivery applied the same decision"
                    );
                    if let Some(instance) = overtaken(last_pushed.as_ref(), &latest) {
                        summary
                            .calls
                            .push(push_instance(service, &instance, deadline).await?);
                    }
                    working = latest;
                    break;
                }
                working = latest;
                effect = apply_to_snapshot(&mut working, target, action, policy, UnixMillis::now());
                let repush = pushable(effect, &working)
                    .or_else(|| overtaken(last_pushed.as_ref(), &working));
                if let Some(instance) = repush {
                    summary
                        .calls
                        .push(push_instance(service, &instance, deadline).await?);
                    last_pushed = Some(instance);
                }
            }
            Err(StoreError::Conflict { .. }) => {
                return Err(SyncError::TooManyConflicts {
                    instance_id: target.snapshot_id.clone(),
                    attempts,
                });
            }
            Err(error) => return Err(error.into()),
        }
    }

    summary.instance = effect;
    summary.instance_status = working.instance.as_ref().map(|i| i.status.clone());
    let applied_at = working
        .decisions
        .get(&key)
        .map_or(now, |applied| applied.applied_at);
    if working
        .decisions
        .get(&key)
        .is_some_and(|applied| applied.event_published)
    {
        summary.event_published = true;
        return Ok(summary);
    }
    publish(service, job, target, &summary, applied_at, working).await?;
    summary.event_published = true;
    Ok(summary)
}

/// The instance to push after applying a decision with `effect`.
fn pushable(effect: InstanceEffect, snapshot: &Snapshot) -> Option<ExternalInstance> {
    match effect {
        InstanceEffect::Pushed => snapshot.instance.clone(),
        _ => None,
    }
}

/// The stored instance, when this job pushed a different one earlier: that push may have
/// reached Feishu after the save that stored `latest`, so the stored instance must go out again
/// (`REPLACE` does not compare `update_time`) for Feishu to end on what the store holds.
fn overtaken(
    last_pushed: Option<&ExternalInstance>,
    latest: &Snapshot,
) -> Option<ExternalInstance> {
    match (last_pushed, &latest.instance) {
        (Some(pushed), Some(stored)) if pushed != stored => Some(stored.clone()),
        _ => None,
    }
}

/// Publishes the decision event, then marks it published in the snapshot (best effort).
async fn publish<S, P>(
    service: &SyncService<S, P>,
    job: &DecisionJob,
    target: &Target,
    summary: &DecisionSummary,
    applied_at: UnixMillis,
    snapshot: Snapshot,
) -> Result<(), SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let mut decision = job.decision.clone();
    if decision.instance_id.is_none() {
        decision.instance_id = target.instance_id.clone();
    }
    if decision_task_id(&decision).is_none() {
        decision.task_id = target.task_id.clone();
    }
    if decision.message_id.is_none() {
        decision.message_id = summary.card.clone();
    }
    let event = DecisionEvent {
        decision_id: summary.decision_id.clone(),
        decision,
        instance_status: summary.instance_status.clone(),
        received_at: job.received_at,
        applied_at,
    };
    service.publisher.publish(&event).await?;
    mark_published(
        &service.store,
        snapshot,
        &target.decision_key(&job.decision.action),
    )
    .await;
    Ok(())
}

/// Sets `event_published` on decision `key`, reloading on conflicts; failures are only logged.
async fn mark_published<S: SnapshotStore>(store: &S, mut snapshot: Snapshot, key: &str) {
    for _ in 0..MAX_MARK_ATTEMPTS {
        let Some(applied) = snapshot.decisions.get_mut(key) else {
            return;
        };
        if applied.event_published {
            return;
        }
        applied.event_published = true;
        match store.save(&snapshot).await {
            Ok(_) => return,
            Err(StoreError::Conflict { .. }) => match store.load(&snapshot.instance_id).await {
                Ok(latest) => snapshot = latest,
                Err(error) => {
                    tracing::warn!(%error, "could not reload the snapshot to mark the event published");
                    return;
                }
            },
            Err(error) => {
                tracing::warn!(%error, "could not mark the decision event published");
                return;
            }
        }
    }
    tracing::warn!("gave up marking the decision event published after concurrent changes");
}

#[cfg(test)]
mod tests {
    use feishu_bridge::job::SyncJob;

    use super::*;
    use crate::store::{CardRef, InMemoryStore};

    fn decision(json: serde_json::Value) -> ApprovalDecision {
        let mut job = json;
        job["type"] = "decision".into();
        job["received_at"] = "1700000000000".into();
        match serde_json::from_value::<SyncJob>(job).unwrap() {
            SyncJob::Decision(job) => job.decision,
            other => panic!("not a decision: {other:?}"),
        }
    }

    #[tokio::test]
    async fn list_decisions_resolve_from_their_own_ids() {
        let store = InMemoryStore::new();
        let decision = decision(serde_json::json!({
            "approval_code": "C", "instance_id": "i-1", "task_id": "t-1",
            "action": "APPROVE", "user_id": "u"
        }));
        let target = resolve_target(&store, &decision).await.unwrap();
        assert_eq!(target.snapshot_id, "i-1");
        assert_eq!(target.decision_id(&decision.action), "i-1/t-1/APPROVE");
        assert_eq!(target.decision_key(&decision.action), "t-1/APPROVE");
    }

    #[tokio::test]
    async fn card_decisions_resolve_through_the_recorded_card() {
        let store = InMemoryStore::new();
        let message_id = MessageId::from(7690275278685244603u64);
        store
            .put_card(
                &message_id,
                &CardRef {
                    instance_id: "i-1".to_owned(),
                    task_id: "t-1".to_owned(),
                },
            )
            .await
            .unwrap();
        let decision = decision(serde_json::json!({
            "approval_code": "C", "message_id": "7690275278685244603",
            "action": "REJECT", "user_id": "u"
        }));
        let target = resolve_target(&store, &decision).await.unwrap();
        assert_eq!(target.instance_id.as_deref(), Some("i-1"));
        assert_eq!(target.task_id.as_deref(), Some("t-1"));
        assert_eq!(target.decision_id(&decision.action), "i-1/t-1/REJECT");
    }

    #[tokio::test]
    async fn unknown_cards_get_a_snapshot_of_their_own() {
        let store = InMemoryStore::new();
        let decision = decision(serde_json::json!({
            "approval_code": "C", "message_id": "42", "action": "APPROVE", "user_id": "u"
        }));
        let target = resolve_target(&store, &decision).await.unwrap();
        assert_eq!(target.snapshot_id, "message:42");
        assert_eq!(target.decision_key(&decision.action), "message:42/APPROVE");
    }

    #[tokio::test]
    async fn a_decision_without_task_or_card_is_invalid() {
        let store = InMemoryStore::new();
        let decision = decision(serde_json::json!({
            "approval_code": "C", "instance_id": "i-1", "action": "APPROVE", "user_id": "u"
        }));
        assert!(matches!(
            resolve_target(&store, &decision).await,
            Err(SyncError::InvalidJob(_))
        ));
    }
}
