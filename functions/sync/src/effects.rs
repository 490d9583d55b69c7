//! What a job does in Feishu and on the bus once its records are written: push the derived
//! instance (again, while overtaken), bring the bot cards to the state of their tasks, send new
//! cards, publish events, and set the records' expiry. Every effect reads the records, so a
//! Lambda retry simply does again whatever is still undone.

use std::sync::Arc;

use feishu_bridge::client::CallCollector;
use feishu_bridge::ids::MessageId;
use feishu_bridge::lifecycle;
use feishu_bridge::models::CallbackEndpoint;
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::message::{CardStatus, UpdateMessageRequest};
use feishu_bridge::store::{
    CardChange, CardRecord, CardRef, Expiry, InstanceRecords, InstanceStore, Lease, PushRelease,
    RefusedCardUpdate,
};
use tokio::time::Instant;

use crate::cards::{card_uuid, todo_card, wants_card};
use crate::error::SyncError;
use crate::events::{BridgeEvent, EventPublisher};
use crate::plan::{CardUpdate, card_updates, cards_claimed};
use crate::service::{LEASE_POLL, SyncService};
use crate::summary::{
    FeishuCall, SEND_MESSAGE_API, SYNC_INSTANCE_API, SentCard, UPDATE_MESSAGE_API, UpdatedCard,
};

/// Rounds of card updates one job makes while the instance keeps moving under it.
const MAX_CARD_ROUNDS: usize = 5;

/// Pushes a whole instance (`external_instances`).
pub(crate) async fn push<S, P>(
    service: &SyncService<S, P>,
    instance: &ExternalInstance,
    deadline: Instant,
) -> Result<FeishuCall, SyncError> {
    let target = instance.instance_id.clone();
    match service.feishu.sync_instance(instance, deadline).await {
        Ok(_) => Ok(FeishuCall::accepted(SYNC_INSTANCE_API, target)),
        Err(error) => Err(SyncError::feishu(SYNC_INSTANCE_API, target, error)),
    }
}

/// Sends a `message/update` exactly as given.
pub(crate) async fn update_message<S, P>(
    service: &SyncService<S, P>,
    update: &UpdateMessageRequest,
    deadline: Instant,
) -> Result<FeishuCall, SyncError> {
    let target = update.message_id.to_string();
    match service.feishu.update_message(update, deadline).await {
        Ok(_) => Ok(FeishuCall::accepted(UPDATE_MESSAGE_API, target)),
        Err(error) => Err(SyncError::feishu(UPDATE_MESSAGE_API, target, error)),
    }
}

/// Sets the status of bot card `message_id`.
pub(crate) async fn update_card<S, P>(
    service: &SyncService<S, P>,
    message_id: &MessageId,
    status: CardStatus,
    deadline: Instant,
) -> Result<FeishuCall, SyncError> {
    let update = UpdateMessageRequest {
        message_id: message_id.clone(),
        status,
        status_name: None,
        detail_action_name: None,
        i18n_resources: Vec::new(),
    };
    update_message(service, &update, deadline).await
}

/// What a push of the latest state came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// This job pushed the latest derived instance.
    Pushed,
    /// Another execution is pushing the instance right now: it pushes the latest state before it
    /// lets go, so this job does not push.
    Superseded,
    /// No base: nothing to push.
    Nothing,
}

