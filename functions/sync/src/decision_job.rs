//! Decision jobs: an approver approved, rejected or took a custom action on a task.
//!
//! 0. **Verify** the job's proof that the callback function made it
//!    ([`feishu_bridge::handoff`]): without one that verifies, the job fails with
//!    `UnprovenDecision` before anything is read or written.
//! 1. **Resolve** the task: `instance_id` + `task_id` from the decision, else the bridge card's
//!    context ([`TapContext`]), else the card index (`message_id`). A decision whose instance
//!    cannot be resolved is kept under `message:<message_id>` (or `task:<task_id>`).
//! 2. **Judge** it at its position in the instance's order ([`plan_decision`]): accepted,
//!    duplicate, refused, or forwarded (an instance the bridge never saw). The delivery record
//!    carries the verdict and this execution's lease; an accepted approve or reject also takes
//!    the next position and writes its [`AcceptedDecision`](feishu_bridge::store::AcceptedDecision)
//!    — all in one conditional write. A retry of a judged delivery only finishes what is left.
//! 3. **Carry it out**: an accepted approve / reject pushes the derived instance while the cards
//!    are brought to their tasks' state (both at once); a refusal or duplicate pushes nothing;
//!    a custom action sets its card to `PROCESSED`; a forwarded decision sets its card to the
//!    action's status. Then the event: `Approval Decision` for accepted and forwarded decisions,
//!    `Approval Decision Refused` for refusals — published even when Feishu refused the push, in
//!    which case the job then fails with Feishu's answer (Lambda's retry only pushes again).
//!    A card another execution holds claimed is waited for (settled, or its claim run out and
//!    taken over); past the deadline the job fails with `CardsInFlight` and its retry looks again.

use feishu_bridge::callback::ApprovalDecision;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::lifecycle;
use feishu_bridge::store::records::decision_id;
use feishu_bridge::store::{
    self, Delivery, DeliveryProgress, InstanceRecords, InstanceStore, Lease, ResolveError,
    StoreError, Verdict,
};
use feishu_bridge::tap_context::TapContext;
use tokio::time::Instant;

use crate::config::FeishuCalls;
use crate::effects::{
    PushOutcome, adopt_card, mark_card_processed, publish, push_latest, settle_expiry, sync_cards,
    update_card,
};
use crate::error::SyncError;
use crate::events::{BridgeEvent, DecisionEvent, EventPublisher, RefusedEvent, SCHEMA_VERSION};
use crate::plan::{DecisionStep, Target, delivery_id, needs_push, plan_decision};
use crate::service::{Deadlines, LEASE_POLL, Step, SyncService};
use crate::summary::{
    DecisionOutcome, DecisionSummary, FeishuCall, InstanceEffect, Refusal, UpdatedCard,
};

/// The decision's task id, when it carries one.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

/// Finds the task a decision is about ([`feishu_bridge::store::resolve_target`], the
/// resolution the callback's look-up shares).
pub async fn resolve_target<S: InstanceStore>(
    store: &S,
    decision: &ApprovalDecision,
) -> Result<Target, SyncError> {
    store::resolve_target(store, decision)
        .await
        .map_err(|error| match error {
            ResolveError::Store(error) => SyncError::Store(error),
            unaddressed @ ResolveError::Unaddressed => {
                SyncError::InvalidJob(unaddressed.to_string())
            }
        })
}

