//! The pure part of a decision: what it does to the stored instance and to the bot card.

use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::{
    ExternalInstance, ExternalTask, InstanceStatus, TaskStatus, UpdateMode,
};
use feishu_bridge::models::message::CardStatus;
use feishu_bridge::models::time::UnixMillis;

use crate::config::InstanceStatusPolicy;

/// The task status an action gives its task; `None` for a custom action, which leaves the task
/// as it is (the company's system decides what a custom action means).
pub fn task_status(action: &ActionType) -> Option<TaskStatus> {
    match action {
        ActionType::Approve => Some(TaskStatus::Approved),
        ActionType::Reject => Some(TaskStatus::Rejected),
        ActionType::Other(_) => None,
    }
}

/// The status a bot card shows after `action`: `PROCESSED` for a custom action.
pub fn card_status(action: &ActionType) -> CardStatus {
    match action {
        ActionType::Approve => CardStatus::Approved,
        ActionType::Reject => CardStatus::Rejected,
        ActionType::Other(_) => CardStatus::Processed,
    }
}

/// What applying a decision did to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The task (and possibly the instance status) changed: push the instance.
    Changed,
    /// A custom action: nothing changed.
    Unchanged,
    /// The instance has no such task: nothing changed.
    TaskNotFound,
}

/// Applies `action` on task `task_id` to `instance` at time `now`.
///
/// The task gets the action's status, `end_time = now` and a larger `update_time`; the instance
/// gets a larger `update_time` (strictly increasing, [`UnixMillis::next_version`]) and
/// `update_mode` `REPLACE`. Under [`InstanceStatusPolicy::Derive`] a `PENDING` instance then takes
/// the status [`derive_status`] gives (with `end_time = now` once final); an instance in any other
/// status keeps it. Under [`InstanceStatusPolicy::External`] the instance status is left alone.
pub fn apply_decision(
    instance: &mut ExternalInstance,
    task_id: &str,
    action: &ActionType,
    policy: InstanceStatusPolicy,
    now: UnixMillis,
) -> Applied {
    let Some(status) = task_status(action) else {
        return if instance.task(task_id).is_some() {
            Applied::Unchanged
        } else {
            Applied::TaskNotFound
        };
    };
    let Some(task) = instance.task_mut(task_id) else {
        return Applied::TaskNotFound;
    };
    task.status = status;
    task.end_time = now.max(task.create_time);
    task.update_time = Some(task.update_time.unwrap_or(UnixMillis::ZERO).next_version());

    instance.update_time = instance.update_time.next_version();
    instance.update_mode = Some(UpdateMode::Replace);
    if policy == InstanceStatusPolicy::Derive && instance.status == InstanceStatus::Pending {
        let derived = derive_status(&instance.task_list);
        if derived != InstanceStatus::Pending {
            instance.status = derived;
            instance.end_time = now.max(instance.start_time);
        }
    }
    Applied::Changed
}

