//! The records the sync function keeps per instance, and the instance they derive.
//!
//! An instance has two writers: the company's system (instance jobs) and approvers (decisions).
//! Each keeps its own records — the company's instance as sent ([`Base`]) and one record per
//! accepted decision ([`AcceptedDecision`]) — ordered by positions a small [`Head`] hands out.
//! What Feishu gets is always derived from both ([`InstanceRecords::derive`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::callback::ApprovalDecision;
use crate::ids::MessageId;
use crate::job::DecisionJob;
use crate::lifecycle::{
    self, Approver, InstanceStatusPolicy, InstanceView, Judgement, Tap, TaskView,
};
use crate::models::ActionType;
use crate::models::instance::{ExternalInstance, InstanceStatus, TaskStatus, UpdateMode};
use crate::models::message::CardStatus;
use crate::models::time::UnixMillis;

/// A place in an instance's total order of accepted company versions and accepted decisions;
/// `0` before anything was accepted.
pub type Position = u64;

/// The per-instance head: the last position handed out and what holds at it. Small, so the
/// conditional update that advances it is cheap to retry. Once the instance is final it is also
/// the instance's tombstone, kept long after the other records expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last position handed out.
    pub seq: Position,
    /// The `update_time` of the company's latest accepted instance: a newer instance job must
    /// carry a larger one.
    pub company_version: UnixMillis,
    /// The `update_time` every push of the state at `seq` carries: the bridge's own version,
    /// strictly increasing per instance (`max(now, last + 1)`), independent of the company's.
    pub push_version: UnixMillis,
    /// The highest position whose state Feishu accepted a push of.
    #[serde(default)]
    pub pushed_seq: Position,
    /// The execution pushing the instance right now: pushes of one instance never overlap, so
    /// none can overtake another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_lease: Option<Lease>,
    /// The derived instance status at `seq`.
    pub status: InstanceStatus,
    /// When `seq` last moved (Unix ms): the recent-changes index reconciliation reads.
    pub touched_at: u64,
    /// The hour bucket of `touched_at` (`touched_at / 3_600_000`), the index's partition.
    pub touched_hour: u64,
    /// When DynamoDB may delete the head (Unix seconds); set once the instance is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// The company's instance, stored exactly as its system sent it. The bridge never writes into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Base {
    /// The position at which it was accepted.
    pub position: Position,
    /// The instance as sent; its `update_time` is the company's version.
    pub instance: ExternalInstance,
    /// The version of each task re-opened by the company (`reopen`): the company version that
    /// re-opened it. A task never re-opened has version 0. Carried over from base to base.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub task_versions: BTreeMap<String, UnixMillis>,
    /// When DynamoDB may delete the record (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl Base {
    /// The current version of task `task_id`: the company version that last re-opened it, else 0.
    pub fn task_version(&self, task_id: &str) -> UnixMillis {
        self.task_versions
            .get(task_id)
            .copied()
            .unwrap_or(UnixMillis::ZERO)
    }
}

/// An accepted approve or reject: one per task version, overlaying the base's `PENDING` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedDecision {
    /// The decided task.
    pub task_id: String,
    /// The task version it was accepted on (see [`Base::task_versions`]).
    pub task_version: UnixMillis,
    /// `APPROVE` or `REJECT`.
    pub action: ActionType,
    /// Its position in the instance's order.
    pub position: Position,
    /// The push version of its position: the task's `update_time` from then on.
    pub push_version: UnixMillis,
    /// When it was accepted: the task's `end_time`.
    pub decided_at: UnixMillis,
    /// Who decided.
    pub user_id: String,
    /// The delivery that carried it.
    pub delivery_id: String,
    /// When DynamoDB may delete the record (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl AcceptedDecision {
    /// The stable id of the decision event: `instance/task/task_version/action`. The same across
    /// retries and deliveries of this decision; another for a decision on a re-opened task.
    pub fn decision_id(&self, instance_id: &str) -> String {
        decision_id(instance_id, &self.task_id, self.task_version, &self.action)
    }
}

/// The id of the decision `action` on version `task_version` of task `task` of `instance`.
pub fn decision_id(
    instance: &str,
    task: &str,
    task_version: UnixMillis,
    action: &ActionType,
) -> String {
    format!("{instance}/{task}/{task_version}/{action}")
}