/// Runs a decision job, once its proof that the callback function made it verified.
pub(crate) async fn handle_decision<S, P>(
    service: &SyncService<S, P>,
    job: DecisionJob,
    deadlines: Deadlines,
) -> Result<DecisionSummary, SyncError>
where
    S: InstanceStore,
    P: EventPublisher,
{
    service.verify_handoff(&job).await?;
    let target = resolve_target(&service.store, &job.decision).await?;
    let delivery_id = delivery_id(&job, &target);
    let lease = service.lease(deadlines.stop);
    let deadline = deadlines.calls;
    let (records, fresh) = service
        .settle(
            &target.records_id,
            &lease,
            deadline,
            |records, ctx| match plan_decision(records, &job, &target, &delivery_id, ctx) {
                DecisionStep::Commit(commit) => Step::Commit(commit, true),
                DecisionStep::Resume => Step::Claim {
                    delivery_id: delivery_id.clone(),
                    value: false,
                },
                DecisionStep::InFlight { until_ms } => Step::Wait {
                    delivery_id: delivery_id.clone(),
                    until_ms,
                },
            },
        )
        .await?;
    let delivery = records
        .delivery(&delivery_id)
        .cloned()
        .ok_or_else(|| StoreError::Corrupt {
            instance_id: target.records_id.clone(),
            reason: "a delivery just written is missing".to_owned(),
        })?;
    let mut run = Execution {
        service,
        target: &target,
        lease: &lease,
        deadline,
        progress: DeliveryProgress {
            card_done: delivery.card_done,
            pushed: delivery.pushed,
            published: delivery.published,
        },
        calls: Vec::new(),
        cards: Vec::new(),
    };
    let result = run.carry_out(&records, &delivery).await;
    let progress = run.progress;
    if let Err(error) = service
        .store
        .finish_delivery(&target.records_id, &delivery_id, &lease.owner, progress)
        .await
    {
        tracing::warn!(%error, "could not record what the delivery finished; a retry redoes it");
    }
    let effect = result?;
    let summary = summarize(
        &records, &target, &delivery, fresh, effect, progress, run.calls,
    );
    Ok(summary)
}

/// One execution carrying out a judged delivery.
struct Execution<'a, S, P> {
    service: &'a SyncService<S, P>,
    target: &'a Target,
    lease: &'a Lease,
    deadline: Instant,
    progress: DeliveryProgress,
    calls: Vec<FeishuCall>,
    cards: Vec<UpdatedCard>,
}

