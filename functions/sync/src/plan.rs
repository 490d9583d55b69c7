//! The pure part of every job: given the records loaded for an instance, what the job writes.
//!
//! [`plan_decision`] and [`plan_instance`] are functions from loaded records to a [`Commit`]
//! (or to "nothing to write"); the shell ([`crate::service`]) loads, plans, writes conditionally
//! and, on a conflict, loads and plans again — once, in one place, for every job kind. What a
//! job then does in Feishu follows from the records written ([`crate::effects`]).

use std::collections::BTreeMap;
use std::time::Duration;

use feishu_bridge::ids::MessageId;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::lifecycle::{self, InstanceStatusPolicy, Judgement};
use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::{ExternalInstance, InstanceStatus};
use feishu_bridge::models::message::CardStatus;
use feishu_bridge::models::time::UnixMillis;
/// The task a decision is about (resolved in `feishu_bridge`, as the callback's look-up does).
pub use feishu_bridge::store::Target;
use feishu_bridge::store::records::decision_id;
use feishu_bridge::store::{
    AcceptedDecision, Base, Commit, Delivery, Head, InstanceRecords, Lease, Position, TapJudgement,
    Verdict, hour_of,
};

/// What planning needs besides the records: the time, this execution's lease, the settings.
#[derive(Debug, Clone)]
pub struct PlanContext {
    /// Now (wall clock).
    pub now: UnixMillis,
    /// This execution's lease: its owner id, until its deadline.
    pub lease: Lease,
    /// Who sets instance statuses.
    pub policy: InstanceStatusPolicy,
    /// How long records of a final instance are kept.
    pub record_ttl: Duration,
    /// How long the tombstone of a final instance is kept.
    pub tombstone_ttl: Duration,
}

impl PlanContext {
    /// The expiry of records written for an instance in `status` (Unix seconds).
    fn record_expiry(&self, status: &InstanceStatus) -> Option<u64> {
        lifecycle::is_final(status).then(|| self.expires_after(self.record_ttl))
    }

    /// The expiry of the tombstone of an instance in `status` (Unix seconds).
    fn tombstone_expiry(&self, status: &InstanceStatus) -> Option<u64> {
        lifecycle::is_final(status).then(|| self.expires_after(self.tombstone_ttl))
    }

    fn expires_after(&self, ttl: Duration) -> u64 {
        self.now.as_millis() / 1000 + ttl.as_secs()
    }

    /// The head at the next position after `head`, with the instance in `status`.
    fn next_head(
        &self,
        head: Option<&Head>,
        company_version: UnixMillis,
        status: InstanceStatus,
    ) -> Head {
        let last_push = head.map_or(UnixMillis::ZERO, |head| head.push_version);
        let now = self.now.as_millis();
        Head {
            seq: head.map_or(0, |head| head.seq) + 1,
            company_version,
            push_version: self
                .now
                .max(UnixMillis::from_millis(last_push.as_millis() + 1)),
            pushed_seq: head.map_or(0, |head| head.pushed_seq),
            push_lease: None,
            expires_at: self.tombstone_expiry(&status),
            status,
            touched_at: now,
            touched_hour: hour_of(now),
        }
    }
}

/// The delivery id of a job: its own, else (jobs from earlier versions) one derived from the
/// task and action, which deduplicates them as those versions did.
pub fn delivery_id(job: &DecisionJob, target: &Target) -> String {
    match &job.delivery_id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => format!("legacy:{}/{}", target.task_label(), job.decision.action),
    }
}

/// What a decision job does next.
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionStep {
    /// Judge it now: write this commit (its delivery record carries the verdict and this
    /// execution's lease), then carry out the verdict.
    Commit(Box<Commit>),
    /// The delivery was judged before (a Lambda retry): take it over and finish what is left.
    Resume,
    /// Another execution holds the delivery until `until_ms`.
    InFlight {
        /// When its lease runs out (Unix ms).
        until_ms: u64,
    },
}

