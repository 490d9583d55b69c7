//! Instance jobs: the company's system pushes a whole instance, optionally asking for bot cards.
//!
//! The instance is checked ([`ExternalInstance::validate`]) and must be whole (`update_mode`
//! `REPLACE` or absent), since later decisions push the stored copy with `REPLACE`. A job whose
//! `update_time` is not newer than the stored instance's is stale: it is ignored and reported,
//! without a Feishu call. Otherwise the instance is pushed, then stored conditionally; on a
//! conflict the snapshot is reloaded and the staleness checked again — if the stored instance
//! is now newer it is pushed again (this job's push may have reached Feishu last), else this
//! job's instance is pushed again and stored.
//!
//! With `notify`, every pending task of the stored instance with an approver and no card yet
//! gets a template-1008 card ([`todo_card`]) with a deterministic `uuid`; each card is recorded
//! in the snapshot and in the card index, so retries and later jobs send none again and a
//! decision from the Approval Center list updates that card.

use feishu_bridge::job::InstanceJob;
use feishu_bridge::models::CallbackEndpoint;
use feishu_bridge::models::instance::{ExternalInstance, UpdateMode};
use feishu_bridge::models::time::UnixMillis;
use tokio::time::Instant;

use crate::apply::apply_decision;
use crate::cards::{needs_card, todo_card};
use crate::decision::MAX_SAVE_ATTEMPTS;
use crate::error::SyncError;
use crate::events::DecisionPublisher;
use crate::handler::{SyncService, push_instance};
use crate::store::{CardRef, Snapshot, SnapshotStore, StoreError};
use crate::summary::{FeishuCall, InstanceOutcome, InstanceSummary, SEND_MESSAGE_API, SentCard};

/// Runs an instance job.
pub(crate) async fn handle_instance<S, P>(
    service: &SyncService<S, P>,
    job: InstanceJob,
    deadline: Instant,
) -> Result<InstanceSummary, SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let InstanceJob { instance, notify } = job;
    if instance.update_mode == Some(UpdateMode::Update) {
        return Err(SyncError::InvalidJob(
            "instance jobs must carry the whole instance: `update_mode` UPDATE is not supported"
                .to_owned(),
        ));
    }
    instance.validate().map_err(|error| {
        SyncError::InvalidJob(format!(
            "instance {} would be rejected by Feishu: {error}",
            instance.instance_id
        ))
    })?;
    let instance_id = instance.instance_id.clone();
    let mut summary = InstanceSummary {
        instance_id: instance_id.clone(),
        outcome: InstanceOutcome::Synced,
        stored_update_time: None,
        cards_sent: Vec::new(),
        calls: Vec::new(),
    };

    let mut instance = instance;
    let mut snapshot = service.store.load(&instance_id).await?;
    let mut pushed = false;
    let mut attempts = 0;
    loop {
        if let Some(stored) = &snapshot.instance
            && stored.update_time >= instance.update_time
        {
            tracing::info!(
                stored_update_time = %stored.update_time,
                update_time = %instance.update_time,
                "instance job is stale; not pushed"
            );
            summary.outcome = InstanceOutcome::Stale;
            summary.stored_update_time = Some(stored.update_time);
            if pushed {
                // This job's older instance may have reached Feishu after the newer one.
                summary
                    .calls
                    .push(push_instance(service, stored, deadline).await?);
            }
            break;
        }
        summary
            .calls
            .push(push_instance(service, &instance, deadline).await?);
        pushed = true;
        snapshot.instance = Some(instance.clone());
        attempts += 1;
        match service.store.save(&snapshot).await {
            Ok(version) => {
                snapshot.version = version;
                break;
            }
            Err(StoreError::Conflict { .. }) if attempts < MAX_SAVE_ATTEMPTS => {
                let latest = service.store.load(&instance_id).await?;
                reapply_raced_decisions(service, &mut instance, &snapshot, &latest);
                snapshot = latest;
            }
            Err(StoreError::Conflict { .. }) => {
                return Err(SyncError::TooManyConflicts {
                    instance_id,
                    attempts,
                });
            }
            Err(error) => return Err(error.into()),
        }
    }

    if notify {
        send_cards(service, snapshot, &mut summary, deadline).await?;
    }
    Ok(summary)
}

