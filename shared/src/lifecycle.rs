//! The approval lifecycle: the one state machine of tasks, instances and bot cards, as pure
//! functions. Every job of the sync function and the callback's early look-up apply these rules,
//! so a decided or withdrawn task cannot be decided again and every card shows its task's state.
//!
//! | what | states | moves |
//! |---|---|---|
//! | task | `PENDING` → `APPROVED` / `REJECTED` (an accepted decision, or the company), `TRANSFERRED` / `DONE` (the company) | the company may put a decided task back to `PENDING` only with `reopen` |
//! | instance | `PENDING` → `APPROVED` / `REJECTED` (derived from its tasks under `derive`, or the company), `CANCELED` / `DELETED` / `HIDDEN` / `TERMINATED` (the company) | only the company's instance jobs leave a final state |
//! | card | pending (live buttons) → the status [`card_target`] gives its task and instance | a card never goes back to pending; a re-opened task gets a new card |
//!
//! A decision is judged by [`judge`] against the derived state at its position in the
//! instance's order (see the sync function's README for the order).

use crate::models::ActionType;
use crate::models::instance::{InstanceStatus, TaskStatus};
use crate::models::message::CardStatus;

/// Who sets an instance's status once approvers decide its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceStatusPolicy {
    /// The bridge derives it from the tasks ([`status_from_tasks`]) while the company's instance
    /// is `PENDING`.
    #[default]
    Derive,
    /// The company's system sets it with instance jobs; a decision changes only its task.
    External,
}

/// The task status an approver's action gives its task; `None` for a custom action, which leaves
/// the task to the company's system.
pub fn decided_status(action: &ActionType) -> Option<TaskStatus> {
    match action {
        ActionType::Approve => Some(TaskStatus::Approved),
        ActionType::Reject => Some(TaskStatus::Rejected),
        ActionType::Other(_) => None,
    }
}

/// The status a bot card shows right after `action` was taken on it: a custom action leaves the
/// task to the company's system, so its card shows `PROCESSED`.
pub fn card_status_after(action: &ActionType) -> CardStatus {
    match action {
        ActionType::Approve => CardStatus::Approved,
        ActionType::Reject => CardStatus::Rejected,
        ActionType::Other(_) => CardStatus::Processed,
    }
}

/// Whether an instance in `status` takes no more decisions.
pub fn is_final(status: &InstanceStatus) -> bool {
    *status != InstanceStatus::Pending
}

/// The instance status its tasks call for (under the `derive` policy): `REJECTED` if any task
/// is rejected; `APPROVED` if at least one task is approved and every task is approved, done or
/// transferred (a transferred task is replaced by its new approver's task); `PENDING` otherwise.
pub fn status_from_tasks<'a>(tasks: impl IntoIterator<Item = &'a TaskStatus>) -> InstanceStatus {
    let mut any_approved = false;
    let mut all_finished = true;
    for status in tasks {
        match status {
            TaskStatus::Rejected => return InstanceStatus::Rejected,
            TaskStatus::Approved => any_approved = true,
            TaskStatus::Done | TaskStatus::Transferred => {}
            TaskStatus::Pending | TaskStatus::Other(_) => all_finished = false,
        }
    }
    if any_approved && all_finished {
        InstanceStatus::Approved
    } else {
        InstanceStatus::Pending
    }
}

/// The status a bot card must show for its task (`None` when the task is gone from the
/// instance) in an instance with status `instance`; `None` while the card may stay as it is
/// (its task is pending in a pending instance).
///
/// The instance's `CANCELED`, `DELETED` and `HIDDEN` take precedence over the task's status;
/// a task removed from the instance shows `DELETED`; another final instance status with the task
/// still pending shows `PROCESSED`.
pub fn card_target(instance: &InstanceStatus, task: Option<&TaskStatus>) -> Option<CardStatus> {
    match instance {
        InstanceStatus::Canceled => return Some(CardStatus::Cancelled),
        InstanceStatus::Deleted | InstanceStatus::Hidden => return Some(CardStatus::Deleted),
        _ => {}
    }
    let Some(task) = task else {
        return Some(CardStatus::Deleted);
    };
    match task {
        TaskStatus::Approved => Some(CardStatus::Approved),
        TaskStatus::Rejected => Some(CardStatus::Rejected),
        TaskStatus::Transferred => Some(CardStatus::Forwarded),
        TaskStatus::Done => Some(CardStatus::Processed),
        TaskStatus::Pending if is_final(instance) => Some(CardStatus::Processed),
        TaskStatus::Pending | TaskStatus::Other(_) => None,
    }
}