/// A lease: the execution `owner` holds something until `until` (Unix ms). It never outlives
/// its holder's deadline, so a crashed holder's lease simply runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// A random id of the holding execution.
    pub owner: String,
    /// Unix ms after which anyone may take over.
    pub until: u64,
}

impl Lease {
    /// Whether the lease still holds at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.until > now_ms
    }
}

/// The verdict recorded for a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Accepted on `task_version` of its task. Approve / reject also have an
    /// [`AcceptedDecision`] at `position`; a custom action changes no state and has none.
    Accepted {
        /// The task version decided.
        task_version: UnixMillis,
        /// Its position (approve / reject only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<Position>,
        /// The derived instance status right after it.
        instance_status: InstanceStatus,
    },
    /// The task already had this decision: the delivery changed nothing.
    Duplicate {
        /// The decision it repeated.
        decision_id: String,
    },
    /// Refused (see [`lifecycle::Refusal`]).
    Refused {
        /// The refusal's reason code.
        reason: String,
        /// The task's derived status, when it exists.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_status: Option<TaskStatus>,
        /// The instance's derived status.
        instance_status: InstanceStatus,
    },
    /// The bridge never saw the instance: passed on to the company's system to judge.
    Forwarded {
        /// The decided task, or `message:<id>` when only the card is known.
        task_label: String,
    },
}

/// One delivery of a decision job (a callback, identified by the digest of its body; by its
/// request id in records written by earlier versions): the claim on its processing (its lease)
/// and its result. A retry of the delivery finds it and only finishes
/// what is left undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The job's delivery id (or a key derived from the decision for older jobs).
    pub delivery_id: String,
    /// The job as received: what the events tell the company's system.
    pub job: DecisionJob,
    /// The task the decision resolved to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// What was decided about it.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// When it was judged.
    pub judged_at: UnixMillis,
    /// The execution finishing it, while one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Whether the card the decision was made on has been dealt with.
    #[serde(default)]
    pub card_done: bool,
    /// Whether Feishu accepted a push of a state including it (approve / reject).
    #[serde(default)]
    pub pushed: bool,
    /// Whether its event was published.
    #[serde(default)]
    pub published: bool,
    /// When DynamoDB may delete the record (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl Delivery {
    /// Whether nothing is left to do for it.
    pub fn is_finished(&self) -> bool {
        let needs_push = matches!(
            self.verdict,
            Verdict::Accepted {
                position: Some(_),
                ..
            }
        );
        self.card_done && self.published && (self.pushed || !needs_push)
    }
}

/// A bot card of the instance: sent by the bridge (`notify`) or adopted when a callback came from
/// a card the bridge did not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRecord {
    /// The card's key in the instance: the `uuid` it was sent with, or `m:<message_id>`.
    pub card_key: String,
    /// Its task.
    pub task_id: String,
    /// The task version it was sent for.
    pub task_version: UnixMillis,
    /// Its message id; `None` when Feishu's answer to the send was lost or carried none (the card
    /// then cannot be updated until a callback from it tells its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// Whether a send of it was answered with success. A card recorded but not sent is the
    /// trace of an attempt that ended before Feishu's answer: it is sent again (same `uuid`).
    #[serde(default)]
    pub sent: bool,
    /// The last status Feishu accepted for it; `None` while it is pending (live buttons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CardStatus>,
    /// A status Feishu refused to set for good (e.g. `60001`, a card past its 30 days), with
    /// Feishu's code: it is not tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<RefusedCardUpdate>,
    /// The execution updating it, while one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Lease>,
    /// When DynamoDB may delete the record (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// A card update Feishu refused permanently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedCardUpdate {
    /// The status that could not be set.
    pub status: CardStatus,
    /// Feishu's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
}

/// The card key of a card known only by its message id.
pub fn adopted_card_key(message_id: &MessageId) -> String {
    format!("m:{message_id}")
}

/// Which task a bot card belongs to (callbacks from a card may carry only its `message_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRef {
    /// The instance the card was sent for.
    pub instance_id: String,
    /// The task the card was sent for.
    pub task_id: String,
}