impl<S: InstanceStore, P: EventPublisher> Execution<'_, S, P> {
    /// Does what the verdict calls for and is not done yet. The event is published even when
    /// the push failed; the push's failure is returned after.
    async fn carry_out(
        &mut self,
        records: &InstanceRecords,
        delivery: &Delivery,
    ) -> Result<InstanceEffect, SyncError> {
        let mut records = records.clone();
        if let (Some(task_id), Some(message_id)) = (&self.target.task_id, &self.target.message_id) {
            records = adopt_card(self.service, records, task_id, message_id).await?;
        }
        let mut effect = InstanceEffect::Unchanged;
        let mut failure = None;
        match &delivery.verdict {
            verdict if needs_push(verdict) => {
                let (pushed, cards) = self.push_and_sync_cards(&records).await;
                match pushed {
                    Ok(PushOutcome::Pushed) => {
                        self.progress.pushed = true;
                        effect = InstanceEffect::Pushed;
                        feishu_bridge::metrics::decision_applied(delivery.job.received_at);
                    }
                    Ok(PushOutcome::Superseded) => {
                        self.progress.pushed = true;
                        effect = InstanceEffect::Superseded;
                    }
                    Ok(PushOutcome::Nothing) => self.progress.pushed = true,
                    Err(error) => failure = Some(error),
                }
                // Cards left to another execution's claim are done only once it settles them:
                // a later execution of this delivery looks again.
                match cards {
                    Ok(complete) => self.progress.card_done = complete,
                    Err(error) => failure = failure.or(Some(error)),
                }
            }
            Verdict::Accepted { .. } => {
                self.finish_unpushed(&records).await?;
                if let Some(message_id) = &self.target.message_id
                    && !self.progress.card_done
                {
                    mark_card_processed(
                        self.service,
                        &records,
                        message_id,
                        self.lease,
                        self.deadline,
                        &mut self.calls,
                        &mut self.cards,
                    )
                    .await?;
                }
                self.progress.card_done = true;
            }
            Verdict::Duplicate { .. } | Verdict::Refused { .. } => {
                self.finish_unpushed(&records).await?;
                if !self.progress.card_done {
                    let deadline = self.deadline;
                    self.progress.card_done = sync_cards(
                        self.service,
                        records.clone(),
                        self.lease,
                        deadline,
                        &mut self.calls,
                        &mut self.cards,
                    )
                    .await?;
                }
            }
            Verdict::Forwarded { .. } => {
                effect = InstanceEffect::NotSynced;
                self.forward_card(delivery).await?;
            }
        }
        if !self.progress.published
            && let Some(event) = event(&records, self.target, delivery)
        {
            // The mutant records the event as published before publishing it.
            self.progress.published |= cfg!(feature = "mutant-publish-early");
            publish(self.service, &event).await?;
            self.progress.published = true;
        }
        if failure.is_none() && !self.progress.card_done && syncs_cards(&delivery.verdict) {
            self.await_claimed_cards().await?;
        }
        settle_expiry(self.service, &records).await?;
        failure.map_or(Ok(effect), Err)
    }

    /// Cards were left to another execution's claim: waits for it to settle them — or for its
    /// claim to run out (a dead execution), then sets them itself — polling as for a delivery's
    /// lease. Fails retryably when the deadline comes first, so Lambda's retry looks again and
    /// no card is left behind by an execution that died holding its claim.
    async fn await_claimed_cards(&mut self) -> Result<(), SyncError> {
        let instance_id = &self.target.records_id;
        loop {
            if Instant::now() + LEASE_POLL >= self.deadline {
                return Err(SyncError::CardsInFlight {
                    instance_id: instance_id.clone(),
                });
            }
            tokio::time::sleep(LEASE_POLL).await;
            let records = self.service.store.load(instance_id).await?;
            self.progress.card_done = sync_cards(
                self.service,
                records,
                self.lease,
                self.deadline,
                &mut self.calls,
                &mut self.cards,
            )
            .await?;
            if self.progress.card_done {
                return Ok(());
            }
        }
    }

    /// Pushes the instance when the state the decision was judged against never reached Feishu
    /// (the job that wrote it died before pushing), as a stale instance job does: a decision
    /// that changes nothing still leaves Feishu showing the state it was judged on.
    async fn finish_unpushed(&mut self, records: &InstanceRecords) -> Result<(), SyncError> {
        if unpushed(records) {
            push_latest(
                self.service,
                records.clone(),
                self.lease,
                self.deadline,
                &mut self.calls,
            )
            .await?;
        }
        Ok(())
    }

    /// Pushes the derived instance and brings the cards to their tasks' state: at the same time,
    /// or one after the other ([`FeishuCalls`]).
    async fn push_and_sync_cards(
        &mut self,
        records: &InstanceRecords,
    ) -> (Result<PushOutcome, SyncError>, Result<bool, SyncError>) {
        let (service, lease, deadline) = (self.service, self.lease, self.deadline);
        let mut push_calls = Vec::new();
        let mut card_calls = Vec::new();
        let mut cards = Vec::new();
        // A retry whose push is done still pushes when the instance's latest state never reached
        // Feishu (a later writer died before pushing it), as every other job does.
        let already_pushed = self.progress.pushed && !unpushed(records);
        let already_carded = self.progress.card_done;
        let push = async {
            if already_pushed {
                Ok(PushOutcome::Nothing)
            } else {
                push_latest(service, records.clone(), lease, deadline, &mut push_calls).await
            }
        };
        let sync = async {
            if already_carded {
                Ok(true)
            } else {
                sync_cards(
                    service,
                    records.clone(),
                    lease,
                    deadline,
                    &mut card_calls,
                    &mut cards,
                )
                .await
            }
        };
        let results = match service.settings.feishu_calls {
            FeishuCalls::Concurrent => tokio::join!(sync, push),
            FeishuCalls::Serial => {
                let cards = sync.await;
                (cards, push.await)
            }
        };
        self.calls.extend(card_calls);
        self.calls.extend(push_calls);
        self.cards.extend(cards);
        (results.1, results.0)
    }

    /// Sets the card of a forwarded decision to the action's status (the bridge knows nothing
    /// else of its instance).
    async fn forward_card(&mut self, delivery: &Delivery) -> Result<(), SyncError> {
        if self.progress.card_done {
            return Ok(());
        }
        if let Some(message_id) = &self.target.message_id {
            let status = lifecycle::card_status_after(&delivery.job.decision.action);
            match update_card(self.service, message_id, status, self.deadline).await {
                Ok(call) => self.calls.push(call),
                Err(SyncError::Feishu {
                    api,
                    target,
                    source,
                }) if !source.is_retryable() => {
                    tracing::warn!(message_id = %target, error = %source, "Feishu refused the bot card update");
                    self.calls.push(FeishuCall::failed(api, target, &source));
                }
                Err(error) => return Err(error),
            }
        }
        self.progress.card_done = true;
        Ok(())
    }
}