/// What is known of the decided task when a decision is judged: the derived state at the
/// decision's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView<'a> {
    /// The task's derived status.
    pub status: &'a TaskStatus,
    /// The approver's `user_id`, when the task names one.
    pub approver: Option<&'a str>,
    /// The action already accepted on this task in its current version, if any.
    pub accepted: Option<&'a ActionType>,
}

/// A decision to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap<'a> {
    /// What the approver did.
    pub action: &'a ActionType,
    /// Who did it.
    pub user_id: &'a str,
    /// Whether the same custom action was already accepted on this task in its current version
    /// (custom actions leave the task pending, so only their own records tell).
    pub custom_already_accepted: bool,
}

/// Why a decision is refused. Refusals are final: retrying cannot change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The instance is no longer pending (withdrawn, deleted, or already decided).
    InstanceNotPending {
        /// The instance's derived status.
        status: InstanceStatus,
    },
    /// The instance has no such task (any more).
    TaskNotFound,
    /// The task is already decided, transferred or done.
    TaskNotPending {
        /// The task's derived status.
        status: TaskStatus,
    },
    /// The task names another approver.
    NotTheApprover,
}

impl Refusal {
    /// The stable reason code reported in summaries and events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InstanceNotPending { .. } => "instance_not_pending",
            Self::TaskNotFound => "task_not_found",
            Self::TaskNotPending { .. } => "task_not_pending",
            Self::NotTheApprover => "not_the_approver",
        }
    }
}

/// The verdict on a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The decision takes effect.
    Accept,
    /// The task already has this very decision: nothing changes, no event.
    Duplicate,
    /// The decision cannot take effect.
    Refuse(Refusal),
}