/// Everything stored about one instance, consistent as of its head: records at positions past
/// the head are left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstanceRecords {
    /// The instance (or `message:<id>` / `task:<id>` for decisions on an unresolved instance).
    pub instance_id: String,
    /// The head; `None` while the bridge never accepted a company instance.
    pub head: Option<Head>,
    /// The company's latest accepted instance; `None` before the first, or once expired.
    pub base: Option<Base>,
    /// Accepted approve / reject decisions.
    pub decisions: Vec<AcceptedDecision>,
    /// Deliveries of decision jobs.
    pub deliveries: Vec<Delivery>,
    /// Bot cards.
    pub cards: Vec<CardRecord>,
}

impl InstanceRecords {
    /// No records for `instance_id`.
    pub fn empty(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            ..Self::default()
        }
    }

    /// The position the records are consistent at (`0` for an unknown instance).
    pub fn seq(&self) -> Position {
        self.head.as_ref().map_or(0, |head| head.seq)
    }

    /// The delivery `delivery_id`, if recorded.
    pub fn delivery(&self, delivery_id: &str) -> Option<&Delivery> {
        self.deliveries
            .iter()
            .find(|delivery| delivery.delivery_id == delivery_id)
    }

    /// The decision accepted on the current version of `task_id`, if any.
    pub fn accepted(&self, task_id: &str) -> Option<&AcceptedDecision> {
        let version = self
            .base
            .as_ref()
            .map_or(UnixMillis::ZERO, |base| base.task_version(task_id));
        self.decisions
            .iter()
            .find(|decision| decision.task_id == task_id && decision.task_version == version)
    }

    /// The card of the instance with message id `message_id`.
    pub fn card_by_message(&self, message_id: &MessageId) -> Option<&CardRecord> {
        self.cards
            .iter()
            .find(|card| card.message_id.as_ref() == Some(message_id))
    }

    /// The instance derived at the head: the base overlaid with the accepted decisions, with the
    /// bridge's push version as `update_time`. `None` when there is no base.
    ///
    /// A task the base shows decided is the company's word and wins; a task the base shows
    /// `PENDING` takes the status of the decision accepted on its current version (the company
    /// has not processed it yet). Under [`InstanceStatusPolicy::Derive`] a base `PENDING`
    /// instance takes the status its derived tasks call for.
    pub fn derive(&self, policy: InstanceStatusPolicy) -> Option<ExternalInstance> {
        let (head, base) = (self.head.as_ref()?, self.base.as_ref()?);
        let mut instance = base.instance.clone();
        let mut last_decided = None;
        for task in &mut instance.task_list {
            if task.status != TaskStatus::Pending {
                continue;
            }
            let Some(decision) = self.accepted(&task.task_id) else {
                continue;
            };
            let Some(status) = lifecycle::decided_status(&decision.action) else {
                continue;
            };
            task.status = status;
            task.end_time = decision.decided_at.max(task.create_time);
            task.update_time = Some(decision.push_version);
            last_decided = last_decided.max(Some(decision.decided_at));
        }
        instance.update_time = head.push_version;
        instance.update_mode = Some(UpdateMode::Replace);
        if policy == InstanceStatusPolicy::Derive && instance.status == InstanceStatus::Pending {
            let status = lifecycle::status_from_tasks(instance.task_list.iter().map(|t| &t.status));
            if lifecycle::is_final(&status) {
                instance.status = status;
                instance.end_time = last_decided
                    .unwrap_or(head.push_version)
                    .max(instance.start_time);
            }
        }
        Some(instance)
    }

    /// The instance as the bridge pushes it to Feishu: [`Self::derive`] with every task's
    /// `action_context` a [`TapContext`](crate::tap_context::TapContext) naming the task's
    /// current version and carrying the company's context inside, so a tap in the Approval
    /// Center says which version of the task it was made on.
    pub fn for_feishu(&self, policy: InstanceStatusPolicy) -> Option<ExternalInstance> {
        let mut instance = self.derive(policy)?;
        let base = self.base.as_ref()?;
        crate::tap_context::wrap_task_contexts(&mut instance, |task_id| base.task_version(task_id));
        Some(instance)
    }

    /// The derived instance status at the head: the head's (which also survives as the
    /// tombstone), or `None` for an instance the bridge never accepted.
    pub fn status(&self) -> Option<&InstanceStatus> {
        self.head.as_ref().map(|head| &head.status)
    }

    /// What a decision on `task_id` is judged against: the task as derived at the head, with the
    /// decision already accepted on its current version. `None` when the instance has no such
    /// task (or its base expired).
    pub fn task_view<'a>(
        &'a self,
        derived: Option<&'a ExternalInstance>,
        task_id: &str,
    ) -> Option<TaskView<'a>> {
        let task = derived?.task(task_id)?;
        Some(TaskView {
            status: &task.status,
            approver: Approver {
                user_id: task.user_id.as_deref(),
                open_id: task.open_id.as_deref(),
            },
            accepted: self.accepted(task_id).map(|decision| &decision.action),
            version: self
                .base
                .as_ref()
                .map_or(UnixMillis::ZERO, |base| base.task_version(task_id)),
        })
    }
}