/// Pushes the latest derived instance, holding the instance's push lease so that pushes of one
/// instance never overlap (`REPLACE` does not compare versions: overlapping pushes could land in
/// the wrong order). The holder lets go only when the head is still at the position it pushed;
/// if the instance moved while the push was on its way, it pushes the latest again — so Feishu
/// ends on the state at the highest position, and a burst of changes is pushed about twice, not
/// once per change. A job that finds the lease held waits for its holder to push a position at
/// least its own — or for the lease to run out (the holder died) and takes over; past the
/// deadline it fails with `PushInFlight`, so Lambda's retry looks again.
pub(crate) async fn push_latest<S, P>(
    service: &SyncService<S, P>,
    records: InstanceRecords,
    lease: &Lease,
    deadline: Instant,
    calls: &mut Vec<FeishuCall>,
) -> Result<PushOutcome, SyncError>
where
    S: InstanceStore,
{
    let instance_id = records.instance_id.clone();
    let policy = service.settings.instance_status_policy;
    if records.head.is_none() {
        return Ok(PushOutcome::Nothing);
    }
    let now_ms = service.clock.now().as_millis();
    let mut records = records;
    if !service
        .store
        .claim_push(&instance_id, lease, now_ms)
        .await?
    {
        match await_push(service, &instance_id, records.seq(), lease, deadline).await? {
            AwaitedPush::PushedByHolder => return Ok(PushOutcome::Superseded),
            AwaitedPush::TookOver => records = service.store.load(&instance_id).await?,
        }
    }
    let mut pushed = PushOutcome::Nothing;
    loop {
        let seq = records.seq();
        if let Some(instance) = records.for_feishu(policy) {
            match push(service, &instance, deadline).await {
                Ok(call) => calls.push(call),
                Err(error) => {
                    release_after_failure(service, &instance_id, lease).await;
                    return Err(error);
                }
            }
            pushed = PushOutcome::Pushed;
        }
        match service
            .store
            .release_push(&instance_id, &lease.owner, seq)
            .await?
        {
            PushRelease::Released | PushRelease::Lost => return Ok(pushed),
            // The mutant never pushes again after the instance moved under its push.
            PushRelease::Moved if cfg!(feature = "mutant-no-repush") => return Ok(pushed),
            PushRelease::Moved => {
                tracing::info!(
                    seq,
                    "the instance moved while it was pushed; pushing the latest"
                );
                records = service.store.load(&instance_id).await?;
            }
        }
    }
}

/// How waiting for another execution's push lease ended.
enum AwaitedPush {
    /// The holder pushed a position at least the awaited one.
    PushedByHolder,
    /// The lease was released or ran out before that, and this execution took it.
    TookOver,
}

/// Waits until the instance's pushed position reaches `seq`, or the push lease is free to take.
async fn await_push<S, P>(
    service: &SyncService<S, P>,
    instance_id: &str,
    seq: u64,
    lease: &Lease,
    deadline: Instant,
) -> Result<AwaitedPush, SyncError>
where
    S: InstanceStore,
{
    loop {
        if Instant::now() + LEASE_POLL >= deadline {
            return Err(SyncError::PushInFlight {
                instance_id: instance_id.to_owned(),
            });
        }
        tokio::time::sleep(LEASE_POLL).await;
        let pushed = service
            .store
            .load_head(instance_id)
            .await?
            .is_some_and(|head| head.pushed_seq >= seq);
        if pushed {
            return Ok(AwaitedPush::PushedByHolder);
        }
        let now_ms = service.clock.now().as_millis();
        if service.store.claim_push(instance_id, lease, now_ms).await? {
            return Ok(AwaitedPush::TookOver);
        }
    }
}

/// Lets go of the push lease after a failed push, so a retry or another job need not wait for
/// it to run out. Best effort: failing that, the lease runs out by itself.
async fn release_after_failure<S, P>(service: &SyncService<S, P>, instance_id: &str, lease: &Lease)
where
    S: InstanceStore,
{
    let expired = Lease {
        owner: lease.owner.clone(),
        until: 0,
    };
    if let Err(error) = service.store.claim_push(instance_id, &expired, 0).await {
        tracing::warn!(%error, "could not release the push lease; it runs out by itself");
    }
}