/// Applies to `instance` the decisions recorded in `latest` but not in `loaded`: an approver
/// acted (from the list, on the instance this job just pushed) before this job could store it.
/// Without this, the job's save would store, and its next push would show, the task undecided.
fn reapply_raced_decisions<S, P>(
    service: &SyncService<S, P>,
    instance: &mut ExternalInstance,
    loaded: &Snapshot,
    latest: &Snapshot,
) where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let raced = latest
        .decisions
        .iter()
        .filter(|(key, _)| !loaded.decisions.contains_key(*key));
    for (_, decision) in raced {
        if let (Some(task_id), Some(action)) = (&decision.task_id, &decision.action) {
            let policy = service.settings.instance_status_policy;
            apply_decision(instance, task_id, action, policy, UnixMillis::now());
        }
    }
}

/// Sends a card to each pending task of the stored instance that has none, and records them.
/// Cards sent before a failure are recorded before the failure is returned.
async fn send_cards<S, P>(
    service: &SyncService<S, P>,
    snapshot: Snapshot,
    summary: &mut InstanceSummary,
    deadline: Instant,
) -> Result<(), SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let Some(instance) = snapshot.instance.as_ref() else {
        return Ok(());
    };
    let pending: Vec<_> = instance
        .task_list
        .iter()
        .filter(|task| needs_card(task, &snapshot.cards))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let Some(url) = service.settings.callback_url.as_deref() else {
        return Err(SyncError::NotConfigured(
            "CALLBACK_URL",
            "send quick-approval bot cards (`notify`)",
        ));
    };
    let credentials = service
        .credentials
        .credentials()
        .await
        .map_err(SyncError::Credentials)?;
    let callback = CallbackEndpoint::new(
        url,
        &credentials.callback_token,
        credentials.callback_key.as_ref(),
    );

    let mut failure = None;
    for task in pending {
        let request = todo_card(instance, task, &callback);
        let target = format!("{}/{}", instance.instance_id, task.task_id);
        match service.feishu.send_message(&request, deadline).await {
            Ok(message_id) => {
                summary
                    .calls
                    .push(FeishuCall::accepted(SEND_MESSAGE_API, target));
                let card = CardRef {
                    instance_id: instance.instance_id.clone(),
                    task_id: task.task_id.clone(),
                };
                if let Err(error) = service.store.put_card(&message_id, &card).await {
                    failure = Some(error.into());
                    break;
                }
                summary.cards_sent.push(SentCard {
                    task_id: task.task_id.clone(),
                    message_id,
                });
            }
            Err(error) => {
                summary
                    .calls
                    .push(FeishuCall::failed(SEND_MESSAGE_API, target.clone(), &error));
                failure = Some(SyncError::feishu(SEND_MESSAGE_API, target, error));
                break;
            }
        }
    }
    let instance_id = instance.instance_id.clone();
    record_cards(service, snapshot, &instance_id, &summary.cards_sent).await?;
    failure.map_or(Ok(()), Err)
}

/// Adds the sent cards to the snapshot, reloading on conflicts.
async fn record_cards<S, P>(
    service: &SyncService<S, P>,
    mut snapshot: Snapshot,
    instance_id: &str,
    cards: &[SentCard],
) -> Result<(), SyncError>
where
    S: SnapshotStore,
{
    if cards.is_empty() {
        return Ok(());
    }
    for attempt in 1..=MAX_SAVE_ATTEMPTS {
        for card in cards {
            snapshot
                .cards
                .entry(card.task_id.clone())
                .or_insert_with(|| card.message_id.clone());
        }
        match service.store.save(&snapshot).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) if attempt < MAX_SAVE_ATTEMPTS => {
                snapshot = service.store.load(instance_id).await?;
            }
            Err(StoreError::Conflict { .. }) => break,
            Err(error) => return Err(error.into()),
        }
    }
    Err(SyncError::TooManyConflicts {
        instance_id: instance_id.to_owned(),
        attempts: MAX_SAVE_ATTEMPTS,
    })
}