/// Plans decision `job` (delivery `delivery_id`) on `target`, against `records`.
pub fn plan_decision(
    records: &InstanceRecords,
    job: &DecisionJob,
    target: &Target,
    delivery_id: &str,
    ctx: &PlanContext,
) -> DecisionStep {
    if let Some(delivery) = records.delivery(delivery_id) {
        return match &delivery.lease {
            Some(lease) if lease.is_live(ctx.now.as_millis()) && lease.owner != ctx.lease.owner => {
                DecisionStep::InFlight {
                    until_ms: lease.until,
                }
            }
            _ => DecisionStep::Resume,
        };
    }
    let action = &job.decision.action;
    let mut delivery = Delivery {
        delivery_id: delivery_id.to_owned(),
        job: job.clone(),
        task_id: target.task_id.clone(),
        verdict: Verdict::Forwarded {
            task_label: target.task_label(),
        },
        judged_at: ctx.now,
        lease: Some(ctx.lease.clone()),
        card_done: false,
        pushed: false,
        published: false,
        expires_at: None,
    };
    let task_id = target.task_id.as_deref().unwrap_or_default();
    let (Some(head), Some(judged)) = (&records.head, records.judge_tap(task_id, &job.decision))
    else {
        // An instance the bridge never saw: the company's system judges the decision.
        let label = target.task_label();
        let repeated = records.deliveries.iter().any(|earlier| {
            earlier.job.decision.action == *action
                && matches!(&earlier.verdict, Verdict::Forwarded { task_label } if *task_label == label)
        });
        if repeated {
            delivery.verdict = Verdict::Duplicate {
                decision_id: decision_id(&target.records_id, &label, UnixMillis::ZERO, action),
            };
            delivery.card_done = true;
            delivery.published = true;
        }
        return commit_delivery(records, delivery);
    };

    let TapJudgement {
        judgement,
        task_version,
        task_status,
        instance_status,
    } = judged;
    delivery.expires_at = ctx.record_expiry(&instance_status);
    match judgement {
        Judgement::Duplicate => {
            delivery.verdict = Verdict::Duplicate {
                decision_id: decision_id(&records.instance_id, task_id, task_version, action),
            };
            delivery.published = true;
            commit_delivery(records, delivery)
        }
        Judgement::Refuse(refusal) => {
            delivery.verdict = Verdict::Refused {
                reason: refusal.code().to_owned(),
                task_status,
                instance_status,
            };
            commit_delivery(records, delivery)
        }
        Judgement::Accept if lifecycle::decided_status(action).is_none() => {
            delivery.verdict = Verdict::Accepted {
                task_version,
                position: None,
                instance_status,
            };
            commit_delivery(records, delivery)
        }
        Judgement::Accept => {
            let position = head.seq + 1;
            let mut after = records.clone();
            let mut next = ctx.next_head(Some(head), head.company_version, head.status.clone());
            let decision = AcceptedDecision {
                task_id: task_id.to_owned(),
                task_version,
                action: action.clone(),
                position,
                push_version: next.push_version,
                decided_at: ctx.now,
                user_id: job.decision.user_id.clone(),
                delivery_id: delivery_id.to_owned(),
                expires_at: None,
            };
            after.decisions.push(decision.clone());
            after.head = Some(next.clone());
            let status = derived_status(&after, ctx.policy, &head.status);
            next.expires_at = ctx.tombstone_expiry(&status);
            next.status = status.clone();
            let expires_at = ctx.record_expiry(&status);
            delivery.verdict = Verdict::Accepted {
                task_version,
                position: Some(position),
                instance_status: status,
            };
            delivery.expires_at = expires_at;
            DecisionStep::Commit(Box::new(Commit {
                instance_id: records.instance_id.clone(),
                at_seq: head.seq,
                head: Some(next),
                base: None,
                decision: Some(AcceptedDecision {
                    expires_at,
                    ..decision
                }),
                delivery: Some(delivery),
            }))
        }
    }
}

/// A commit writing only `delivery` (its verdict changes no state, so it needs no position).
fn commit_delivery(records: &InstanceRecords, delivery: Delivery) -> DecisionStep {
    DecisionStep::Commit(Box::new(Commit {
        instance_id: records.instance_id.clone(),
        at_seq: records.seq(),
        head: None,
        base: None,
        decision: None,
        delivery: Some(delivery),
    }))
}