/// Brings every card of the instance to the status the lifecycle gives its task and instance,
/// each once: a card is claimed (only while the head is where its target was derived) before
/// Feishu is called, and its new status recorded after. A card Feishu refuses for good is
/// recorded as such and not tried again; a transient failure releases the claim with the card's
/// status unknown and fails the job, so the card is set again; an outcome that could not be
/// recorded fails the job and leaves the claim to run out (the status is then unknown too). If the head moved meanwhile, the cards are brought to the newer state
/// too. Returns whether this execution saw every card to its state: `false` when it left a card
/// to a claim another execution held (which may die before settling it).
pub(crate) async fn sync_cards<S, P>(
    service: &SyncService<S, P>,
    mut records: InstanceRecords,
    lease: &Lease,
    deadline: Instant,
    calls: &mut Vec<FeishuCall>,
    updated: &mut Vec<UpdatedCard>,
) -> Result<bool, SyncError>
where
    S: InstanceStore,
{
    let instance_id = records.instance_id.clone();
    let policy = service.settings.instance_status_policy;
    let mut complete = true;
    for _ in 0..MAX_CARD_ROUNDS {
        let seq = records.seq();
        let now_ms = service.clock.now().as_millis();
        let mut claimed_any = false;
        complete &= !cards_claimed(&records, now_ms);
        for update in card_updates(&records, policy, now_ms) {
            let claim = CardChange::Claim {
                at_seq: seq,
                target: update.status.clone(),
                lease: lease.clone(),
                now_ms,
            };
            if !service
                .store
                .change_card(&instance_id, &update.card_key, &claim)
                .await?
            {
                // Claimed by another execution (which will finish it), or the head moved.
                complete = false;
                continue;
            }
            claimed_any = true;
            set_card(
                service,
                &instance_id,
                &update,
                lease,
                deadline,
                calls,
                updated,
            )
            .await?;
        }
        if !claimed_any {
            return Ok(complete);
        }
        let head_seq = service
            .store
            .load_head(&instance_id)
            .await?
            .map_or(0, |head| head.seq);
        if head_seq == seq {
            return Ok(complete);
        }
        records = service.store.load(&instance_id).await?;
    }
    Ok(complete)
}

/// Sets one claimed card's status in Feishu and records the outcome.
async fn set_card<S, P>(
    service: &SyncService<S, P>,
    instance_id: &str,
    update: &CardUpdate,
    lease: &Lease,
    deadline: Instant,
    calls: &mut Vec<FeishuCall>,
    updated: &mut Vec<UpdatedCard>,
) -> Result<(), SyncError>
where
    S: InstanceStore,
{
    let result = update_card(service, &update.message_id, update.status.clone(), deadline).await;
    let settlement = match result {
        Ok(call) => {
            calls.push(call);
            updated.push(UpdatedCard {
                message_id: update.message_id.clone(),
                status: update.status.clone(),
            });
            CardChange::Settle {
                owner: lease.owner.clone(),
                status: Some(update.status.clone()),
                refused: None,
            }
        }
        Err(SyncError::Feishu {
            api,
            target,
            source,
        }) if !source.is_retryable() => {
            tracing::warn!(
                message_id = %target,
                error = %source,
                "Feishu refused the bot card update; it is not tried again"
            );
            calls.push(FeishuCall::failed(api, target, &source));
            CardChange::Settle {
                owner: lease.owner.clone(),
                status: None,
                refused: Some(RefusedCardUpdate {
                    status: update.status.clone(),
                    code: source.code(),
                }),
            }
        }
        // Feishu may have applied the update (an answer lost): the card's status is unknown,
        // and the job fails so that it is set again. Unrecorded, the claim runs out instead.
        Err(error) => {
            let unsettle = CardChange::Unsettle {
                owner: lease.owner.clone(),
            };
            if let Err(store_error) = service
                .store
                .change_card(instance_id, &update.card_key, &unsettle)
                .await
            {
                tracing::warn!(error = %store_error, "could not release the card's claim; it runs out");
            }
            return Err(error);
        }
    };
    // Unrecorded, the card's status is unknown once the claim runs out: the job fails, and
    // Lambda's retry sets the card again.
    service
        .store
        .change_card(instance_id, &update.card_key, &settlement)
        .await?;
    Ok(())
}

