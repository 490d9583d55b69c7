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
//! instance's order (see the sync function's README for the order). Who tapped is checked first:
//! someone other than the task's approver learns nothing of the task's state from the verdict.

use crate::models::ActionType;
use crate::models::instance::{InstanceStatus, TaskStatus};
use crate::models::message::CardStatus;
use crate::models::time::UnixMillis;

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

/// What is known of the instance when a decision is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceView<'a> {
    /// The instance's derived status.
    pub status: &'a InstanceStatus,
    /// The approval code the company's instance carries, when its instance is known.
    pub approval_code: Option<&'a str>,
}

/// Who a task names as its approver (`feishu-api.md` §4.1: by `user_id`, `open_id` or both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Approver<'a> {
    /// The approver's `user_id`.
    pub user_id: Option<&'a str>,
    /// The approver's `open_id`.
    pub open_id: Option<&'a str>,
}

impl Approver<'_> {
    /// Whether a tap by `tapped_by` (a `user_id`) is the approver's. A callback names its operator by `user_id`
    /// alone (`feishu-api.md` §2.2), so a task naming its approver only by `open_id` admits no
    /// tap: nobody can be shown to be its approver. A task naming nobody admits anyone.
    pub fn admits(&self, tapped_by: &str) -> bool {
        let user_id = self.user_id.filter(|id| !id.is_empty());
        let open_id = self.open_id.filter(|id| !id.is_empty());
        match (user_id, open_id) {
            (Some(approver), _) => approver == tapped_by,
            (None, Some(_)) => false,
            (None, None) => true,
        }
    }
}

/// What is known of the decided task when a decision is judged: the derived state at the
/// decision's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView<'a> {
    /// The task's derived status.
    pub status: &'a TaskStatus,
    /// Its approver.
    pub approver: Approver<'a>,
    /// The action already accepted on this task in its current version, if any.
    pub accepted: Option<&'a ActionType>,
    /// Its current version: 0, or the company version that last re-opened it.
    pub version: UnixMillis,
}

/// A decision to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap<'a> {
    /// What the approver did.
    pub action: &'a ActionType,
    /// Who did it.
    pub user_id: &'a str,
    /// The approval code the callback carried.
    pub approval_code: &'a str,
    /// The task version the tap was made on, when its `action_context` tells (the contexts the
    /// bridge puts on tasks and cards); `None` for contexts from before versions were carried.
    pub task_version: Option<UnixMillis>,
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
    /// The task names another approver (or names its approver in a way no tap can match).
    NotTheApprover,
    /// The decision names another approval definition than the instance's.
    ApprovalCodeMismatch,
    /// The tap was made on an earlier version of the task: the company re-opened it since, and
    /// it takes a new decision on its new version.
    StaleTaskVersion,
}

impl Refusal {
    /// The stable reason code reported in summaries and events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InstanceNotPending { .. } => "instance_not_pending",
            Self::TaskNotFound => "task_not_found",
            Self::TaskNotPending { .. } => "task_not_pending",
            Self::NotTheApprover => "not_the_approver",
            Self::ApprovalCodeMismatch => "approval_code_mismatch",
            Self::StaleTaskVersion => "stale_task_version",
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

/// Judges `tap` against the derived state at its position: the instance and the task (`None`
/// when the instance has no such task).
///
/// In this order:
/// 1. a tap by anyone but the task's approver ([`Approver::admits`]) is `not_the_approver`,
///    whatever the task's and the instance's state, so the verdict tells a stranger nothing;
/// 2. a tap naming another approval code than the instance's is `approval_code_mismatch`;
/// 3. a tap made on an earlier version of the task (it was re-opened since) is
///    `stale_task_version`;
/// 4. the same action as the task's accepted decision is a duplicate;
/// 5. otherwise it is accepted only when the task exists and is pending and the instance is
///    pending, and a refusal names the most specific reason: a task no longer pending before an
///    instance no longer pending (the approver's own task was handled), that before a missing
///    task.
pub fn judge(instance: &InstanceView<'_>, task: Option<&TaskView<'_>>, tap: Tap<'_>) -> Judgement {
    if task.is_some_and(|task| !task.approver.admits(tap.user_id)) {
        return Judgement::Refuse(Refusal::NotTheApprover);
    }
    if instance
        .approval_code
        .is_some_and(|code| code != tap.approval_code)
    {
        return Judgement::Refuse(Refusal::ApprovalCodeMismatch);
    }
    if let (Some(task), Some(tapped)) = (task, tap.task_version)
        && tapped != task.version
    {
        return Judgement::Refuse(Refusal::StaleTaskVersion);
    }
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
    if is_final(instance.status) {
        return Judgement::Refuse(Refusal::InstanceNotPending {
            status: instance.status.clone(),
        });
    }
    match task {
        Some(_) => Judgement::Accept,
        None => Judgement::Refuse(Refusal::TaskNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approve() -> ActionType {
        ActionType::Approve
    }

    /// A task in a row of the decision table.
    struct T<'a> {
        status: TaskStatus,
        user_id: Option<&'a str>,
        open_id: Option<&'a str>,
        accepted: Option<ActionType>,
        version: u64,
    }

    /// A task in `status`, its approver `u1` (by `user_id`), at version 0, nothing accepted.
    fn task(status: TaskStatus) -> T<'static> {
        T {
            status,
            user_id: Some("u1"),
            open_id: None,
            accepted: None,
            version: 0,
        }
    }

    impl<'a> T<'a> {
        fn approver(mut self, user_id: Option<&'a str>, open_id: Option<&'a str>) -> Self {
            self.user_id = user_id;
            self.open_id = open_id;
            self
        }

        fn accepted(mut self, action: ActionType) -> Self {
            self.accepted = Some(action);
            self
        }

        fn version(mut self, version: u64) -> Self {
            self.version = version;
            self
        }
    }

    /// A tap in a row of the decision table.
    struct Row<'a> {
        action: ActionType,
        user_id: &'a str,
        code: &'a str,
        version: Option<u64>,
        custom_already_accepted: bool,
    }

