//! The workload of one schedule, drawn from its seed: the company's instances and their versions
//! (new versions, versions from a clock far ahead, re-sent and out-of-order versions, tasks
//! added, removed, transferred, decided or re-opened by the company, withdrawals), the
//! approvers' taps (on the card or in the list; double taps, contrary and late taps, the wrong
//! approver, a countersign burst, a tap on an instance the bridge never saw), and card status
//! changes (message jobs).

use std::time::Duration;

use serde_json::{Value, json};

use crate::world::World;

/// When the company's clock starts (its `update_time`s): independent of the bridge's clock.
const COMPANY_EPOCH: u64 = 1_700_000_000_000;

/// The bridge's wall clock at the start of every schedule (Unix ms).
pub const BRIDGE_EPOCH: u64 = 1_750_000_000_000;

/// The custom approval code the definition is registered with.
pub const CUSTOM_CODE: &str = "SIM-APPROVAL";

/// A custom action some approvers take from the Approval Center list.
pub const CUSTOM_ACTION: &str = "ESCALATE";

/// The id of an instance the bridge never sees.
pub const GHOST_INSTANCE: &str = "ghost-1";

/// A task of one company version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Its id.
    pub id: String,
    /// Its approver's `user_id`.
    pub approver: String,
    /// Its status as the company sends it.
    pub status: &'static str,
}

/// One version of a company instance.
#[derive(Debug, Clone)]
pub struct Version {
    /// Its number in the instance's history (0 first).
    pub number: usize,
    /// The company's `update_time`.
    pub update_time: u64,
    /// The instance status.
    pub status: &'static str,
    /// The tasks.
    pub tasks: Vec<TaskSpec>,
    /// Tasks this version re-opens.
    pub reopen: Vec<String>,
    /// What changed, for the trace.
    pub change: &'static str,
}

/// One company instance and its versions, oldest first.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    /// Its id.
    pub id: String,
    /// Its versions.
    pub versions: Vec<Version>,
}

/// An approver's tap.
#[derive(Debug, Clone)]
pub struct TapPlan {
    /// The instance (`None`: one the bridge never saw).
    pub instance: Option<usize>,
    /// The task.
    pub task: String,
    /// `APPROVE`, `REJECT` or a custom action.
    pub action: &'static str,
    /// Made by someone else than the task's approver.
    pub wrong_user: bool,
    /// On the task's bot card if it has one with live buttons, else in the list.
    pub via_card: bool,
}

/// What happens at one moment of the schedule.
#[derive(Debug, Clone)]
pub enum Action {
    /// The company's system sends version `version` of instance `instance`.
    Instance {
        /// Index into the plans.
        instance: usize,
        /// Index into its versions.
        version: usize,
        /// Whether it asks for bot cards.
        notify: bool,
    },
    /// An approver taps.
    Tap(TapPlan),
    /// The company's system sets some card's status (a message job); `pick` chooses the card.
    Message {
        /// Chooses among the cards at that moment.
        pick: u64,
        /// The status.
        status: &'static str,
    },
}

/// An action at its moment (virtual time since the schedule started).
#[derive(Debug, Clone)]
pub struct Step {
    /// When.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// The whole workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The company's instances.
    pub instances: Vec<InstancePlan>,
    /// Everything that happens, in time order.
    pub steps: Vec<Step>,
}

impl Workload {
    /// Draws a workload.
    pub fn draw(world: &World) -> Self {
        let count = world.below(1, 4) as usize;
        let mut instances = Vec::new();
        let mut steps = Vec::new();
        for index in 0..count {
            let plan = draw_instance(world, index);
            let times = draw_instance_steps(world, index, &plan, &mut steps);
            draw_taps(world, index, &plan, times, &mut steps);
            instances.push(plan);
        }
        if world.chance(0.1) {
            let at = Duration::from_millis(world.below(1_000, 60_000));
            steps.push(Step {
                at,
                action: Action::Tap(TapPlan {
                    instance: None,
                    task: "t1".to_owned(),
                    action: "APPROVE",
                    wrong_user: false,
                    via_card: false,
                }),
            });
        }
        for _ in 0..world.below(0, 3) {
            let statuses = ["APPROVED", "REJECTED", "PROCESSED"];
            steps.push(Step {
                at: Duration::from_millis(world.below(2_000, 90_000)),
                action: Action::Message {
                    pick: world.below(0, u64::MAX),
                    status: statuses[world.below(0, 3) as usize],
                },
            });
        }
        steps.sort_by_key(|step| step.at);
        Self { instances, steps }
    }
}