/// Whether the instance's latest state has not been pushed yet.
fn unpushed(records: &InstanceRecords) -> bool {
    records
        .head
        .as_ref()
        .is_some_and(|head| head.pushed_seq < head.seq)
}

/// Whether carrying out `verdict` brings every card of the instance to its task's state (and so
/// must see the cards another execution claimed settled).
fn syncs_cards(verdict: &Verdict) -> bool {
    needs_push(verdict) || matches!(verdict, Verdict::Duplicate { .. } | Verdict::Refused { .. })
}

/// The event for a delivery's verdict: accepted and forwarded decisions, refusals. Duplicates
/// have none.
fn event(records: &InstanceRecords, target: &Target, delivery: &Delivery) -> Option<BridgeEvent> {
    let decision = as_approver_made_it(target, &delivery.job.decision);
    let action = &decision.action;
    let received_at = delivery.job.received_at;
    let task_id = target.task_id.as_deref().unwrap_or_default();
    match &delivery.verdict {
        Verdict::Accepted {
            task_version,
            position,
            instance_status,
        } => {
            let applied_at = position
                .and_then(|position| {
                    records
                        .decisions
                        .iter()
                        .find(|decision| decision.position == position)
                        .map(|decision| decision.decided_at)
                })
                .unwrap_or(delivery.judged_at);
            Some(BridgeEvent::Decision(DecisionEvent {
                schema_version: SCHEMA_VERSION,
                decision_id: decision_id(&records.instance_id, task_id, *task_version, action),
                delivery_id: delivery.delivery_id.clone(),
                instance_known: true,
                task_version: *task_version,
                instance_status: Some(instance_status.clone()),
                received_at,
                applied_at,
                decision,
            }))
        }
        Verdict::Forwarded { task_label } => Some(BridgeEvent::Decision(DecisionEvent {
            schema_version: SCHEMA_VERSION,
            decision_id: decision_id(&records.instance_id, task_label, Default::default(), action),
            delivery_id: delivery.delivery_id.clone(),
            instance_known: false,
            task_version: Default::default(),
            instance_status: None,
            received_at,
            applied_at: delivery.judged_at,
            decision,
        })),
        Verdict::Refused {
            reason,
            task_status,
            instance_status,
        } => Some(BridgeEvent::Refused(RefusedEvent {
            schema_version: SCHEMA_VERSION,
            delivery_id: delivery.delivery_id.clone(),
            refusal: Refusal {
                reason: reason.clone(),
                task_status: task_status.clone(),
                instance_status: instance_status.clone(),
            },
            received_at,
            decision,
        })),
        Verdict::Duplicate { .. } => None,
    }
}

/// The decision as the approver made it, with the task it resolved to and the task's own
/// `action_context` in place of the bridge's (card or task) context.
fn as_approver_made_it(target: &Target, decision: &ApprovalDecision) -> ApprovalDecision {
    let mut decision = decision.clone();
    if non_empty(&decision.instance_id).is_none() {
        decision.instance_id = target.instance_id.clone();
    }
    if non_empty(&decision.task_id).is_none() {
        decision.task_id = target.task_id.clone();
    }
    if let Some(context) = decision
        .action_context
        .as_deref()
        .and_then(TapContext::decode)
    {
        decision.action_context = context.task_context;
    }
    decision
}

/// The summary of a decision job.
fn summarize(
    records: &InstanceRecords,
    target: &Target,
    delivery: &Delivery,
    fresh: bool,
    instance: InstanceEffect,
    progress: DeliveryProgress,
    calls: Vec<FeishuCall>,
) -> DecisionSummary {
    let action = &delivery.job.decision.action;
    let task_id = target.task_id.as_deref().unwrap_or_default();
    let (outcome, decision_id, refusal, instance_status) = match &delivery.verdict {
        Verdict::Accepted {
            task_version,
            instance_status,
            ..
        } => (
            DecisionOutcome::Applied,
            Some(decision_id(
                &records.instance_id,
                task_id,
                *task_version,
                action,
            )),
            None,
            Some(instance_status.clone()),
        ),
        Verdict::Forwarded { task_label } => (
            DecisionOutcome::Applied,
            Some(decision_id(
                &records.instance_id,
                task_label,
                Default::default(),
                action,
            )),
            None,
            None,
        ),
        Verdict::Duplicate { decision_id } => (
            DecisionOutcome::Duplicate,
            Some(decision_id.clone()),
            None,
            records.status().cloned(),
        ),
        Verdict::Refused {
            reason,
            task_status,
            instance_status,
        } => (
            DecisionOutcome::Refused,
            None,
            Some(Refusal {
                reason: reason.clone(),
                task_status: task_status.clone(),
                instance_status: instance_status.clone(),
            }),
            Some(instance_status.clone()),
        ),
    };
    DecisionSummary {
        decision_id,
        delivery_id: delivery.delivery_id.clone(),
        outcome: if fresh {
            outcome
        } else {
            DecisionOutcome::Duplicate
        },
        refusal,
        instance_id: target.instance_id.clone(),
        task_id: target.task_id.clone(),
        instance,
        instance_status,
        card: target.message_id.clone(),
        event_published: progress.published
            && !matches!(delivery.verdict, Verdict::Duplicate { .. }),
        calls,
    }
}

