//! The oracle's reference model of one instance, written from the protocol's rules rather than
//! from the bridge's code: the company's base (its instance as sent, with the task versions its
//! re-opens started), the decisions accepted on it, and the rules a tap is judged by.
//!
//! - A task shows the company's status, unless the company shows it `PENDING` and a decision was
//!   accepted on its current version: then that decision's status.
//! - Under the `derive` policy a `PENDING` instance is `REJECTED` once a task is, `APPROVED`
//!   once at least one task is and every task is approved, done or transferred.
//! - A tap on a task the instance has by anyone but its approver (the task's `user_id`; a task
//!   naming its approver by `open_id` alone admits nobody, one naming nobody admits anyone) is
//!   refused first (`not_the_approver`), whatever the task's state. (A tap naming another
//!   approval code is `approval_code_mismatch`; the simulation's taps all carry the
//!   definition's.) Then a tap made on another version of the task than its current one (its
//!   context names the version) is refused (`stale_task_version`).
//! - Else a tap repeating the action accepted on the current version of a task the instance
//!   still has is a duplicate; else it is refused if the task is not pending
//!   (`task_not_pending`), the instance is not pending (`instance_not_pending`), or the task
//!   does not exist (`task_not_found`); else it is accepted.
//! - A card shows `CANCELLED` / `DELETED` when the instance is withdrawn / deleted or hidden,
//!   `DELETED` when its task is gone, its task's decision (`APPROVED`, `REJECTED`, `FORWARDED`
//!   for a transfer, `PROCESSED` for done), `PROCESSED` for a pending task of a final instance,
//!   and nothing new while its task and instance are pending.

use std::collections::BTreeMap;

use serde_json::Value;

/// A judgement of a tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The decision takes effect.
    Accept,
    /// It repeats the decision accepted on the task's current version.
    Duplicate,
    /// It cannot take effect, for this reason code.
    Refuse(&'static str),
    /// The bridge never saw the instance: the company's system judges it.
    Forward,
}

/// The company's instance as the bridge accepted it.
#[derive(Debug, Clone)]
pub struct Base {
    /// The company's version (`update_time`).
    pub version: u64,
    /// The instance JSON as the company sent it.
    pub instance: Value,
    /// The version of each re-opened task.
    pub task_versions: BTreeMap<String, u64>,
}

/// An accepted approve or reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The task.
    pub task: String,
    /// The task version it was accepted on.
    pub version: u64,
    /// `APPROVE` or `REJECT`.
    pub action: String,
}

/// The state of one instance at one position.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The position.
    pub seq: u64,
    /// The latest accepted base.
    pub base: Option<Base>,
    /// Accepted approves and rejects.
    pub decisions: Vec<Decision>,
}

/// Whether an instance status takes no more decisions.
pub fn is_final(status: &str) -> bool {
    status != "PENDING"
}

/// The task status an action gives its task (`None`: a custom action).
pub fn decided_status(action: &str) -> Option<&'static str> {
    match action {
        "APPROVE" => Some("APPROVED"),
        "REJECT" => Some("REJECTED"),
        _ => None,
    }
}

impl State {
    /// The base's tasks, in order.
    fn tasks(&self) -> Vec<&Value> {
        self.base
            .as_ref()
            .and_then(|base| base.instance["task_list"].as_array())
            .map(|tasks| tasks.iter().collect())
            .unwrap_or_default()
    }

    /// The base's task `task_id`.
    fn task(&self, task_id: &str) -> Option<&Value> {
        self.tasks()
            .into_iter()
            .find(|task| task["task_id"] == task_id)
    }

    /// The current version of `task_id`.
    pub fn task_version(&self, task_id: &str) -> u64 {
        self.base
            .as_ref()
            .and_then(|base| base.task_versions.get(task_id).copied())
            .unwrap_or(0)
    }

    /// The decision accepted on the current version of `task_id`.
    pub fn accepted(&self, task_id: &str) -> Option<&Decision> {
        let version = self.task_version(task_id);
        self.decisions
            .iter()
            .find(|decision| decision.task == task_id && decision.version == version)
    }

    /// The task's status as Feishu must show it (`None`: no such task).
    pub fn task_status(&self, task_id: &str) -> Option<String> {
        let task = self.task(task_id)?;
        let company = task["status"].as_str().unwrap_or_default();
        if company == "PENDING"
            && let Some(status) = self
                .accepted(task_id)
                .and_then(|decision| decided_status(&decision.action))
        {
            return Some(status.to_owned());
        }
        Some(company.to_owned())
    }

    /// Every task and the status Feishu must show, in the base's order.
    pub fn task_statuses(&self) -> Vec<(String, String)> {
        self.tasks()
            .into_iter()
            .filter_map(|task| {
                let id = task["task_id"].as_str()?.to_owned();
                let status = self.task_status(&id)?;
                Some((id, status))
            })
            .collect()
    }

    /// The instance status Feishu must show (`None`: no base).
    pub fn instance_status(&self, derive: bool) -> Option<String> {
        let base = self.base.as_ref()?;
        let company = base.instance["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !derive || company != "PENDING" {
            return Some(company);
        }
        let statuses = self.task_statuses();
        if statuses.iter().any(|(_, status)| status == "REJECTED") {
            return Some("REJECTED".to_owned());
        }
        let any_approved = statuses.iter().any(|(_, status)| status == "APPROVED");
        let all_finished = statuses
            .iter()
            .all(|(_, status)| matches!(status.as_str(), "APPROVED" | "DONE" | "TRANSFERRED"));
        Some(if any_approved && all_finished {
            "APPROVED".to_owned()
        } else {
            "PENDING".to_owned()
        })
    }