fn approver(instance: usize, task: &str) -> String {
    format!("u-{instance}-{task}")
}

fn draw_instance(world: &World, index: usize) -> InstancePlan {
    let id = format!("inst-{index}");
    let task_count = world.below(1, 5) as usize;
    let tasks: Vec<TaskSpec> = (1..=task_count)
        .map(|n| {
            let task = format!("t{n}");
            TaskSpec {
                approver: approver(index, &task),
                id: task,
                status: "PENDING",
            }
        })
        .collect();
    let mut versions = vec![Version {
        number: 0,
        update_time: COMPANY_EPOCH + index as u64 * 1_000_000 + world.below(0, 1_000),
        status: "PENDING",
        tasks,
        reopen: Vec::new(),
        change: "created",
    }];
    let mut next_task = task_count + 1;
    for number in 1..=world.below(0, 5) as usize {
        let previous = versions
            .last()
            .cloned()
            .unwrap_or_else(|| versions[0].clone());
        let mut version = Version {
            number,
            update_time: previous.update_time + world.below(1, 5_000),
            reopen: Vec::new(),
            change: "edited",
            ..previous
        };
        if world.chance(0.05) {
            // The company's clock jumps far ahead.
            version.update_time += 1_000_000_000;
        }
        let pick = |world: &World, tasks: &[TaskSpec]| world.below(0, tasks.len() as u64) as usize;
        match world.below(0, 100) {
            0..15 => {}
            15..30 => {
                let task = format!("t{next_task}");
                next_task += 1;
                version.tasks.push(TaskSpec {
                    approver: approver(index, &task),
                    id: task,
                    status: "PENDING",
                });
                version.change = "task added";
            }
            30..40 if version.tasks.len() > 1 => {
                let removed = pick(world, &version.tasks);
                version.tasks.remove(removed);
                version.change = "task removed";
            }
            40..52 => {
                let transferred = pick(world, &version.tasks);
                version.tasks[transferred].status = "TRANSFERRED";
                let task = format!("t{next_task}");
                next_task += 1;
                version.tasks.push(TaskSpec {
                    approver: approver(index, &task),
                    id: task,
                    status: "PENDING",
                });
                version.change = "task transferred";
            }
            52..66 => {
                let decided = pick(world, &version.tasks);
                version.tasks[decided].status =
                    ["APPROVED", "REJECTED", "DONE"][world.below(0, 3) as usize];
                version.change = "task decided by the company";
            }
            66..82 => {
                let reopened = pick(world, &version.tasks);
                version.tasks[reopened].status = "PENDING";
                version.reopen = vec![version.tasks[reopened].id.clone()];
                version.change = "task re-opened";
            }
            82..92 => {
                version.status = "CANCELED";
                version.change = "withdrawn";
            }
            _ => {
                version.status = ["APPROVED", "REJECTED", "DELETED"][world.below(0, 3) as usize];
                version.change = "decided by the company";
            }
        }
        versions.push(version);
    }
    InstancePlan { id, versions }
}

/// Schedules the instance's versions (with re-sends and reorderings); returns when the first
/// and the last were sent.
fn draw_instance_steps(
    world: &World,
    index: usize,
    plan: &InstancePlan,
    steps: &mut Vec<Step>,
) -> (u64, u64) {
    let first = world.below(0, 3_000);
    let mut at = first;
    let mut last = first;
    for version in &plan.versions {
        let mut send_at = at;
        if version.number > 0 && world.chance(0.2) {
            // Sent a little before its predecessor: Lambda may run them in either order.
            send_at = at.saturating_sub(world.below(0, 2_000)).max(first + 1);
        }
        let notify = version.number == 0 || world.chance(0.5);
        steps.push(Step {
            at: Duration::from_millis(send_at),
            action: Action::Instance {
                instance: index,
                version: version.number,
                notify,
            },
        });
        if world.chance(0.25) {
            let again = send_at + world.below(500, 60_000);
            steps.push(Step {
                at: Duration::from_millis(again),
                action: Action::Instance {
                    instance: index,
                    version: version.number,
                    notify,
                },
            });
            last = last.max(again);
        }
        last = last.max(send_at);
        at += world.below(0, 20_000);
    }
    (first, last)
}