/// The instance status the tasks call for: `REJECTED` if any task is rejected; `APPROVED` if at
/// least one task is approved and every task is approved, done or transferred (a transferred task
/// is replaced by its new approver's task); `PENDING` otherwise.
pub fn derive_status(tasks: &[ExternalTask]) -> InstanceStatus {
    if tasks.iter().any(|task| task.status == TaskStatus::Rejected) {
        return InstanceStatus::Rejected;
    }
    let any_approved = tasks.iter().any(|task| task.status == TaskStatus::Approved);
    let all_finished = tasks.iter().all(|task| {
        matches!(
            task.status,
            TaskStatus::Approved | TaskStatus::Done | TaskStatus::Transferred
        )
    });
    if any_approved && all_finished {
        InstanceStatus::Approved
    } else {
        InstanceStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use feishu_bridge::models::instance::Links;

    use super::*;

    const START: UnixMillis = UnixMillis::from_millis(1_700_000_000_000);

    fn task(task_id: &str, status: TaskStatus) -> ExternalTask {
        serde_json::from_value(serde_json::json!({
            "task_id": task_id,
            "user_id": format!("approver-{task_id}"),
            "links": {"pc_link": "https://example.com/task"},
            "status": status.as_str(),
            "create_time": START,
            "end_time": 0,
            "update_time": START,
        }))
        .unwrap()
    }

    fn instance(tasks: Vec<ExternalTask>) -> ExternalInstance {
        ExternalInstance {
            approval_code: "CODE".to_owned(),
            status: InstanceStatus::Pending,
            extra: None,
            instance_id: "inst-1".to_owned(),
            links: Links {
                pc_link: Some("https://example.com/instance".to_owned()),
                mobile_link: None,
            },
            title: None,
            form: Vec::new(),
            user_id: Some("initiator".to_owned()),
            user_name: None,
            open_id: None,
            department_id: None,
            department_name: None,
            start_time: START,
            end_time: UnixMillis::ZERO,
            update_time: START,
            display_method: None,
            update_mode: None,
            task_list: tasks,
            cc_list: Vec::new(),
            i18n_resources: Vec::new(),
            trusteeship_url_token: None,
            trusteeship_user_id_type: None,
            trusteeship_urls: None,
            trusteeship_cache_config: None,
            resource_region: None,
        }
    }

    /// Applies `action` on `task_id` now, deriving the instance status.
    fn decide(instance: &mut ExternalInstance, task_id: &str, action: ActionType) -> Applied {
        let policy = InstanceStatusPolicy::Derive;
        apply_decision(instance, task_id, &action, policy, UnixMillis::now())
    }

    #[test]
    fn approving_the_last_pending_task_approves_the_instance_with_newer_versions() {
        let mut instance = instance(vec![
            task("t1", TaskStatus::Approved),
            task("t2", TaskStatus::Pending),
        ]);
        let now = UnixMillis::now();
        let applied = apply_decision(
            &mut instance,
            "t2",
            &ActionType::Approve,
            InstanceStatusPolicy::Derive,
            now,
        );
        assert_eq!(applied, Applied::Changed);
        let t2 = instance.task("t2").unwrap();
        assert_eq!(t2.status, TaskStatus::Approved);
        assert_eq!(t2.end_time, now);
        assert!(t2.update_time.unwrap() > START);
        assert!(instance.update_time > START);
        assert_eq!(instance.status, InstanceStatus::Approved);
        assert_eq!(instance.end_time, now);
        assert_eq!(instance.update_mode, Some(UpdateMode::Replace));
    }

    #[test]
    fn versions_grow_even_when_the_clock_lags_behind_them() {
        let future = UnixMillis::from_millis(u64::MAX / 2);
        let mut instance = instance(vec![task("t1", TaskStatus::Pending)]);
        instance.update_time = future;
        instance.task_list[0].update_time = Some(future);
        decide(&mut instance, "t1", ActionType::Approve);
        assert!(instance.update_time > future);
        assert!(instance.task_list[0].update_time.unwrap() > future);
    }

    #[test]
    fn one_rejection_rejects_a_pending_instance() {
        let mut instance = instance(vec![
            task("t1", TaskStatus::Pending),
            task("t2", TaskStatus::Pending),
        ]);
        decide(&mut instance, "t1", ActionType::Reject);
        assert_eq!(instance.status, InstanceStatus::Rejected);
        assert!(!instance.end_time.is_zero());
        assert_eq!(instance.task("t2").unwrap().status, TaskStatus::Pending);
    }

    #[test]
    fn an_instance_stays_pending_while_a_task_is_open() {
        let mut instance = instance(vec![
            task("t1", TaskStatus::Pending),
            task("t2", TaskStatus::Pending),
        ]);
        decide(&mut instance, "t1", ActionType::Approve);
        assert_eq!(instance.status, InstanceStatus::Pending);
        assert!(instance.end_time.is_zero());
    }

    #[test]
    fn external_policy_changes_only_the_task() {
        let mut instance = instance(vec![task("t1", TaskStatus::Pending)]);
        apply_decision(
            &mut instance,
            "t1",
            &ActionType::Reject,
            InstanceStatusPolicy::External,
            UnixMillis::now(),
        );
        assert_eq!(instance.task("t1").unwrap().status, TaskStatus::Rejected);
        assert_eq!(instance.status, InstanceStatus::Pending);
        assert!(instance.end_time.is_zero());
    }

    #[test]
    fn a_final_instance_keeps_its_status() {
        let mut instance = instance(vec![task("t1", TaskStatus::Pending)]);
        instance.status = InstanceStatus::Canceled;
        decide(&mut instance, "t1", ActionType::Approve);
        assert_eq!(instance.status, InstanceStatus::Canceled);
    }

    #[test]
    fn custom_actions_and_unknown_tasks_change_nothing() {
        let original = instance(vec![task("t1", TaskStatus::Pending)]);
        let custom = ActionType::from("ESCALATE");
        let mut instance = original.clone();
        let now = UnixMillis::now();
        let policy = InstanceStatusPolicy::Derive;
        assert_eq!(
            apply_decision(&mut instance, "t1", &custom, policy, now),
            Applied::Unchanged
        );
        assert_eq!(
            apply_decision(&mut instance, "t9", &custom, policy, now),
            Applied::TaskNotFound
        );
        assert_eq!(
            apply_decision(&mut instance, "t9", &ActionType::Approve, policy, now),
            Applied::TaskNotFound
        );
        assert_eq!(instance, original);
        assert_eq!(card_status(&custom), CardStatus::Processed);
    }

    #[test]
    fn derived_status_treats_done_and_transferred_as_finished() {
        assert_eq!(
            derive_status(&[
                task("t1", TaskStatus::Approved),
                task("t2", TaskStatus::Done),
                task("t3", TaskStatus::Transferred),
            ]),
            InstanceStatus::Approved
        );
        assert_eq!(
            derive_status(&[task("t1", TaskStatus::Done)]),
            InstanceStatus::Pending
        );
        assert_eq!(derive_status(&[]), InstanceStatus::Pending);
    }
}