    /// Judges `action` on `task_id` by `user_id`, made on version `tapped` of the task (`None`:
    /// the tap does not say); `custom_repeated` says whether the same custom action was accepted
    /// on the task's current version before.
    pub fn judge(
        &self,
        action: &str,
        task_id: &str,
        user_id: &str,
        tapped: Option<u64>,
        custom_repeated: bool,
        derive: bool,
    ) -> Judgement {
        let Some(instance_status) = self.instance_status(derive) else {
            return Judgement::Forward;
        };
        if let Some(task) = self.task(task_id) {
            let named = |field: &str| task[field].as_str().filter(|id| !id.is_empty());
            let admitted = match (named("user_id"), named("open_id")) {
                (Some(approver), _) => approver == user_id,
                (None, Some(_)) => false,
                (None, None) => true,
            };
            if !admitted {
                return Judgement::Refuse("not_the_approver");
            }
            if tapped.is_some_and(|version| version != self.task_version(task_id)) {
                return Judgement::Refuse("stale_task_version");
            }
        }
        let duplicate = match decided_status(action) {
            Some(_) => {
                self.task(task_id).is_some()
                    && self
                        .accepted(task_id)
                        .is_some_and(|decision| decision.action == action)
            }
            None => custom_repeated,
        };
        if duplicate {
            return Judgement::Duplicate;
        }
        let task_status = self.task_status(task_id);
        if task_status
            .as_deref()
            .is_some_and(|status| status != "PENDING")
        {
            return Judgement::Refuse("task_not_pending");
        }
        if is_final(&instance_status) {
            return Judgement::Refuse("instance_not_pending");
        }
        match self.task(task_id) {
            Some(_) => Judgement::Accept,
            None => Judgement::Refuse("task_not_found"),
        }
    }
}

/// The status a card must show for its task (`None`: removed) in an instance in `instance`
/// status; `None` while it may stay as it is.
pub fn card_target(instance: &str, task: Option<&str>) -> Option<&'static str> {
    match instance {
        "CANCELED" => return Some("CANCELLED"),
        "DELETED" | "HIDDEN" => return Some("DELETED"),
        _ => {}
    }
    match task {
        None => Some("DELETED"),
        Some("APPROVED") => Some("APPROVED"),
        Some("REJECTED") => Some("REJECTED"),
        Some("TRANSFERRED") => Some("FORWARDED"),
        Some("DONE") => Some("PROCESSED"),
        Some(_) if is_final(instance) => Some("PROCESSED"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state(status: &str, tasks: &[(&str, &str)], decisions: &[(&str, &str)]) -> State {
        let task_list: Vec<Value> = tasks
            .iter()
            .map(|(id, status)| json!({"task_id": id, "status": status, "user_id": format!("u-{id}")}))
            .collect();
        State {
            seq: 1,
            base: Some(Base {
                version: 1,
                instance: json!({"status": status, "task_list": task_list}),
                task_versions: BTreeMap::new(),
            }),
            decisions: decisions
                .iter()
                .map(|(task, action)| Decision {
                    task: (*task).to_owned(),
                    version: 0,
                    action: (*action).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn taps_are_judged_by_the_rules() {
        let s = state(
            "PENDING",
            &[("t1", "PENDING"), ("t2", "PENDING")],
            &[("t1", "APPROVE")],
        );
        assert_eq!(
            s.judge("APPROVE", "t1", "u-t1", None, false, true),
            Judgement::Duplicate
        );
        assert_eq!(
            s.judge("REJECT", "t1", "u-t1", None, false, true),
            Judgement::Refuse("task_not_pending")
        );
        assert_eq!(
            s.judge("APPROVE", "t2", "u-x", None, false, true),
            Judgement::Refuse("not_the_approver")
        );
        // The approver first: a stranger repeating the accepted action is no duplicate.
        assert_eq!(
            s.judge("APPROVE", "t1", "u-x", None, false, true),
            Judgement::Refuse("not_the_approver")
        );
        assert_eq!(
            s.judge("APPROVE", "t9", "u-t9", None, false, true),
            Judgement::Refuse("task_not_found")
        );
        assert_eq!(
            s.judge("REJECT", "t2", "u-t2", Some(0), false, true),
            Judgement::Accept
        );
        assert_eq!(
            s.judge("REJECT", "t2", "u-t2", Some(5), false, true),
            Judgement::Refuse("stale_task_version")
        );
        assert_eq!(
            State::default().judge("APPROVE", "t1", "u", None, false, true),
            Judgement::Forward
        );
    }

    #[test]
    fn instance_status_follows_the_tasks_under_derive() {
        let s = state(
            "PENDING",
            &[("t1", "PENDING"), ("t2", "DONE")],
            &[("t1", "APPROVE")],
        );
        assert_eq!(s.instance_status(true).as_deref(), Some("APPROVED"));
        assert_eq!(s.instance_status(false).as_deref(), Some("PENDING"));
        let company = state("PENDING", &[("t1", "REJECTED")], &[("t1", "APPROVE")]);
        assert_eq!(company.task_status("t1").as_deref(), Some("REJECTED"));
    }

    #[test]
    fn cards_follow_the_table() {
        assert_eq!(card_target("CANCELED", Some("APPROVED")), Some("CANCELLED"));
        assert_eq!(card_target("PENDING", None), Some("DELETED"));
        assert_eq!(card_target("PENDING", Some("PENDING")), None);
        assert_eq!(card_target("APPROVED", Some("PENDING")), Some("PROCESSED"));
        assert_eq!(
            card_target("PENDING", Some("TRANSFERRED")),
            Some("FORWARDED")
        );
    }
}