    /// `action` by `u1` on approval code `C`, with no version in its context.
    fn tap(action: ActionType) -> Row<'static> {
        Row {
            action,
            user_id: "u1",
            code: "C",
            version: None,
            custom_already_accepted: false,
        }
    }

    impl<'a> Row<'a> {
        fn by(mut self, user_id: &'a str) -> Self {
            self.user_id = user_id;
            self
        }

        fn code(mut self, code: &'a str) -> Self {
            self.code = code;
            self
        }

        fn on_version(mut self, version: u64) -> Self {
            self.version = Some(version);
            self
        }

        fn custom_taken(mut self) -> Self {
            self.custom_already_accepted = true;
            self
        }
    }

    /// Every row of the decision table: instance status (its approval code `C`), the task, the
    /// tap, the verdict.
    #[test]
    fn judge_table() {
        use InstanceStatus as I;
        use Judgement::{Accept, Duplicate, Refuse};
        use TaskStatus as S;
        let escalate = || ActionType::from("ESCALATE");
        let reject = || ActionType::Reject;
        let not_pending = |status| Refuse(Refusal::TaskNotPending { status });
        let instance_not_pending = |status| Refuse(Refusal::InstanceNotPending { status });
        let rows: Vec<(I, Option<T<'_>>, Row<'_>, Judgement)> = vec![
            // Accepted: pending task of a pending instance, its approver (or no approver named).
            (I::Pending, Some(task(S::Pending)), tap(approve()), Accept),
            (
                I::Pending,
                Some(task(S::Pending).approver(None, None)),
                tap(reject()).by("anyone"),
                Accept,
            ),
            (
                I::Pending,
                Some(task(S::Pending).approver(Some(""), None)),
                tap(approve()).by("anyone"),
                Accept,
            ),
            // The approver first: anyone else is refused so, whatever the task's state, and
            // learns nothing of it — not even that they repeat the accepted decision.
            (
                I::Pending,
                Some(task(S::Pending).approver(Some("u2"), None)),
                tap(approve()),
                Refuse(Refusal::NotTheApprover),
            ),
            (
                I::Pending,
                Some(task(S::Approved).accepted(approve())),
                tap(approve()).by("u2"),
                Refuse(Refusal::NotTheApprover),
            ),
            (
                I::Approved,
                Some(task(S::Approved).accepted(approve())),
                tap(reject()).by("u2"),
                Refuse(Refusal::NotTheApprover),
            ),
            (
                I::Canceled,
                Some(task(S::Pending)),
                tap(approve()).by("u2"),
                Refuse(Refusal::NotTheApprover),
            ),
            (
                I::Pending,
                Some(task(S::Pending).version(7)),
                tap(approve()).by("u2").on_version(0).code("X"),
                Refuse(Refusal::NotTheApprover),
            ),
            // A task naming its approver by `open_id` only: no tap (named by `user_id`) is
            // the approver's; with both, the `user_id` decides.
            (
                I::Pending,
                Some(task(S::Pending).approver(None, Some("ou_1"))),
                tap(approve()),
                Refuse(Refusal::NotTheApprover),
            ),
            (
                I::Pending,
                Some(task(S::Pending).approver(None, Some("ou_1"))),
                tap(approve()).by("ou_1"),
                Refuse(Refusal::NotTheApprover),
            ),
            (
                I::Pending,
                Some(task(S::Pending).approver(Some("u1"), Some("ou_1"))),
                tap(approve()),
                Accept,
            ),
            // Another definition's approval code.
            (
                I::Pending,
                Some(task(S::Pending)),
                tap(approve()).code("X"),
                Refuse(Refusal::ApprovalCodeMismatch),
            ),
            (
                I::Rejected,
                None,
                tap(approve()).code("X"),
                Refuse(Refusal::ApprovalCodeMismatch),
            ),
            // A tap made before the task was re-opened; one on its version; one that does not say.
            (
                I::Pending,
                Some(task(S::Pending).version(7)),
                tap(approve()).on_version(0),
                Refuse(Refusal::StaleTaskVersion),
            ),
            (
                I::Pending,
                Some(task(S::Approved).version(7).accepted(approve())),
                tap(approve()).on_version(0),
                Refuse(Refusal::StaleTaskVersion),
            ),
            (
                I::Pending,
                Some(task(S::Pending).version(7)),
                tap(approve()).on_version(7),
                Accept,
            ),
            (
                I::Pending,
                Some(task(S::Pending).version(7)),
                tap(approve()),
                Accept,
            ),
            // The same action again is a duplicate, even once the instance is final.
            (
                I::Pending,
                Some(task(S::Approved).accepted(approve())),
                tap(approve()),
                Duplicate,
            ),
            (
                I::Approved,
                Some(task(S::Approved).accepted(approve())),
                tap(approve()).on_version(0),
                Duplicate,
            ),
            // The contrary action on a decided task is refused with the task's status.
            (
                I::Pending,
                Some(task(S::Rejected).accepted(reject())),
                tap(approve()),
                not_pending(S::Rejected),
            ),
            // Decided in the company's system (no accepted decision): refused, even the same action.
            (
                I::Pending,
                Some(task(S::Approved)),
                tap(approve()),
                not_pending(S::Approved),
            ),
            (
                I::Pending,
                Some(task(S::Transferred).approver(None, None)),
                tap(approve()),
                not_pending(S::Transferred),
            ),
            (
                I::Pending,
                Some(task(S::Done).approver(None, None)),
                tap(approve()),
                not_pending(S::Done),
            ),
            // A decided task says so even when its instance is decided too.
            (
                I::Rejected,
                Some(task(S::Rejected).accepted(reject())),
                tap(approve()),
                not_pending(S::Rejected),
            ),
            // A withdrawn, deleted or decided instance takes no decision on a pending task.
            (
                I::Canceled,
                Some(task(S::Pending).approver(None, None)),
                tap(approve()),
                instance_not_pending(I::Canceled),
            ),
            (
                I::Rejected,
                Some(task(S::Pending).approver(None, None)),
                tap(approve()),
                instance_not_pending(I::Rejected),
            ),
            (
                I::Deleted,
                None,
                tap(approve()),
                instance_not_pending(I::Deleted),
            ),
            // No such task.
            (
                I::Pending,
                None,
                tap(approve()),
                Refuse(Refusal::TaskNotFound),
            ),
            // Custom actions: accepted on a pending task, a duplicate when already taken, refused
            // like any decision once the task or instance is no longer pending.
            (I::Pending, Some(task(S::Pending)), tap(escalate()), Accept),
            (
                I::Pending,
                Some(task(S::Pending)),
                tap(escalate()).custom_taken(),
                Duplicate,
            ),
            (
                I::Pending,
                Some(task(S::Approved).accepted(approve())),
                tap(escalate()),
                not_pending(S::Approved),
            ),
            (
                I::Canceled,
                Some(task(S::Pending)),
                tap(escalate()),
                instance_not_pending(I::Canceled),
            ),
        ];
        for (index, (status, task, row, expected)) in rows.iter().enumerate() {
            let instance = InstanceView {
                status,
                approval_code: Some("C"),
            };
            let view = task.as_ref().map(|task| TaskView {
                status: &task.status,
                approver: Approver {
                    user_id: task.user_id,
                    open_id: task.open_id,
                },
                accepted: task.accepted.as_ref(),
                version: UnixMillis::from_millis(task.version),
            });
            let tap = Tap {
                action: &row.action,
                user_id: row.user_id,
                approval_code: row.code,
                task_version: row.version.map(UnixMillis::from_millis),
                custom_already_accepted: row.custom_already_accepted,
            };
            assert_eq!(
                &judge(&instance, view.as_ref(), tap),
                expected,
                "row {index}"
            );
        }
        // An instance whose company instance is unknown (its base expired) checks no code.
        let unknown_code = InstanceView {
            status: &I::Pending,
            approval_code: None,
        };
        let tap = Tap {
            action: &ActionType::Approve,
            user_id: "u1",
            approval_code: "X",
            task_version: None,
            custom_already_accepted: false,
        };
        assert_eq!(
            judge(&unknown_code, None, tap),
            Refuse(Refusal::TaskNotFound)
        );
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