#[cfg(test)]
mod tests {
    use feishu_bridge::ids::MessageId;
    use feishu_bridge::job::SyncJob;
    use feishu_bridge::store::{CardRef, InMemoryStore};

    use super::*;

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
        assert_eq!(target.records_id, "i-1");
        assert_eq!(target.task_label(), "t-1");
    }

    #[tokio::test]
    async fn card_decisions_resolve_through_the_card_context_or_the_card_index() {
        let store = InMemoryStore::new();
        let message_id = MessageId::from(7690275278685244603u64);
        let context = TapContext {
            instance_id: "i-2".to_owned(),
            task_id: "t-2".to_owned(),
            task_context: None,
            task_version: None,
        };
        let from_context = decision(serde_json::json!({
            "approval_code": "C", "message_id": "1", "action": "APPROVE", "user_id": "u",
            "action_context": context.encode()
        }));
        let target = resolve_target(&store, &from_context).await.unwrap();
        assert_eq!(
            (target.instance_id.as_deref(), target.task_id.as_deref()),
            (Some("i-2"), Some("t-2"))
        );

        let card = CardRef {
            instance_id: "i-1".to_owned(),
            task_id: "t-1".to_owned(),
        };
        store.index_card(&message_id, &card).await.unwrap();
        let from_index = decision(serde_json::json!({
            "approval_code": "C", "message_id": "7690275278685244603",
            "action": "REJECT", "user_id": "u"
        }));
        let target = resolve_target(&store, &from_index).await.unwrap();
        assert_eq!(target.instance_id.as_deref(), Some("i-1"));
        assert_eq!(target.task_id.as_deref(), Some("t-1"));
    }

    #[tokio::test]
    async fn unknown_cards_get_records_of_their_own_and_taskless_decisions_are_invalid() {
        let store = InMemoryStore::new();
        let unknown = decision(serde_json::json!({
            "approval_code": "C", "message_id": "42", "action": "APPROVE", "user_id": "u"
        }));
        let target = resolve_target(&store, &unknown).await.unwrap();
        assert_eq!(target.records_id, "message:42");
        assert_eq!(target.task_label(), "message:42");
        let taskless = decision(serde_json::json!({
            "approval_code": "C", "instance_id": "i-1", "action": "APPROVE", "user_id": "u"
        }));
        assert!(matches!(
            resolve_target(&store, &taskless).await,
            Err(SyncError::InvalidJob(_))
        ));
    }

    #[test]
    fn events_carry_the_tasks_own_action_context() {
        let target = Target {
            records_id: "i-1".to_owned(),
            instance_id: Some("i-1".to_owned()),
            task_id: Some("t-1".to_owned()),
            message_id: None,
        };
        let context = TapContext {
            instance_id: "i-1".to_owned(),
            task_id: "t-1".to_owned(),
            task_context: Some("order-42".to_owned()),
            task_version: Some(feishu_bridge::models::time::UnixMillis::from_millis(7)),
        };
        let made = as_approver_made_it(
            &target,
            &decision(serde_json::json!({
                "approval_code": "C", "message_id": "1", "action": "APPROVE", "user_id": "u",
                "action_context": context.encode()
            })),
        );
        assert_eq!(made.action_context.as_deref(), Some("order-42"));
        assert_eq!(made.instance_id.as_deref(), Some("i-1"));
        assert_eq!(made.task_id.as_deref(), Some("t-1"));
    }
}