/// Judges `tap` against the derived state at its position: the instance's status and the task
/// (`None` when the instance has no such task).
///
/// The same action as the task's accepted decision is a duplicate; otherwise a decision is
/// accepted only when the instance is pending, the task exists and is pending, and — when the
/// task names its approver by `user_id` — the deciding user is that approver. A refusal names
/// the most specific reason: a task no longer pending before an instance no longer pending
/// (the approver's own task was handled), that before a missing task.
pub fn judge(instance: &InstanceStatus, task: Option<&TaskView<'_>>, tap: Tap<'_>) -> Judgement {
    let duplicate = match decided_status(tap.action) {
        Some(_) => task.is_some_and(|task| task.accepted == Some(tap.action)),
        None => tap.custom_already_accepted,
    };
    // The mutant never recognises a repeated decision.
    if duplicate && cfg!(not(feature = "mutant-skip-duplicate-check")) {
        return Judgement::Duplicate;
    }
    if let Some(task) = task
        && *task.status != TaskStatus::Pending
    {
        return Judgement::Refuse(Refusal::TaskNotPending {
            status: task.status.clone(),
        });
    }
    if is_final(instance) {
        return Judgement::Refuse(Refusal::InstanceNotPending {
            status: instance.clone(),
        });
    }
    let Some(task) = task else {
        return Judgement::Refuse(Refusal::TaskNotFound);
    };
    match task.approver {
        Some(approver) if !approver.is_empty() && approver != tap.user_id => {
            Judgement::Refuse(Refusal::NotTheApprover)
        }
        _ => Judgement::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: InstanceStatus = InstanceStatus::Pending;

    fn approve() -> ActionType {
        ActionType::Approve
    }

    /// Every row of the decision table: instance status, task (status, approver, accepted
    /// action), the tap (action, user, custom already accepted), the verdict.
    #[test]
    fn judge_table() {
        use Judgement::{Accept, Duplicate, Refuse};
        use TaskStatus as T;
        let escalate = ActionType::from("ESCALATE");
        type Row<'a> = (
            InstanceStatus,
            Option<(TaskStatus, Option<&'a str>, Option<ActionType>)>,
            (ActionType, &'a str, bool),
            Judgement,
        );
        let rows: Vec<Row<'_>> = vec![
            // Accepted: pending task of a pending instance, its approver (or no approver named).
            (
                P,
                Some((T::Pending, Some("u1"), None)),
                (approve(), "u1", false),
                Accept,
            ),
            (
                P,
                Some((T::Pending, None, None)),
                (ActionType::Reject, "anyone", false),
                Accept,
            ),
            (
                P,
                Some((T::Pending, Some(""), None)),
                (approve(), "anyone", false),
                Accept,
            ),
            // The same action again is a duplicate, even once the instance is final.
            (
                P,
                Some((T::Approved, Some("u1"), Some(approve()))),
                (approve(), "u1", false),
                Duplicate,
            ),
            (
                InstanceStatus::Approved,
                Some((T::Approved, Some("u1"), Some(approve()))),
                (approve(), "u1", false),
                Duplicate,
            ),
            // The contrary action on a decided task is refused with the task's status.
            (
                P,
                Some((T::Rejected, Some("u1"), Some(ActionType::Reject))),
                (approve(), "u1", false),
                Refuse(Refusal::TaskNotPending {
                    status: T::Rejected,
                }),
            ),
            // Decided in the company's system (no accepted decision): refused, even the same action.
            (
                P,
                Some((T::Approved, Some("u1"), None)),
                (approve(), "u1", false),
                Refuse(Refusal::TaskNotPending {
                    status: T::Approved,
                }),
            ),
            (
                P,
                Some((T::Transferred, None, None)),
                (approve(), "u1", false),
                Refuse(Refusal::TaskNotPending {
                    status: T::Transferred,
                }),
            ),
            (
                P,
                Some((T::Done, None, None)),
                (approve(), "u1", false),
                Refuse(Refusal::TaskNotPending { status: T::Done }),
            ),
            // A decided task says so even when its instance is decided too.
            (
                InstanceStatus::Rejected,
                Some((T::Rejected, Some("u1"), Some(ActionType::Reject))),
                (approve(), "u1", false),
                Refuse(Refusal::TaskNotPending {
                    status: T::Rejected,
                }),
            ),
            // A withdrawn, deleted or decided instance takes no decision on a pending task.
            (
                InstanceStatus::Canceled,
                Some((T::Pending, None, None)),
                (approve(), "u1", false),
                Refuse(Refusal::InstanceNotPending {
                    status: InstanceStatus::Canceled,
                }),
            ),
            (
                InstanceStatus::Rejected,
                Some((T::Pending, None, None)),
                (approve(), "u1", false),
                Refuse(Refusal::InstanceNotPending {
                    status: InstanceStatus::Rejected,
                }),
            ),
            (
                InstanceStatus::Deleted,
                None,
                (approve(), "u1", false),
                Refuse(Refusal::InstanceNotPending {
                    status: InstanceStatus::Deleted,
                }),
            ),
            // No such task; another approver's task.
            (
                P,
                None,
                (approve(), "u1", false),
                Refuse(Refusal::TaskNotFound),
            ),
            (
                P,
                Some((T::Pending, Some("u2"), None)),
                (approve(), "u1", false),
                Refuse(Refusal::NotTheApprover),
            ),
            // Custom actions: accepted on a pending task, a duplicate when already taken, refused
            // like any decision once the task or instance is no longer pending.
            (
                P,
                Some((T::Pending, Some("u1"), None)),
                (escalate.clone(), "u1", false),
                Accept,
            ),
            (
                P,
                Some((T::Pending, Some("u1"), None)),
                (escalate.clone(), "u1", true),
                Duplicate,
            ),
            (
                P,
                Some((T::Approved, Some("u1"), Some(approve()))),
                (escalate.clone(), "u1", false),
                Refuse(Refusal::TaskNotPending {
                    status: T::Approved,
                }),
            ),
            (
                InstanceStatus::Canceled,
                Some((T::Pending, Some("u1"), None)),
                (escalate, "u1", false),
                Refuse(Refusal::InstanceNotPending {
                    status: InstanceStatus::Canceled,
                }),
            ),
        ];
        for (index, (instance, task, (action, user_id, custom), expected)) in
            rows.iter().enumerate()
        {
            let view = task.as_ref().map(|(status, approver, accepted)| TaskView {
                status,
                approver: *approver,
                accepted: accepted.as_ref(),
            });
            let tap = Tap {
                action,
                user_id,
                custom_already_accepted: *custom,
            };
            assert_eq!(
                &judge(instance, view.as_ref(), tap),
                expected,
                "row {index}"
            );
        }
    }

    /// Every row of the card table: instance status, task status (`None`: removed), the card.
    #[test]
    fn card_table() {
        use CardStatus as C;
        use InstanceStatus as I;
        use TaskStatus as T;
        let rows = [
            (I::Pending, Some(T::Pending), None),
            (I::Pending, Some(T::Approved), Some(C::Approved)),
            (I::Pending, Some(T::Rejected), Some(C::Rejected)),
            (I::Pending, Some(T::Transferred), Some(C::Forwarded)),
            (I::Pending, Some(T::Done), Some(C::Processed)),
            (I::Pending, None, Some(C::Deleted)),
            (I::Approved, Some(T::Approved), Some(C::Approved)),
            (I::Approved, Some(T::Pending), Some(C::Processed)),
            (I::Rejected, Some(T::Pending), Some(C::Processed)),
            (I::Rejected, Some(T::Rejected), Some(C::Rejected)),
            (I::Terminated, Some(T::Pending), Some(C::Processed)),
            // The instance's withdrawal and deletion take precedence over the task's status.
            (I::Canceled, Some(T::Pending), Some(C::Cancelled)),
            (I::Canceled, Some(T::Approved), Some(C::Cancelled)),
            (I::Canceled, None, Some(C::Cancelled)),
            (I::Deleted, Some(T::Approved), Some(C::Deleted)),
            (I::Hidden, Some(T::Pending), Some(C::Deleted)),
        ];
        for (instance, task, expected) in rows {
            assert_eq!(
                card_target(&instance, task.as_ref()),
                expected,
                "{instance} / {task:?}"
            );
        }
    }

    #[test]
    fn instance_status_from_tasks_table() {
        use InstanceStatus as I;
        use TaskStatus as T;
        let rows: [(&[T], I); 7] = [
            (&[], I::Pending),
            (&[T::Pending, T::Approved], I::Pending),
            (&[T::Approved, T::Approved], I::Approved),
            (&[T::Approved, T::Done, T::Transferred], I::Approved),
            (&[T::Done, T::Transferred], I::Pending),
            (&[T::Pending, T::Rejected], I::Rejected),
            (&[T::Approved, T::Rejected], I::Rejected),
        ];
        for (tasks, expected) in rows {
            assert_eq!(status_from_tasks(tasks), expected, "{tasks:?}");
        }
    }

    #[test]
    fn actions_map_to_task_and_card_statuses() {
        let custom = ActionType::from("ESCALATE");
        assert_eq!(
            decided_status(&ActionType::Approve),
            Some(TaskStatus::Approved)
        );
        assert_eq!(
            decided_status(&ActionType::Reject),
            Some(TaskStatus::Rejected)
        );
        assert_eq!(decided_status(&custom), None);
        assert_eq!(
            card_status_after(&ActionType::Approve),
            CardStatus::Approved
        );
        assert_eq!(card_status_after(&ActionType::Reject), CardStatus::Rejected);
        assert_eq!(card_status_after(&custom), CardStatus::Processed);
    }
}
