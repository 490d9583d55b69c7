//! The `action_context` the bridge puts on what an approver can tap — its bot cards and the tasks
//! it pushes to the Approval Center: it names the instance, the task and the task's version, and
//! carries the task's own `action_context` (the company's), which the events give back unwrapped.
//!
//! Feishu echoes a context back byte for byte in the callback (`feishu-api.md` §2.2), so:
//! - a callback from a card resolves to its task even when the card's message id is unknown
//!   (Feishu's answer to the send was lost, or a repeated `uuid` was answered without the first
//!   card's id, §5.1);
//! - a tap says which version of the task it was made on: once the company re-opens a task, a
//!   tap made on the earlier version is refused as stale, and a genuine tap on the new version is
//!   a new callback body (a new delivery) even when everything else in it is the same.
//!
//! Contexts written before versions were carried (no `v`) still decode, with no version.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::models::instance::ExternalInstance;
use crate::models::time::UnixMillis;

/// Marks a bridge context.
const PREFIX: &str = "fab1.";

/// What a bridge `action_context` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapContext {
    /// The instance.
    #[serde(rename = "i")]
    pub instance_id: String,
    /// The task.
    #[serde(rename = "t")]
    pub task_id: String,
    /// The task's own `action_context`, handed on to the company's system in its place.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub task_context: Option<String>,
    /// The task version the card or task was made for (0, or the company version that re-opened
    /// the task); `None` in contexts from before versions were carried.
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    pub task_version: Option<UnixMillis>,
}

impl TapContext {
    /// The `action_context` string to put on a card or task.
    pub fn encode(&self) -> String {
        // Serializing a struct of strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// The context of a bridge card or task, or `None` for any other `action_context`.
    pub fn decode(action_context: &str) -> Option<Self> {
        let encoded = action_context.strip_prefix(PREFIX)?;
        let json = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The task version a tap on task `task_id` of `instance_id` was made on, when
    /// `action_context` is a bridge context of that very task that tells.
    pub fn tapped_version(
        action_context: Option<&str>,
        instance_id: &str,
        task_id: &str,
    ) -> Option<UnixMillis> {
        let context = Self::decode(action_context?)?;
        (context.instance_id == instance_id && context.task_id == task_id)
            .then_some(context.task_version)
            .flatten()
    }
}

/// Puts a bridge context on every task of `instance` (about to be pushed to Feishu), naming the
/// task's current version (`version_of`) and carrying the task's own context inside.
pub fn wrap_task_contexts(
    instance: &mut ExternalInstance,
    version_of: impl Fn(&str) -> UnixMillis,
) {
    let instance_id = instance.instance_id.clone();
    for task in &mut instance.task_list {
        let context = TapContext {
            instance_id: instance_id.clone(),
            task_id: task.task_id.clone(),
            task_context: task.action_context.take(),
            task_version: Some(version_of(&task.task_id)),
        };
        task.action_context = Some(context.encode());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(version: Option<u64>) -> TapContext {
        TapContext {
            instance_id: "PR-2026-0042".to_owned(),
            task_id: "任务/1".to_owned(),
            task_context: Some("{\"order\":42}".to_owned()),
            task_version: version.map(UnixMillis::from_millis),
        }
    }

    #[test]
    fn round_trips_and_ignores_foreign_contexts() {
        let context = context(Some(1_795_248_912_345));
        let encoded = context.encode();
        assert!(encoded.is_ascii());
        assert_eq!(TapContext::decode(&encoded), Some(context));
        for foreign in ["12345", "", "fab1.", "fab1.!!", "fab1.e30"] {
            assert_eq!(TapContext::decode(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn contexts_from_before_versions_still_decode_without_one() {
        // A card context as the bridge wrote it before versions (`{"i","t","c"}`).
        let old =
            "fab1.eyJpIjoiUFItMjAyNi0wMDQyIiwidCI6IuS7u-WKoS8xIiwiYyI6IntcIm9yZGVyXCI6NDJ9In0";
        assert_eq!(TapContext::decode(old), Some(context(None)));
        assert_eq!(
            TapContext::tapped_version(Some(old), "PR-2026-0042", "任务/1"),
            None
        );
    }

    #[test]
    fn a_tap_tells_its_version_only_for_its_own_task() {
        let encoded = context(Some(7)).encode();
        let tapped = |instance, task| TapContext::tapped_version(Some(&encoded), instance, task);
        assert_eq!(
            tapped("PR-2026-0042", "任务/1"),
            Some(UnixMillis::from_millis(7))
        );
        assert_eq!(tapped("PR-2026-0042", "other"), None);
        assert_eq!(tapped("other", "任务/1"), None);
        assert_eq!(TapContext::tapped_version(None, "i", "t"), None);
        assert_eq!(TapContext::tapped_version(Some("12345"), "i", "t"), None);
    }

    #[test]
    fn pushed_tasks_carry_their_version_and_the_companys_context_inside() {
        let mut instance: ExternalInstance = serde_json::from_value(serde_json::json!({
            "approval_code": "C", "status": "PENDING", "instance_id": "i-1",
            "links": {"pc_link": "https://example.com"}, "user_id": "initiator",
            "start_time": "1", "end_time": "0", "update_time": "1",
            "task_list": [
                {"task_id": "t1", "user_id": "u1", "links": {"pc_link": "https://example.com"},
                 "status": "PENDING", "create_time": "1", "end_time": "0", "update_time": "1",
                 "action_context": "company-1"},
                {"task_id": "t2", "user_id": "u2", "links": {"pc_link": "https://example.com"},
                 "status": "PENDING", "create_time": "1", "end_time": "0", "update_time": "1"}
            ]
        }))
        .unwrap();
        wrap_task_contexts(&mut instance, |task| match task {
            "t1" => UnixMillis::from_millis(9),
            _ => UnixMillis::ZERO,
        });
        let decoded: Vec<TapContext> = instance
            .task_list
            .iter()
            .map(|task| TapContext::decode(task.action_context.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(decoded[0].task_context.as_deref(), Some("company-1"));
        assert_eq!(decoded[0].task_version, Some(UnixMillis::from_millis(9)));
        assert_eq!(
            (decoded[1].instance_id.as_str(), decoded[1].task_id.as_str()),
            ("i-1", "t2")
        );
        assert_eq!(decoded[1].task_context, None);
        assert_eq!(decoded[1].task_version, Some(UnixMillis::ZERO));
    }
}