/// The derived instance status of `records` (`fallback` when there is no base).
fn derived_status(
    records: &InstanceRecords,
    policy: InstanceStatusPolicy,
    fallback: &InstanceStatus,
) -> InstanceStatus {
    records
        .derive(policy)
        .map_or_else(|| fallback.clone(), |instance| instance.status)
}

/// What an instance job does.
#[derive(Debug, Clone, PartialEq)]
pub enum InstanceStep {
    /// Accept the company's version: write this commit, then push the derived instance.
    Commit(Box<Commit>),
    /// The company already sent a version at least as new: nothing is written or pushed.
    Stale {
        /// The company's last accepted version.
        company_version: UnixMillis,
    },
}

/// Plans an instance job: the company's `instance`, re-opening `reopen`.
pub fn plan_instance(
    records: &InstanceRecords,
    instance: &ExternalInstance,
    reopen: &[String],
    ctx: &PlanContext,
) -> InstanceStep {
    let head = records.head.as_ref();
    if let Some(head) = head
        && head.company_version >= instance.update_time
    {
        return InstanceStep::Stale {
            company_version: head.company_version,
        };
    }
    let mut task_versions: BTreeMap<String, UnixMillis> = records
        .base
        .as_ref()
        .map(|base| base.task_versions.clone())
        .unwrap_or_default();
    for task_id in reopen {
        task_versions.insert(task_id.clone(), instance.update_time);
    }
    let position: Position = records.seq() + 1;
    let base = Base {
        position,
        instance: instance.clone(),
        task_versions,
        expires_at: None,
    };
    let mut next = ctx.next_head(head, instance.update_time, instance.status.clone());
    let mut after = records.clone();
    after.base = Some(base.clone());
    after.head = Some(next.clone());
    let status = derived_status(&after, ctx.policy, &instance.status);
    next.expires_at = ctx.tombstone_expiry(&status);
    next.status = status.clone();
    InstanceStep::Commit(Box::new(Commit {
        instance_id: records.instance_id.clone(),
        at_seq: records.seq(),
        head: Some(next),
        base: Some(Base {
            expires_at: ctx.record_expiry(&status),
            ..base
        }),
        decision: None,
        delivery: None,
    }))
}

/// A card to bring to the status of its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardUpdate {
    /// The card's key in the instance.
    pub card_key: String,
    /// The card.
    pub message_id: MessageId,
    /// The status it must show.
    pub status: CardStatus,
}

/// The cards of `records` that do not show what the lifecycle gives their task and instance
/// ([`lifecycle::card_target`]): neither updated to it, nor refused it by Feishu for good, nor
/// being updated by an execution holding a live claim at `now_ms`. A card whose claim ran out
/// unsettled shows an unknown status, so it is updated again. Cards with no known message id
/// cannot be updated and are left out.
pub fn card_updates(
    records: &InstanceRecords,
    policy: InstanceStatusPolicy,
    now_ms: u64,
) -> Vec<CardUpdate> {
    let (Some(status), Some(derived)) = (records.status(), records.derive(policy)) else {
        return Vec::new();
    };
    records
        .cards
        .iter()
        .filter_map(|card| {
            let message_id = card.message_id.clone()?;
            if card
                .claim
                .as_ref()
                .is_some_and(|claim| claim.is_live(now_ms))
            {
                return None;
            }
            let task = derived.task(&card.task_id).map(|task| &task.status);
            let target = lifecycle::card_target(status, task)?;
            // A claim that ran out was never settled: its holder may have changed the card in
            // Feishu without recording it, so what the card shows is unknown.
            let unknown = card.claim.is_some();
            let settled = !unknown
                && (card.status.as_ref() == Some(&target)
                    || card
                        .refused
                        .as_ref()
                        .is_some_and(|refused| refused.status == target));
            (!settled).then(|| CardUpdate {
                card_key: card.card_key.clone(),
                message_id,
                status: target,
            })
        })
        .collect()
}

