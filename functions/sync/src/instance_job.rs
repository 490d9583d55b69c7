//! Instance jobs: the company's system pushes a whole instance, optionally asking for bot cards.
//!
//! The instance is checked ([`ExternalInstance::validate`]) and must be whole (`update_mode`
//! `REPLACE` or absent), since it is the base every later push is derived from. A job whose
//! `update_time` is not newer than the company's last accepted version is stale: nothing is
//! written, and the latest state is pushed again (a retry cannot tell whether its first push
//! landed behind a later one). Otherwise the
//! instance becomes the new base at the next position; the derived instance (the base with the
//! decisions it has not seen yet) is pushed while every bot card is brought to the state of its
//! task; `reopen` gives the named tasks a new version, which takes a new decision.
//!
//! With `notify`, every pending task with an approver and no card for its current version gets
//! a template-1008 card with a deterministic `uuid` ([`crate::effects::send_cards`]).

use feishu_bridge::job::InstanceJob;
use feishu_bridge::models::instance::UpdateMode;
use feishu_bridge::store::InstanceStore;

use crate::effects::{push_latest, send_cards, settle_expiry, sync_cards};
use crate::error::SyncError;
use crate::events::EventPublisher;
use crate::plan::{InstanceStep, plan_instance};
use crate::service::{Deadlines, Step, SyncService};
use crate::summary::{InstanceOutcome, InstanceSummary};

/// Runs an instance job.
pub(crate) async fn handle_instance<S, P>(
    service: &SyncService<S, P>,
    job: InstanceJob,
    deadlines: Deadlines,
) -> Result<InstanceSummary, SyncError>
where
    S: InstanceStore,
    P: EventPublisher,
{
    let InstanceJob {
        instance,
        notify,
        reopen,
    } = job;
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
    if let Some(unknown) = reopen
        .iter()
        .find(|task_id| instance.task(task_id).is_none())
    {
        return Err(SyncError::InvalidJob(format!(
            "`reopen` names task {unknown}, which instance {} does not have",
            instance.instance_id
        )));
    }
    let instance_id = instance.instance_id.clone();
    let lease = service.lease(deadlines.stop);
    let deadline = deadlines.calls;
    let (records, stale) = service
        .settle(
            &instance_id,
            &lease,
            deadline,
            |records, ctx| match plan_instance(records, &instance, &reopen, ctx) {
                InstanceStep::Commit(commit) => Step::Commit(commit, None),
                InstanceStep::Stale { company_version } => Step::Done(Some(company_version)),
            },
        )
        .await?;
    let mut summary = InstanceSummary {
        instance_id,
        outcome: InstanceOutcome::Synced,
        company_version: stale,
        instance_status: records.status().cloned(),
        cards_sent: Vec::new(),
        cards_updated: Vec::new(),
        calls: Vec::new(),
    };
    if let Some(company_version) = stale {
        tracing::info!(%company_version, update_time = %instance.update_time, "instance job is stale; the latest state is pushed");
        summary.outcome = InstanceOutcome::Stale;
    }
    // A stale job pushes the latest state too: it may be a retry of a job whose first attempt
    // died after its push landed behind a later one (nothing recorded tells), and an earlier
    // attempt may have left the push undone. `REPLACE` with the head's version is harmless.
    let mut push_calls = Vec::new();
    let push = async {
        push_latest(service, records.clone(), &lease, deadline, &mut push_calls).await?;
        Ok::<_, SyncError>(())
    };
    let mut card_calls = Vec::new();
    let cards = sync_cards(
        service,
        records.clone(),
        &lease,
        deadline,
        &mut card_calls,
        &mut summary.cards_updated,
    );
    let (pushed, carded) = tokio::join!(push, cards);
    summary.calls.extend(push_calls);
    summary.calls.extend(card_calls);
    pushed?;
    carded?;
    if notify {
        let latest = service.store.load(&summary.instance_id).await?;
        send_cards(
            service,
            &latest,
            deadline,
            &mut summary.calls,
            &mut summary.cards_sent,
        )
        .await?;
        if !summary.cards_sent.is_empty() {
            // A decision accepted (or a newer instance stored) while the cards were on their way
            // found them without an id and left them: bring them to their tasks' state now.
            let latest = service.store.load(&summary.instance_id).await?;
            sync_cards(
                service,
                latest,
                &lease,
                deadline,
                &mut summary.calls,
                &mut summary.cards_updated,
            )
            .await?;
        }
    }
    settle_expiry(service, &records).await?;
    Ok(summary)
}