/// A decision judged against an instance's records ([`InstanceRecords::judge_tap`]), with
/// what the verdict was reached on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapJudgement {
    /// The verdict ([`lifecycle::judge`]).
    pub judgement: Judgement,
    /// The current version of the decided task (see [`Base::task_versions`]).
    pub task_version: UnixMillis,
    /// The task's derived status, when the instance has the task.
    pub task_status: Option<TaskStatus>,
    /// The instance's derived status (the head's).
    pub instance_status: InstanceStatus,
}

impl InstanceRecords {
    /// Judges `decision` on task `task_id` (the task it resolved to) against the records at
    /// their head, with [`lifecycle::judge`]: the sync step's verdict on a decision job, and the
    /// callback function's early answer. The task version the tap was made on comes from its
    /// `action_context` ([`TapContext`](crate::tap_context::TapContext)). `None` for an instance
    /// the bridge never accepted (no head): the company's system judges such decisions.
    ///
    /// The verdict does not depend on the [`InstanceStatusPolicy`]: the instance's status is the
    /// head's, and the policy changes only the instance status of [`Self::derive`], never its
    /// tasks.
    pub fn judge_tap(&self, task_id: &str, decision: &ApprovalDecision) -> Option<TapJudgement> {
        let action = &decision.action;
        let instance_status = self.head.as_ref()?.status.clone();
        let derived = self.derive(InstanceStatusPolicy::External);
        let task_version = self
            .base
            .as_ref()
            .map_or(UnixMillis::ZERO, |base| base.task_version(task_id));
        let task = self.task_view(derived.as_ref(), task_id);
        let custom_already_accepted = lifecycle::decided_status(action).is_none()
            && self.deliveries.iter().any(|earlier| {
                earlier.task_id.as_deref() == Some(task_id)
                    && earlier.job.decision.action == *action
                    && matches!(earlier.verdict, Verdict::Accepted { task_version: v, .. } if v == task_version)
            });
        let tap = Tap {
            action,
            user_id: &decision.user_id,
            approval_code: &decision.approval_code,
            task_version: crate::tap_context::TapContext::tapped_version(
                decision.action_context.as_deref(),
                &self.instance_id,
                task_id,
            ),
            custom_already_accepted,
        };
        let instance = InstanceView {
            status: &instance_status,
            approval_code: derived
                .as_ref()
                .map(|instance| instance.approval_code.as_str()),
        };
        let judgement = lifecycle::judge(&instance, task.as_ref(), tap);
        Some(TapJudgement {
            judgement,
            task_version,
            task_status: task.map(|task| task.status.clone()),
            instance_status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_700_000_000_000;

    fn base(tasks: &[(&str, TaskStatus)]) -> Base {
        let task_list: Vec<_> = tasks
            .iter()
            .map(|(task_id, status)| {
                serde_json::json!({
                    "task_id": task_id, "user_id": format!("u-{task_id}"),
                    "links": {"pc_link": "https://example.com"}, "status": status.as_str(),
                    "create_time": START.to_string(), "end_time": "0",
                    "update_time": START.to_string()
                })
            })
            .collect();
        let instance = serde_json::from_value(serde_json::json!({
            "approval_code": "C", "status": "PENDING", "instance_id": "i-1",
            "links": {"pc_link": "https://example.com"}, "user_id": "initiator",
            "start_time": START.to_string(), "end_time": "0", "update_time": "5",
            "task_list": task_list
        }))
        .unwrap();
        Base {
            position: 1,
            instance,
            task_versions: BTreeMap::new(),
            expires_at: None,
        }
    }

    fn head(seq: Position, push_version: u64) -> Head {
        Head {
            seq,
            company_version: UnixMillis::from_millis(5),
            push_version: UnixMillis::from_millis(push_version),
            pushed_seq: 0,
            push_lease: None,
            status: InstanceStatus::Pending,
            touched_at: START,
            touched_hour: START / 3_600_000,
            expires_at: None,
        }
    }

    fn accepted(task_id: &str, action: ActionType, position: Position) -> AcceptedDecision {
        AcceptedDecision {
            task_id: task_id.to_owned(),
            task_version: UnixMillis::ZERO,
            action,
            position,
            push_version: UnixMillis::from_millis(START + position),
            decided_at: UnixMillis::from_millis(START + 10 * position),
            user_id: format!("u-{task_id}"),
            delivery_id: format!("d-{position}"),
            expires_at: None,
        }
    }

    #[test]
    fn decisions_overlay_pending_tasks_and_derive_the_instance() {
        let records = InstanceRecords {
            instance_id: "i-1".to_owned(),
            head: Some(head(3, START + 3)),
            base: Some(base(&[
                ("t1", TaskStatus::Pending),
                ("t2", TaskStatus::Pending),
            ])),
            decisions: vec![
                accepted("t1", ActionType::Approve, 2),
                accepted("t2", ActionType::Approve, 3),
            ],
            ..InstanceRecords::empty("i-1")
        };
        let derived = records.derive(InstanceStatusPolicy::Derive).unwrap();
        assert_eq!(derived.status, InstanceStatus::Approved);
        assert_eq!(derived.update_time, UnixMillis::from_millis(START + 3));
        assert_eq!(derived.end_time, UnixMillis::from_millis(START + 30));
        assert_eq!(derived.update_mode, Some(UpdateMode::Replace));
        let t1 = derived.task("t1").unwrap();
        assert_eq!(t1.status, TaskStatus::Approved);
        assert_eq!(t1.end_time, UnixMillis::from_millis(START + 20));
        assert_eq!(t1.update_time, Some(UnixMillis::from_millis(START + 2)));

        let external = records.derive(InstanceStatusPolicy::External).unwrap();
        assert_eq!(external.status, InstanceStatus::Pending);
        assert_eq!(external.task("t2").unwrap().status, TaskStatus::Approved);
    }

    #[test]
    fn the_company_word_wins_and_reopened_tasks_shed_their_old_decision() {
        let mut base = base(&[("t1", TaskStatus::Rejected), ("t2", TaskStatus::Pending)]);
        base.task_versions
            .insert("t2".to_owned(), UnixMillis::from_millis(7));
        let records = InstanceRecords {
            instance_id: "i-1".to_owned(),
            head: Some(head(4, START + 4)),
            base: Some(base),
            decisions: vec![
                accepted("t1", ActionType::Approve, 2),
                accepted("t2", ActionType::Approve, 3),
            ],
            ..InstanceRecords::empty("i-1")
        };
        let derived = records.derive(InstanceStatusPolicy::Derive).unwrap();
        assert_eq!(derived.task("t1").unwrap().status, TaskStatus::Rejected);
        assert_eq!(derived.task("t2").unwrap().status, TaskStatus::Pending);
        assert_eq!(derived.status, InstanceStatus::Rejected);
        assert!(records.accepted("t2").is_none());
        let view = records.task_view(Some(&derived), "t2").unwrap();
        assert_eq!(view.accepted, None);
        assert_eq!(view.approver.user_id, Some("u-t2"));
        assert_eq!(view.version, UnixMillis::from_millis(7));
    }

    #[test]
    fn nothing_is_derived_without_a_base() {
        let records = InstanceRecords {
            head: Some(head(2, START)),
            ..InstanceRecords::empty("i-1")
        };
        assert_eq!(records.derive(InstanceStatusPolicy::Derive), None);
        assert_eq!(records.status(), Some(&InstanceStatus::Pending));
        assert_eq!(InstanceRecords::empty("i-1").status(), None);
    }

    fn tap(task_id: &str, user_id: &str, action_context: Option<String>) -> ApprovalDecision {
        ApprovalDecision {
            approval_code: "C".to_owned(),
            instance_id: Some("i-1".to_owned()),
            task_id: Some(task_id.to_owned()),
            message_id: None,
            action: ActionType::Approve,
            user_id: user_id.to_owned(),
            reason: None,
            action_context,
            attachments: Vec::new(),
        }
    }

    #[test]
    fn pushed_tasks_name_their_version_and_a_tap_on_an_earlier_one_is_stale() {
        let mut base = base(&[("t1", TaskStatus::Pending), ("t2", TaskStatus::Pending)]);
        base.task_versions
            .insert("t2".to_owned(), UnixMillis::from_millis(7));
        let records = InstanceRecords {
            instance_id: "i-1".to_owned(),
            head: Some(head(2, START + 2)),
            base: Some(base),
            ..InstanceRecords::empty("i-1")
        };
        let pushed = records.for_feishu(InstanceStatusPolicy::Derive).unwrap();
        let context = |task_id| {
            pushed
                .task(task_id)
                .and_then(|task| task.action_context.clone())
        };
        let t2 = crate::tap_context::TapContext::decode(&context("t2").unwrap()).unwrap();
        assert_eq!(t2.task_version, Some(UnixMillis::from_millis(7)));
        assert_eq!(
            records
                .derive(InstanceStatusPolicy::Derive)
                .unwrap()
                .task("t2")
                .unwrap()
                .action_context,
            None,
            "what is judged and carded keeps the company's own context"
        );

        let judged = |decision: &ApprovalDecision| {
            records
                .judge_tap(decision.task_id.as_deref().unwrap(), decision)
                .unwrap()
                .judgement
        };
        // As Feishu shows the tasks now: accepted.
        assert_eq!(judged(&tap("t2", "u-t2", context("t2"))), Judgement::Accept);
        assert_eq!(judged(&tap("t1", "u-t1", context("t1"))), Judgement::Accept);
        // Made on t2 before it was re-opened (version 0): stale.
        let before = crate::tap_context::TapContext {
            task_version: Some(UnixMillis::ZERO),
            ..t2
        };
        assert_eq!(
            judged(&tap("t2", "u-t2", Some(before.encode()))),
            Judgement::Refuse(lifecycle::Refusal::StaleTaskVersion)
        );
        // Contexts that do not say (older ones, foreign ones) are judged as before.
        assert_eq!(
            judged(&tap("t2", "u-t2", Some("12345".to_owned()))),
            Judgement::Accept
        );
        // Someone else, on any version: not the approver.
        assert_eq!(
            judged(&tap("t2", "u-t1", Some(before.encode()))),
            Judgement::Refuse(lifecycle::Refusal::NotTheApprover)
        );
        // Another definition's code.
        let mut other_code = tap("t1", "u-t1", None);
        other_code.approval_code = "X".to_owned();
        assert_eq!(
            judged(&other_code),
            Judgement::Refuse(lifecycle::Refusal::ApprovalCodeMismatch)
        );
    }

    #[test]
    fn deliveries_written_by_earlier_versions_still_load() {
        // A delivery as the bridge wrote it before proofs and body-digest delivery ids.
        let stored = serde_json::json!({
            "delivery_id": "8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a",
            "job": {
                "approval_code": "C", "instance_id": "i-1", "task_id": "t1", "action": "APPROVE",
                "user_id": "u-t1", "received_at": "1700000000000",
                "delivery_id": "8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a"
            },
            "task_id": "t1",
            "verdict": "refused", "reason": "task_not_pending", "task_status": "APPROVED",
            "instance_status": "PENDING",
            "judged_at": "1700000000001", "card_done": true, "published": true
        });
        let delivery: Delivery = serde_json::from_value(stored).unwrap();
        assert_eq!(delivery.job.proof, None);
        assert_eq!(
            delivery.job.delivery_id.as_deref(),
            Some("8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a")
        );
        assert!(delivery.is_finished());
    }

    #[test]
    fn decision_ids_name_the_task_version() {
        let mut decision = accepted("t1", ActionType::Approve, 2);
        assert_eq!(decision.decision_id("i-1"), "i-1/t1/0/APPROVE");
        decision.task_version = UnixMillis::from_millis(7);
        assert_eq!(decision.decision_id("i-1"), "i-1/t1/7/APPROVE");
    }
}