/// Whether some execution holds a live claim at `now_ms` on one of the cards: it updates the
/// card, unless it dies first.
pub fn cards_claimed(records: &InstanceRecords, now_ms: u64) -> bool {
    records.cards.iter().any(|card| {
        card.message_id.is_some()
            && card
                .claim
                .as_ref()
                .is_some_and(|claim| claim.is_live(now_ms))
    })
}

/// Whether a delivery's verdict changed the instance (so a push must carry it).
pub fn needs_push(verdict: &Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Accepted {
            position: Some(_),
            ..
        }
    )
}

/// Whether `action` on a task is a custom action (it leaves the task to the company's system).
pub fn is_custom(action: &ActionType) -> bool {
    lifecycle::decided_status(action).is_none()
}

#[cfg(test)]
mod tests {
    use feishu_bridge::job::SyncJob;
    use feishu_bridge::models::instance::TaskStatus;

    use super::*;

    const START: u64 = 1_700_000_000_000;
    const NOW: u64 = 1_800_000_000_000;
    const DAY: u64 = 86_400;

    fn ctx() -> PlanContext {
        PlanContext {
            now: UnixMillis::from_millis(NOW),
            lease: Lease {
                owner: "me".to_owned(),
                until: NOW + 20_000,
            },
            policy: InstanceStatusPolicy::Derive,
            record_ttl: Duration::from_secs(60 * DAY),
            tombstone_ttl: Duration::from_secs(400 * DAY),
        }
    }