fn draw_taps(
    world: &World,
    index: usize,
    plan: &InstancePlan,
    (first, last): (u64, u64),
    steps: &mut Vec<Step>,
) {
    let mut task_ids: Vec<String> = Vec::new();
    for version in &plan.versions {
        for task in &version.tasks {
            if !task_ids.contains(&task.id) {
                task_ids.push(task.id.clone());
            }
        }
    }
    let mut tap = |at: u64, plan: TapPlan| {
        steps.push(Step {
            at: Duration::from_millis(at),
            action: Action::Tap(plan),
        });
    };
    for _ in 0..world.below(2, 10) {
        let at = world.below(first + 200, last + 30_000);
        let task = if world.chance(0.05) {
            "t9".to_owned()
        } else {
            task_ids[world.below(0, task_ids.len() as u64) as usize].clone()
        };
        let via_card = world.chance(0.6);
        let action = match world.below(0, 100) {
            0..50 => "APPROVE",
            50..95 => "REJECT",
            _ => CUSTOM_ACTION,
        };
        let plan = TapPlan {
            instance: Some(index),
            task,
            action: if via_card && action == CUSTOM_ACTION {
                "APPROVE"
            } else {
                action
            },
            wrong_user: world.chance(0.1),
            via_card,
        };
        if world.chance(0.15) {
            // A double tap, or the same action from the card and the list.
            let mut again = plan.clone();
            again.via_card = world.chance(0.5);
            tap(at + world.below(0, 2_000), again);
        }
        if world.chance(0.1) && plan.action != CUSTOM_ACTION {
            let mut contrary = plan.clone();
            contrary.action = if plan.action == "APPROVE" {
                "REJECT"
            } else {
                "APPROVE"
            };
            tap(at + world.below(0, 5_000), contrary);
        }
        tap(at, plan);
    }
    if world.chance(0.2) {
        // Countersign: every approver of the first version at (almost) the same moment.
        let at = world.below(first + 500, last + 10_000);
        for task in &plan.versions[0].tasks {
            tap(
                at + world.below(0, 50),
                TapPlan {
                    instance: Some(index),
                    task: task.id.clone(),
                    action: "APPROVE",
                    wrong_user: false,
                    via_card: world.chance(0.5),
                },
            );
        }
    }
}

/// The instance JSON of `version` of instance `instance_id`, as the company sends it.
pub fn instance_json(instance_id: &str, version: &Version, approval_code: &str) -> Value {
    let tasks: Vec<Value> = version
        .tasks
        .iter()
        .map(|task| {
            let decided = task.status != "PENDING";
            json!({
                "task_id": task.id,
                "user_id": task.approver,
                "title": "@i18n@task_title",
                "links": {
                    "pc_link": format!("https://erp.example.com/pc/{instance_id}/{}", task.id),
                    "mobile_link": format!("https://erp.example.com/m/{instance_id}/{}", task.id)
                },
                "status": task.status,
                "create_time": COMPANY_EPOCH.to_string(),
                "end_time": if decided { version.update_time.to_string() } else { "0".to_owned() },
                "update_time": version.update_time.to_string(),
                "action_context": format!("ctx-{}", task.id),
                "action_configs": [{"action_type": "APPROVE"}, {"action_type": "REJECT"}]
            })
        })
        .collect();
    let label = format!("@i18n@version_{}", version.number);
    json!({
        "approval_code": approval_code,
        "status": version.status,
        "instance_id": instance_id,
        "links": {"pc_link": format!("https://erp.example.com/pc/{instance_id}")},
        "title": "@i18n@title",
        "form": [{"name": "@i18n@version", "value": label}],
        "user_id": "initiator",
        "start_time": COMPANY_EPOCH.to_string(),
        "end_time": if version.status == "PENDING" { "0".to_owned() } else { version.update_time.to_string() },
        "update_time": version.update_time.to_string(),
        "task_list": tasks,
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@title", "value": "采购申请"},
                {"key": "@i18n@task_title", "value": "审批"},
                {"key": "@i18n@version", "value": "版本"},
                {"key": label, "value": format!("v{}", version.number)}
            ]
        }]
    })
}

/// The definition the company registers first.
pub fn definition_json() -> Value {
    json!({
        "approval_name": "@i18n@approval_name",
        "approval_code": CUSTOM_CODE,
        "group_code": "procurement",
        "group_name": "@i18n@group_name",
        "external": {
            "support_pc": true,
            "support_mobile": true,
            "action_callback_url": "https://bridge.example.com/callback",
            "action_callback_token": "callback-token"
        },
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@approval_name", "value": "采购审批"},
                {"key": "@i18n@group_name", "value": "采购"}
            ]
        }]
    })
}