/// Sends a template-1008 card to each pending task (as derived) of a pending instance with an
/// approver and no card for its current version, and records each. A card is recorded (without
/// its id) before it is sent; when a send is repeated — by a retried job, or by the client after
/// a lost answer — an earlier attempt may have delivered the card, and Feishu answers a repeated
/// `uuid` with the first id, no id, or a new one: the answer's id is not trusted, and the card
/// stays without one until a callback from it tells it.
pub(crate) async fn send_cards<S, P>(
    service: &SyncService<S, P>,
    records: &InstanceRecords,
    deadline: Instant,
    calls: &mut Vec<FeishuCall>,
    sent: &mut Vec<SentCard>,
) -> Result<(), SyncError>
where
    S: InstanceStore,
{
    let Some(instance) = records.derive(service.settings.instance_status_policy) else {
        return Ok(());
    };
    let Some(base) = &records.base else {
        return Ok(());
    };
    // A final instance takes no decisions: its pending tasks get no card.
    if lifecycle::is_final(&instance.status) {
        return Ok(());
    }
    let expires_at = records.head.as_ref().and_then(|head| head.expires_at);
    let mut wanted = Vec::new();
    for task in instance.task_list.iter().filter(|task| wants_card(task)) {
        let version = base.task_version(&task.task_id);
        let card = records
            .cards
            .iter()
            .find(|card| card.task_id == task.task_id && card.task_version == version);
        match card {
            Some(card) if card.sent => {}
            Some(card) => wanted.push((task, version, Some(card.card_key.clone()))),
            None => wanted.push((task, version, None)),
        }
    }
    if wanted.is_empty() {
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
    let instance_id = records.instance_id.as_str();
    for (task, version, unfinished) in wanted {
        let card_key = card_uuid(instance_id, &task.task_id, version);
        let repeated = match unfinished {
            Some(_) => true,
            None => {
                let intent = CardRecord {
                    card_key: card_key.clone(),
                    task_id: task.task_id.clone(),
                    task_version: version,
                    message_id: None,
                    sent: false,
                    status: None,
                    refused: None,
                    claim: None,
                    expires_at,
                };
                if !service.store.put_card(instance_id, &intent).await? {
                    // Another execution is sending it right now.
                    continue;
                }
                false
            }
        };
        let request = todo_card(&instance, task, version, &callback);
        let target = format!("{instance_id}/{}", task.task_id);
        // The client retries a send whose answer was lost: then, too, the answer is to a
        // repeated uuid.
        let attempts = Arc::new(CallCollector::default());
        let feishu = service.feishu.also_observed_by(attempts.clone());
        let message_id = match feishu.send_message(&request, deadline).await {
            Ok(message_id) => {
                calls.push(FeishuCall::accepted(SEND_MESSAGE_API, target));
                let retried = attempts.take().iter().any(|report| report.retries() > 0);
                message_id.filter(|_| !repeated && !retried)
            }
            Err(error) => {
                calls.push(FeishuCall::failed(SEND_MESSAGE_API, target.clone(), &error));
                return Err(SyncError::feishu(SEND_MESSAGE_API, target, error));
            }
        };
        let change = CardChange::Sent {
            message_id: message_id.clone(),
        };
        service
            .store
            .change_card(instance_id, &card_key, &change)
            .await?;
        if let Some(message_id) = &message_id {
            let card = CardRef {
                instance_id: instance_id.to_owned(),
                task_id: task.task_id.clone(),
            };
            service.store.index_card(message_id, &card).await?;
        }
        sent.push(SentCard {
            task_id: task.task_id.clone(),
            message_id,
        });
    }
    Ok(())
}

/// Makes the card a callback came from one of the instance's cards, so it follows its task: its
/// id is learnt by the card of that task version sent without a known id, or it is adopted.
/// Returns the records with the card.
pub(crate) async fn adopt_card<S, P>(
    service: &SyncService<S, P>,
    mut records: InstanceRecords,
    task_id: &str,
    message_id: &MessageId,
) -> Result<InstanceRecords, SyncError>
where
    S: InstanceStore,
{
    if records.head.is_none() || records.card_by_message(message_id).is_some() {
        return Ok(records);
    }
    let instance_id = records.instance_id.clone();
    let version = records
        .base
        .as_ref()
        .map_or(Default::default(), |base| base.task_version(task_id));
    let unknown = records.cards.iter_mut().find(|card| {
        card.task_id == task_id && card.task_version == version && card.message_id.is_none()
    });
    match unknown {
        Some(card) => {
            let change = CardChange::LearnMessageId(message_id.clone());
            if service
                .store
                .change_card(&instance_id, &card.card_key, &change)
                .await?
            {
                card.message_id = Some(message_id.clone());
            }
        }
        None => {
            let card = CardRecord {
                card_key: feishu_bridge::store::records::adopted_card_key(message_id),
                task_id: task_id.to_owned(),
                task_version: version,
                message_id: Some(message_id.clone()),
                sent: true,
                status: None,
                refused: None,
                claim: None,
                expires_at: records.head.as_ref().and_then(|head| head.expires_at),
            };
            service.store.put_card(&instance_id, &card).await?;
            records.cards.push(card);
        }
    }
    let card = CardRef {
        instance_id,
        task_id: task_id.to_owned(),
    };
    service.store.index_card(message_id, &card).await?;
    Ok(records)
}

/// Sets the card a custom action was taken on to `PROCESSED` (its task stays pending, so the
/// lifecycle gives it no status of its own).
pub(crate) async fn mark_card_processed<S, P>(
    service: &SyncService<S, P>,
    records: &InstanceRecords,
    message_id: &MessageId,
    lease: &Lease,
    deadline: Instant,
    calls: &mut Vec<FeishuCall>,
    updated: &mut Vec<UpdatedCard>,
) -> Result<(), SyncError>
where
    S: InstanceStore,
{
    let Some(card) = records.card_by_message(message_id) else {
        return Ok(());
    };
    if card.status.is_some() {
        return Ok(());
    }
    let claim = CardChange::Claim {
        at_seq: records.seq(),
        target: CardStatus::Processed,
        lease: lease.clone(),
        now_ms: service.clock.now().as_millis(),
    };
    if !service
        .store
        .change_card(&records.instance_id, &card.card_key, &claim)
        .await?
    {
        return Ok(());
    }
    let update = CardUpdate {
        card_key: card.card_key.clone(),
        message_id: message_id.clone(),
        status: CardStatus::Processed,
    };
    set_card(
        service,
        &records.instance_id,
        &update,
        lease,
        deadline,
        calls,
        updated,
    )
    .await
}

/// Publishes `event`.
pub(crate) async fn publish<S, P>(
    service: &SyncService<S, P>,
    event: &BridgeEvent,
) -> Result<(), SyncError>
where
    P: EventPublisher,
{
    service.publisher.publish(event).await?;
    feishu_bridge::metrics::event_published();
    Ok(())
}

/// Gives the instance's records, tombstone and card index entries the expiry its status calls
/// for, when they do not have it yet: once the instance is final, everything expires (the
/// tombstone much later); while it is pending, nothing does.
pub(crate) async fn settle_expiry<S, P>(
    service: &SyncService<S, P>,
    records: &InstanceRecords,
) -> Result<(), SyncError>
where
    S: InstanceStore,
{
    let Some(head) = &records.head else {
        return Ok(());
    };
    let final_now = head.expires_at.is_some();
    let records_expire = records
        .base
        .as_ref()
        .is_some_and(|base| base.expires_at.is_some());
    let stale = records
        .decisions
        .iter()
        .any(|decision| decision.expires_at.is_some() != final_now)
        || records
            .deliveries
            .iter()
            .any(|delivery| delivery.expires_at.is_some() != final_now)
        || records
            .cards
            .iter()
            .any(|card| card.expires_at.is_some() != final_now);
    if records_expire == final_now && !stale {
        return Ok(());
    }
    let expiry = if final_now {
        let ttl_gap = service
            .settings
            .tombstone_ttl
            .saturating_sub(service.settings.record_ttl)
            .as_secs();
        Expiry {
            records_at: head.expires_at.map(|at| at.saturating_sub(ttl_gap)),
            tombstone_at: head.expires_at,
        }
    } else {
        Expiry::default()
    };
    let cards: Vec<MessageId> = records
        .cards
        .iter()
        .filter_map(|card| card.message_id.clone())
        .collect();
    service
        .store
        .expire(&records.instance_id, expiry, &cards)
        .await?;
    Ok(())
}