    fn instance(update_time: u64, status: &str, tasks: &[(&str, &str)]) -> ExternalInstance {
        let task_list: Vec<_> = tasks
            .iter()
            .map(|(task_id, status)| {
                serde_json::json!({
                    "task_id": task_id, "user_id": format!("u-{task_id}"),
                    "links": {"pc_link": "https://example.com"}, "status": status,
                    "create_time": START.to_string(), "end_time": "0",
                    "update_time": START.to_string()
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "approval_code": "C", "status": status, "instance_id": "i-1",
            "links": {"pc_link": "https://example.com"}, "user_id": "initiator",
            "start_time": START.to_string(), "end_time": "0",
            "update_time": update_time.to_string(), "task_list": task_list
        }))
        .unwrap()
    }

    fn job(task_id: &str, action: &str, user: &str, delivery: &str) -> DecisionJob {
        let job = serde_json::json!({
            "type": "decision", "approval_code": "C", "instance_id": "i-1", "task_id": task_id,
            "action": action, "user_id": user, "received_at": START.to_string(),
            "delivery_id": delivery
        });
        match serde_json::from_value(job).unwrap() {
            SyncJob::Decision(job) => job,
            other => panic!("{other:?}"),
        }
    }

    fn target(task_id: &str) -> Target {
        Target {
            records_id: "i-1".to_owned(),
            instance_id: Some("i-1".to_owned()),
            task_id: Some(task_id.to_owned()),
            message_id: None,
        }
    }

    fn apply(records: &mut InstanceRecords, commit: &Commit) {
        commit.apply_to(records);
    }

    fn commit(step: DecisionStep) -> Commit {
        match step {
            DecisionStep::Commit(commit) => *commit,
            other => panic!("expected a commit, got {other:?}"),
        }
    }

    /// Records of `i-1` after the company's `instance`.
    fn with_base(instance: &ExternalInstance, reopen: &[String]) -> InstanceRecords {
        let mut records = InstanceRecords::empty("i-1");
        match plan_instance(&records, instance, reopen, &ctx()) {
            InstanceStep::Commit(commit) => apply(&mut records, &commit),
            stale => panic!("{stale:?}"),
        }
        records
    }

    fn decide(records: &mut InstanceRecords, job: &DecisionJob) -> Verdict {
        let target = target(job.decision.task_id.as_deref().unwrap());
        let id = delivery_id(job, &target);
        let commit = commit(plan_decision(records, job, &target, &id, &ctx()));
        apply(records, &commit);
        commit.delivery.unwrap().verdict
    }

    fn reason(verdict: &Verdict) -> &str {
        match verdict {
            Verdict::Refused { reason, .. } => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn decisions_in_order_accept_duplicate_and_refuse() {
        let mut records = with_base(
            &instance(START, "PENDING", &[("t1", "PENDING"), ("t2", "PENDING")]),
            &[],
        );
        let accepted = decide(&mut records, &job("t1", "APPROVE", "u-t1", "d1"));
        assert!(matches!(
            accepted,
            Verdict::Accepted {
                position: Some(2),
                ..
            }
        ));
        assert!(matches!(
            decide(&mut records, &job("t1", "APPROVE", "u-t1", "d2")),
            Verdict::Duplicate { decision_id } if decision_id == "i-1/t1/0/APPROVE"
        ));
        let contrary = decide(&mut records, &job("t1", "REJECT", "u-t1", "d3"));
        assert_eq!(reason(&contrary), "task_not_pending");
        let wrong = decide(&mut records, &job("t2", "APPROVE", "u-t1", "d4"));
        assert_eq!(reason(&wrong), "not_the_approver");
        let missing = decide(&mut records, &job("t9", "APPROVE", "u-t9", "d5"));
        assert_eq!(reason(&missing), "task_not_found");
        let last = decide(&mut records, &job("t2", "REJECT", "u-t2", "d6"));
        assert!(matches!(
            last,
            Verdict::Accepted {
                position: Some(3),
                instance_status: InstanceStatus::Rejected,
                ..
            }
        ));
        let late = decide(&mut records, &job("t2", "APPROVE", "u-t2", "d7"));
        assert_eq!(reason(&late), "task_not_pending");
        let other = decide(&mut records, &job("t9", "APPROVE", "u-t9", "d8"));
        assert_eq!(reason(&other), "instance_not_pending");
        assert_eq!(
            records.seq(),
            3,
            "only accepted approve/reject take positions"
        );
    }

    #[test]
    fn an_accepted_decision_moves_the_head_with_a_strictly_newer_push_version() {
        let records = with_base(&instance(START, "PENDING", &[("t1", "PENDING")]), &[]);
        let first_push = records.head.as_ref().unwrap().push_version;
        assert_eq!(first_push, UnixMillis::from_millis(NOW));
        let target = target("t1");
        let job = job("t1", "APPROVE", "u-t1", "d1");
        let commit = commit(plan_decision(&records, &job, &target, "d1", &ctx()));
        assert_eq!(commit.at_seq, 1);
        let head = commit.head.as_ref().unwrap();
        assert_eq!(head.seq, 2);
        assert_eq!(head.push_version, UnixMillis::from_millis(NOW + 1));
        assert_eq!(head.company_version, UnixMillis::from_millis(START));
        assert_eq!(head.status, InstanceStatus::Approved);
        assert_eq!(head.expires_at, Some(NOW / 1000 + 400 * DAY));
        let decision = commit.decision.as_ref().unwrap();
        assert_eq!(decision.expires_at, Some(NOW / 1000 + 60 * DAY));
        assert_eq!(decision.push_version, head.push_version);
        let delivery = commit.delivery.as_ref().unwrap();
        assert_eq!(delivery.lease.as_ref().unwrap().owner, "me");
        assert!(!delivery.published && !delivery.pushed);
    }

    #[test]
    fn a_judged_delivery_is_resumed_or_waited_for() {
        let mut records = with_base(&instance(START, "PENDING", &[("t1", "PENDING")]), &[]);
        let job = job("t1", "APPROVE", "u-t1", "d1");
        decide(&mut records, &job);
        let mut other = ctx();
        other.lease.owner = "other".to_owned();
        assert_eq!(
            plan_decision(&records, &job, &target("t1"), "d1", &other),
            DecisionStep::InFlight {
                until_ms: NOW + 20_000
            }
        );
        assert_eq!(
            plan_decision(&records, &job, &target("t1"), "d1", &ctx()),
            DecisionStep::Resume
        );
        other.now = UnixMillis::from_millis(NOW + 20_000);
        assert_eq!(
            plan_decision(&records, &job, &target("t1"), "d1", &other),
            DecisionStep::Resume,
            "an expired lease is taken over"
        );
    }

    #[test]
    fn instance_versions_are_the_companys_and_reopen_starts_a_new_task_version() {
        let mut records = with_base(&instance(START, "PENDING", &[("t1", "PENDING")]), &[]);
        decide(&mut records, &job("t1", "APPROVE", "u-t1", "d1"));
        let stale = plan_instance(
            &records,
            &instance(START, "PENDING", &[("t1", "PENDING")]),
            &[],
            &ctx(),
        );
        assert_eq!(
            stale,
            InstanceStep::Stale {
                company_version: UnixMillis::from_millis(START)
            }
        );
        // A newer version that has not seen the decision keeps it.
        let newer = instance(START + 1, "PENDING", &[("t1", "PENDING")]);
        let InstanceStep::Commit(commit) = plan_instance(&records, &newer, &[], &ctx()) else {
            panic!("not stale");
        };
        apply(&mut records, &commit);
        let derived = records.derive(InstanceStatusPolicy::Derive).unwrap();
        assert_eq!(derived.task("t1").unwrap().status, TaskStatus::Approved);
        // Re-opened, t1 is pending again and takes a new decision with an id of its own.
        let reopened = instance(START + 2, "PENDING", &[("t1", "PENDING")]);
        let InstanceStep::Commit(commit) =
            plan_instance(&records, &reopened, &["t1".to_owned()], &ctx())
        else {
            panic!("not stale");
        };
        assert_eq!(
            commit.head.as_ref().unwrap().status,
            InstanceStatus::Pending
        );
        apply(&mut records, &commit);
        let verdict = decide(&mut records, &job("t1", "REJECT", "u-t1", "d2"));
        assert!(matches!(
            verdict,
            Verdict::Accepted { task_version, .. } if task_version == UnixMillis::from_millis(START + 2)
        ));
        assert_eq!(
            records.accepted("t1").unwrap().decision_id("i-1"),
            format!("i-1/t1/{}/REJECT", START + 2)
        );
    }

    #[test]
    fn a_withdrawn_instance_refuses_and_expires() {
        let mut records = with_base(&instance(START, "PENDING", &[("t1", "PENDING")]), &[]);
        let withdrawn = instance(START + 1, "CANCELED", &[("t1", "PENDING")]);
        let InstanceStep::Commit(commit) = plan_instance(&records, &withdrawn, &[], &ctx()) else {
            panic!("not stale");
        };
        assert_eq!(
            commit.base.as_ref().unwrap().expires_at,
            Some(NOW / 1000 + 60 * DAY)
        );
        apply(&mut records, &commit);
        let verdict = decide(&mut records, &job("t1", "APPROVE", "u-t1", "d1"));
        assert!(matches!(
            verdict,
            Verdict::Refused {
                instance_status: InstanceStatus::Canceled,
                ..
            }
        ));
    }

    #[test]
    fn unknown_instances_forward_and_deduplicate_by_task_and_action() {
        let mut records = InstanceRecords::empty("i-1");
        let first = decide(&mut records, &job("t1", "APPROVE", "u", "d1"));
        assert_eq!(
            first,
            Verdict::Forwarded {
                task_label: "t1".to_owned()
            }
        );
        assert!(matches!(
            decide(&mut records, &job("t1", "APPROVE", "u", "d2")),
            Verdict::Duplicate { .. }
        ));
        assert!(matches!(
            decide(&mut records, &job("t1", "REJECT", "u", "d3")),
            Verdict::Forwarded { .. }
        ));
        assert!(records.head.is_none());
    }

    #[test]
    fn custom_actions_take_no_position_and_repeat_as_duplicates() {
        let mut records = with_base(&instance(START, "PENDING", &[("t1", "PENDING")]), &[]);
        let verdict = decide(&mut records, &job("t1", "ESCALATE", "u-t1", "d1"));
        assert!(matches!(verdict, Verdict::Accepted { position: None, .. }));
        assert!(matches!(
            decide(&mut records, &job("t1", "ESCALATE", "u-t1", "d2")),
            Verdict::Duplicate { .. }
        ));
        assert!(matches!(
            decide(&mut records, &job("t1", "APPROVE", "u-t1", "d3")),
            Verdict::Accepted {
                position: Some(2),
                ..
            }
        ));
    }

    fn card(
        key: &str,
        task_id: &str,
        status: Option<CardStatus>,
    ) -> feishu_bridge::store::CardRecord {
        feishu_bridge::store::CardRecord {
            card_key: key.to_owned(),
            task_id: task_id.to_owned(),
            task_version: UnixMillis::ZERO,
            message_id: Some(MessageId::from(key.len() as u64)),
            sent: true,
            status,
            refused: None,
            claim: None,
            expires_at: None,
        }
    }

    #[test]
    fn cards_follow_their_task_once() {
        let mut records = with_base(
            &instance(START, "PENDING", &[("t1", "PENDING"), ("t2", "PENDING")]),
            &[],
        );
        records.cards = vec![
            card("a", "t1", None),
            card("bb", "t2", None),
            card("ccc", "t3", None),
        ];
        let updates = |records: &InstanceRecords| -> Vec<(String, CardStatus)> {
            card_updates(records, InstanceStatusPolicy::Derive, NOW)
                .into_iter()
                .map(|update| (update.card_key, update.status))
                .collect()
        };
        // The removed task's card shows DELETED; the pending ones stay as they are.
        assert_eq!(updates(&records), [("ccc".to_owned(), CardStatus::Deleted)]);
        decide(&mut records, &job("t1", "APPROVE", "u-t1", "d1"));
        assert_eq!(
            updates(&records),
            [
                ("a".to_owned(), CardStatus::Approved),
                ("ccc".to_owned(), CardStatus::Deleted)
            ]
        );
        records.cards[0].status = Some(CardStatus::Approved);
        records.cards[2].refused = Some(feishu_bridge::store::RefusedCardUpdate {
            status: CardStatus::Deleted,
            code: Some(60001),
        });
        records.cards[1].claim = Some(Lease {
            owner: "other".to_owned(),
            until: NOW + 1,
        });
        decide(&mut records, &job("t2", "REJECT", "u-t2", "d2"));
        assert!(
            updates(&records).is_empty(),
            "settled, refused for good, or claimed"
        );
        records.cards[1].claim = None;
        assert_eq!(updates(&records), [("bb".to_owned(), CardStatus::Rejected)]);
        // A withdrawal takes precedence over the tasks' statuses.
        let withdrawn = instance(
            START + 1,
            "CANCELED",
            &[("t1", "PENDING"), ("t2", "PENDING")],
        );
        let InstanceStep::Commit(commit) = plan_instance(&records, &withdrawn, &[], &ctx()) else {
            panic!("not stale");
        };
        apply(&mut records, &commit);
        assert_eq!(
            updates(&records),
            [
                ("a".to_owned(), CardStatus::Cancelled),
                ("bb".to_owned(), CardStatus::Cancelled),
                ("ccc".to_owned(), CardStatus::Cancelled)
            ]
        );
    }

    #[test]
    fn a_card_whose_claim_ran_out_unsettled_is_updated_again() {
        let mut records = with_base(&instance(START, "PENDING", &[("t1", "PENDING")]), &[]);
        decide(&mut records, &job("t1", "APPROVE", "u-t1", "d1"));
        let mut card = card("a", "t1", Some(CardStatus::Approved));
        card.claim = Some(Lease {
            owner: "died".to_owned(),
            until: NOW - 1,
        });
        records.cards = vec![card];
        let updates = card_updates(&records, InstanceStatusPolicy::Derive, NOW);
        assert_eq!(updates.len(), 1, "its holder may have set it to anything");
        assert_eq!(updates[0].status, CardStatus::Approved);
        records.cards[0].claim = None;
        assert!(card_updates(&records, InstanceStatusPolicy::Derive, NOW).is_empty());
    }

    #[test]
    fn jobs_without_a_delivery_id_are_keyed_by_task_and_action() {
        let mut job = job("t1", "APPROVE", "u", "d1");
        job.delivery_id = None;
        assert_eq!(delivery_id(&job, &target("t1")), "legacy:t1/APPROVE");
    }
}
