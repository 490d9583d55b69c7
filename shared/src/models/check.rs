//! `POST /open-apis/approval/v4/external_instances/check` (feishu-api.md §4.2): compare the
//! versions the company's system holds with Feishu's, to find instances that need a re-sync.

use serde::{Deserialize, Serialize};

use super::instance::ExternalInstance;
use super::time::UnixMillis;

/// The versions of a set of instances to compare with Feishu's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInstancesRequest {
    /// The instances to check.
    pub instances: Vec<InstanceVersion>,
}

/// An instance's version and its tasks' versions, in a check request or a `diff_instances` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceVersion {
    /// The company's instance id.
    pub instance_id: String,
    /// The instance's `update_time`.
    pub update_time: UnixMillis,
    /// The tasks' versions. Always sent, even empty: Feishu rejects a check without `tasks`.
    #[serde(default)]
    pub tasks: Vec<TaskVersion>,
}

/// A task's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskVersion {
    /// The company's task id.
    pub task_id: String,
    /// The task's `update_time`; zero in a diff when Feishu does not know the task.
    pub update_time: UnixMillis,
}

/// `data` of a check: the instances whose versions differ from Feishu's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInstancesResponse {
    /// Instances to re-sync; empty when everything is in sync.
    #[serde(default)]
    pub diff_instances: Vec<InstanceVersion>,
}

impl CheckInstancesRequest {
    /// The versions of `instances` as last pushed. A task pushed without an `update_time` is
    /// checked as version zero, so Feishu reports it whenever it holds any version of it.
    pub fn from_instances(instances: &[ExternalInstance]) -> Self {
        Self {
            instances: instances.iter().map(InstanceVersion::of).collect(),
        }
    }
}

impl InstanceVersion {
    /// The versions of one instance and its tasks.
    pub fn of(instance: &ExternalInstance) -> Self {
        Self {
            instance_id: instance.instance_id.clone(),
            update_time: instance.update_time,
            tasks: instance
                .task_list
                .iter()
                .map(|task| TaskVersion {
                    task_id: task.task_id.clone(),
                    update_time: task.update_time.unwrap_or(UnixMillis::ZERO),
                })
                .collect(),
        }
    }

    /// Whether this diff entry means Feishu does not know the instance at all
    /// (`update_time` `"0"` and no tasks).
    pub fn is_unknown_to_feishu(&self) -> bool {
        self.update_time.is_zero() && self.tasks.is_empty()
    }
}

impl CheckInstancesResponse {
    /// Whether Feishu holds every checked instance at the checked versions.
    pub fn is_in_sync(&self) -> bool {
        self.diff_instances.is_empty()
    }
}
