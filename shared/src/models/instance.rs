//! The external (third-party) approval instance pushed to Feishu's Approval Center with
//! `POST /open-apis/approval/v4/external_instances` (feishu-api.md §4.1), and its checks.
//!
//! Fields documented as "i18n" carry an i18n key that must be defined in the default locale of
//! `i18n_resources` (array form).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::action::ActionType;
use super::i18n::I18nResource;
use super::optional_enum;
use super::time::UnixMillis;

/// Most tasks one instance may carry (Feishu 2025; Lark documents 200).
pub const MAX_TASKS: usize = 300;

/// Most CCs one instance may carry.
pub const MAX_CCS: usize = 200;

string_enum! {
    /// `status` of an instance.
    pub enum InstanceStatus {
        /// In progress.
        Pending => "PENDING",
        /// Approved.
        Approved => "APPROVED",
        /// Rejected.
        Rejected => "REJECTED",
        /// Withdrawn by the initiator (one L).
        Canceled => "CANCELED",
        /// Deleted.
        Deleted => "DELETED",
        /// Status hidden.
        Hidden => "HIDDEN",
        /// Terminated.
        Terminated => "TERMINATED",
    }
}

string_enum! {
    /// `status` of a task.
    pub enum TaskStatus {
        /// Waiting for the approver.
        Pending => "PENDING",
        /// The approver approved.
        Approved => "APPROVED",
        /// The approver rejected.
        Rejected => "REJECTED",
        /// The approver handed the task to someone else.
        Transferred => "TRANSFERRED",
        /// Passed without the approver acting; invisible to that approver unless CC'd.
        Done => "DONE",
    }
}

string_enum! {
    /// `display_method`: how the Approval Center opens the links.
    pub enum DisplayMethod {
        /// In a browser.
        Browser => "BROWSER",
        /// In a side bar.
        Sidebar => "SIDEBAR",
        /// Inside the client.
        Normal => "NORMAL",
        /// Hosted ("托管") mode.
        Trusteeship => "TRUSTEESHIP",
    }
}

string_enum! {
    /// `update_mode` of a sync.
    pub enum UpdateMode {
        /// The payload becomes the whole truth; tasks and CCs not in it are deleted (the default).
        Replace => "REPLACE",
        /// Add and update only; each entity's `update_time` must grow strictly.
        Update => "UPDATE",
    }
}

string_enum! {
    /// `generate_type` of a task.
    pub enum GenerateType {
        /// A task created for a delegate.
        ExternalConsign => "EXTERNAL_CONSIGN",
        /// An ordinary task.
        Default => "DEFAULT",
    }
}

string_enum! {
    /// `read_status` of a CC.
    pub enum ReadStatus {
        /// The CC'd user has read it.
        Read => "READ",
        /// Not read yet.
        Unread => "UNREAD",
    }
}

string_enum! {
    /// `trusteeship_user_id_type` of hosted mode.
    pub enum TrusteeshipUserIdType {
        /// Tenant-scoped user ids (the only supported type).
        UserId => "user_id",
    }
}

string_enum! {
    /// `trusteeship_cache_config.form_policy`: how Feishu caches a hosted form.
    pub enum FormPolicy {
        /// No caching (the default).
        Disable => "DISABLE",
        /// The form never changes.
        Immutable => "IMMUTABLE",
        /// One cached form per node.
        ByNode => "BY_NODE",
        /// One cached form per user.
        ByUser => "BY_USER",
    }
}

/// Links to the instance, task or CC in the company's system; at least one must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Links {
    /// Link opened on PC.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pc_link: Option<String>,
    /// Link opened on mobile.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mobile_link: Option<String>,
}

impl Links {
    /// Whether at least one non-empty link is set, as Feishu requires.
    pub fn is_present(&self) -> bool {
        [&self.pc_link, &self.mobile_link]
            .into_iter()
            .any(|link| link.as_deref().is_some_and(|link| !link.is_empty()))
    }
}

/// One line of the list preview (`form[]`); the first three are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FormItem {
    /// Label (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Value (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
}

/// A quick-approval button on a task in the Approval Center list (mobile only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ActionConfig {
    /// `APPROVE`, `REJECT`, or a custom key (which then needs `action_name`).
    pub action_type: ActionType,
    /// Button text (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_name: Option<String>,
    /// Open a comment page after tapping.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_need_reason: Option<bool>,
    /// The comment is mandatory.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_reason_required: Option<bool>,
    /// The comment page accepts attachments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_need_attachment: Option<bool>,
}

/// One approver's task (`task_list[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExternalTask {
    /// Task id, unique within the instance across tasks and CCs.
    pub task_id: String,
    /// Approver's tenant-scoped user id (this or `open_id` is required).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// Approver's open id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub open_id: Option<String>,
    /// Task title (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// Where the approver handles the task.
    pub links: Links,
    /// Task status.
    pub status: TaskStatus,
    /// A JSON object serialized into a string, e.g. `{"complete_reason":"approved"}`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extra: Option<String>,
    /// When the task was created.
    pub create_time: UnixMillis,
    /// When the task ended; zero while open.
    pub end_time: UnixMillis,
    /// The task's version. Documented as optional but rejected when missing: always set it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub update_time: Option<UnixMillis>,
    /// Opaque text echoed back in the quick-approval callback.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_context: Option<String>,
    /// Quick-approval buttons; without them the list shows no Approve/Reject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_configs: Vec<ActionConfig>,
    /// How the task's links open.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DisplayMethod>"))]
    pub display_method: Option<DisplayMethod>,
    /// Leave the task out of efficiency statistics.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exclude_statistics: Option<bool>,
    /// Node id, stable across instances of the same definition.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_id: Option<String>,
    /// Node name (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node_name: Option<String>,
    /// Whether the task belongs to a delegate; never sent empty.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<GenerateType>"))]
    pub generate_type: Option<GenerateType>,
}

/// A user the instance is copied to (`cc_list[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CcItem {
    /// CC id, unique within the instance across tasks and CCs.
    pub cc_id: String,
    /// CC'd user's tenant-scoped user id (this or `open_id` is required).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// CC'd user's open id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub open_id: Option<String>,
    /// Where the CC'd user views the instance.
    pub links: Links,
    /// Whether the CC'd user has read it.
    pub read_status: ReadStatus,
    /// A JSON object serialized into a string.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extra: Option<String>,
    /// CC title.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// When the CC was created.
    pub create_time: UnixMillis,
    /// The CC's version.
    pub update_time: UnixMillis,
    /// How the CC's links open.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DisplayMethod>"))]
    pub display_method: Option<DisplayMethod>,
}

/// Endpoints of the company's system used in hosted ("托管") mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TrusteeshipUrls {
    /// Returns the form detail.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub form_detail_url: Option<String>,
    /// Returns the available actions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_definition_url: Option<String>,
    /// Returns the approval nodes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approval_node_url: Option<String>,
    /// Receives actions taken in hosted mode.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_callback_url: Option<String>,
    /// Returns business data.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pull_business_data_url: Option<String>,
}

/// How Feishu caches a hosted-mode form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TrusteeshipCacheConfig {
    /// Caching policy.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<FormPolicy>"))]
    pub form_policy: Option<FormPolicy>,
    /// Cache one form per locale.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub form_vary_with_locale: Option<bool>,
    /// Form version, an int64 written as a string.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub form_version: Option<String>,
}

/// A whole external instance: the body of a sync, and its echo in the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ExternalInstance {
    /// The definition's code as returned by Feishu when it was created (not the custom code).
    pub approval_code: String,
    /// Instance status.
    pub status: InstanceStatus,
    /// A JSON object serialized into a string, e.g. `{"business_key":"PR-0001"}`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extra: Option<String>,
    /// The company's instance id, unique per tenant and app.
    pub instance_id: String,
    /// Where the initiator views the instance.
    pub links: Links,
    /// Title (i18n); defaults to the definition's name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// List preview lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<FormItem>,
    /// Initiator's tenant-scoped user id (this or `open_id` is required).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// Initiator's name (i18n), for initiators that are not Feishu users.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_name: Option<String>,
    /// Initiator's open id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub open_id: Option<String>,
    /// Initiator's department; `""` shows the tenant's name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department_id: Option<String>,
    /// Initiator's department name (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department_name: Option<String>,
    /// When the instance was started.
    pub start_time: UnixMillis,
    /// When the instance ended; zero while in progress.
    pub end_time: UnixMillis,
    /// The instance's version, compared in `UPDATE` mode.
    pub update_time: UnixMillis,
    /// How the instance's links open.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DisplayMethod>"))]
    pub display_method: Option<DisplayMethod>,
    /// `REPLACE` (the default when absent) or `UPDATE`.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<UpdateMode>"))]
    pub update_mode: Option<UpdateMode>,
    /// Approvers' tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_list: Vec<ExternalTask>,
    /// CCs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc_list: Vec<CcItem>,
    /// Texts for every i18n key used above (required, array form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub i18n_resources: Vec<I18nResource>,
    /// Hosted mode: token echoed to the hosted-mode endpoints.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trusteeship_url_token: Option<String>,
    /// Hosted mode: user id type.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<TrusteeshipUserIdType>"))]
    pub trusteeship_user_id_type: Option<TrusteeshipUserIdType>,
    /// Hosted mode: endpoints.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trusteeship_urls: Option<TrusteeshipUrls>,
    /// Hosted mode: form caching.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trusteeship_cache_config: Option<TrusteeshipCacheConfig>,
    /// Internal statistics field; leave unset.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource_region: Option<String>,
}

/// `data` of a successful sync: Feishu echoes the instance under a second `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncInstanceResponse {
    /// The instance as Feishu stored it.
    pub data: ExternalInstance,
}

/// A reason Feishu would reject an instance, naming the field the way Feishu does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceError {
    /// A required field is absent or empty.
    #[error("`{field}` is required")]
    Missing {
        /// e.g. `task_list[2].task_id`.
        field: String,
    },
    /// Neither `pc_link` nor `mobile_link` is set.
    #[error("`{field}` needs a `pc_link` or a `mobile_link`")]
    MissingLink {
        /// e.g. `task_list[2].links`.
        field: String,
    },
    /// Neither `user_id` nor `open_id` is set.
    #[error("`{field}` (or the matching `open_id`) is required")]
    MissingUser {
        /// e.g. `cc_list[0].user_id`.
        field: String,
    },
    /// An optional enum is set to `""`, which Feishu rejects (leave it out instead).
    #[error("`{field}` must be left out rather than empty")]
    EmptyEnum {
        /// e.g. `task_list[0].generate_type`.
        field: String,
    },
    /// No `i18n_resources` entry has `is_default: true`.
    #[error("`i18n_resources` has no default locale")]
    NoDefaultLocale,
    /// More than one `i18n_resources` entry has `is_default: true`.
    #[error("`i18n_resources` has {count} default locales; exactly one is allowed")]
    MultipleDefaultLocales {
        /// How many entries claim to be the default.
        count: usize,
    },
    /// A field's i18n key has no text in the default locale (Feishu: `Default i18n has no key`).
    #[error("`{field}` uses i18n key `{key}`, which the default locale does not define")]
    UndefinedI18nKey {
        /// e.g. `task_list[0].node_name`.
        field: String,
        /// The missing key.
        key: String,
    },
    /// A list is longer than Feishu allows.
    #[error("`{field}` has {count} entries; at most {max} are allowed")]
    TooMany {
        /// `task_list` or `cc_list`.
        field: String,
        /// Entries present.
        count: usize,
        /// Entries allowed.
        max: usize,
    },
    /// An id is used twice; Feishu then hides the items.
    #[error(
        "`{field}` reuses id `{id}` of `{first_field}`; instance, task and CC ids must be unique together"
    )]
    DuplicateId {
        /// The later of the two fields, e.g. `cc_list[1].cc_id`.
        field: String,
        /// The field that used the id first, e.g. `task_list[0].task_id`.
        first_field: String,
        /// The repeated id.
        id: String,
    },
}

impl ExternalInstance {
    /// The task with `task_id`, if any.
    pub fn task(&self, task_id: &str) -> Option<&ExternalTask> {
        self.task_list.iter().find(|task| task.task_id == task_id)
    }

    /// The task with `task_id`, for changing it in place.
    pub fn task_mut(&mut self, task_id: &str) -> Option<&mut ExternalTask> {
        self.task_list
            .iter_mut()
            .find(|task| task.task_id == task_id)
    }

    /// The default locale's texts, when exactly one locale is the default.
    pub fn default_i18n(&self) -> Option<&I18nResource> {
        let mut defaults = self
            .i18n_resources
            .iter()
            .filter(|resource| resource.is_default);
        match (defaults.next(), defaults.next()) {
            (Some(default), None) => Some(default),
            _ => None,
        }
    }

    /// Checks what Feishu rejects, reporting the first problem found.
    ///
    /// Covers required fields, links, approvers, i18n keys against the default locale, list sizes,
    /// id uniqueness across the instance, its tasks and CCs, and empty optional enums. An instance
    /// pushed without any initiator (Feishu's documented way to purge an instance) fails here on
    /// purpose: such a push must be a deliberate, separate decision.
    pub fn validate(&self) -> Result<(), InstanceError> {
        required("approval_code", &self.approval_code)?;
        required("instance_id", &self.instance_id)?;
        required("status", self.status.as_str())?;
        links("links", &self.links)?;
        user("", &self.user_id, &self.open_id)?;
        not_empty_enum("display_method", &self.display_method)?;
        not_empty_enum("update_mode", &self.update_mode)?;
        not_empty_enum("trusteeship_user_id_type", &self.trusteeship_user_id_type)?;
        if let Some(cache) = &self.trusteeship_cache_config {
            not_empty_enum("trusteeship_cache_config.form_policy", &cache.form_policy)?;
        }
        at_most("task_list", self.task_list.len(), MAX_TASKS)?;
        at_most("cc_list", self.cc_list.len(), MAX_CCS)?;

        let keys = self.default_keys()?;
        keys.check("title", &self.title)?;
        for (index, item) in self.form.iter().enumerate() {
            keys.check(&format!("form[{index}].name"), &item.name)?;
            keys.check(&format!("form[{index}].value"), &item.value)?;
        }
        keys.check("user_name", &self.user_name)?;
        keys.check("department_name", &self.department_name)?;

        let mut ids = UniqueIds::default();
        ids.insert("instance_id", &self.instance_id)?;
        for (index, task) in self.task_list.iter().enumerate() {
            validate_task(&format!("task_list[{index}]"), task, &keys, &mut ids)?;
        }
        for (index, cc) in self.cc_list.iter().enumerate() {
            validate_cc(&format!("cc_list[{index}]"), cc, &mut ids)?;
        }
        Ok(())
    }

    /// The keys of the single default locale, after checking the resources themselves.
    fn default_keys(&self) -> Result<DefaultKeys<'_>, InstanceError> {
        if self.i18n_resources.is_empty() {
            return Err(InstanceError::Missing {
                field: "i18n_resources".to_owned(),
            });
        }
        for (index, resource) in self.i18n_resources.iter().enumerate() {
            required(
                &format!("i18n_resources[{index}].locale"),
                resource.locale.as_str(),
            )?;
            for (text_index, text) in resource.texts.iter().enumerate() {
                required(
                    &format!("i18n_resources[{index}].texts[{text_index}].key"),
                    &text.key,
                )?;
            }
        }
        let count = self
            .i18n_resources
            .iter()
            .filter(|resource| resource.is_default)
            .count();
        match (count, self.default_i18n()) {
            (_, Some(default)) => Ok(DefaultKeys(
                default.texts.iter().map(|text| text.key.as_str()).collect(),
            )),
            (0, None) => Err(InstanceError::NoDefaultLocale),
            (count, None) => Err(InstanceError::MultipleDefaultLocales { count }),
        }
    }
}

/// Checks one task; `path` is its position, e.g. `task_list[2]`.
fn validate_task<'a>(
    path: &str,
    task: &'a ExternalTask,
    keys: &DefaultKeys<'_>,
    ids: &mut UniqueIds<'a>,
) -> Result<(), InstanceError> {
    let field = |name: &str| format!("{path}.{name}");
    required(&field("task_id"), &task.task_id)?;
    links(&field("links"), &task.links)?;
    user(&format!("{path}."), &task.user_id, &task.open_id)?;
    required(&field("status"), task.status.as_str())?;
    if task.update_time.is_none() {
        return Err(InstanceError::Missing {
            field: field("update_time"),
        });
    }
    not_empty_enum(&field("display_method"), &task.display_method)?;
    not_empty_enum(&field("generate_type"), &task.generate_type)?;
    keys.check(&field("title"), &task.title)?;
    keys.check(&field("node_name"), &task.node_name)?;
    for (index, config) in task.action_configs.iter().enumerate() {
        let config_field = |name: &str| format!("{path}.action_configs[{index}].{name}");
        required(&config_field("action_type"), config.action_type.as_str())?;
        if matches!(config.action_type, ActionType::Other(_)) && is_blank(&config.action_name) {
            return Err(InstanceError::Missing {
                field: config_field("action_name"),
            });
        }
        keys.check(&config_field("action_name"), &config.action_name)?;
    }
    ids.insert(&field("task_id"), &task.task_id)
}

/// Checks one CC; `path` is its position, e.g. `cc_list[0]`.
fn validate_cc<'a>(
    path: &str,
    cc: &'a CcItem,
    ids: &mut UniqueIds<'a>,
) -> Result<(), InstanceError> {
    let field = |name: &str| format!("{path}.{name}");
    required(&field("cc_id"), &cc.cc_id)?;
    links(&field("links"), &cc.links)?;
    user(&format!("{path}."), &cc.user_id, &cc.open_id)?;
    required(&field("read_status"), cc.read_status.as_str())?;
    not_empty_enum(&field("display_method"), &cc.display_method)?;
    ids.insert(&field("cc_id"), &cc.cc_id)
}

/// The keys defined by the default locale.
struct DefaultKeys<'a>(HashSet<&'a str>);

impl DefaultKeys<'_> {
    /// Fails when the i18n field `field` holds a key the default locale lacks. Feishu looks up
    /// every such value, so plain text fails too.
    fn check(&self, field: &str, value: &Option<String>) -> Result<(), InstanceError> {
        match value.as_deref() {
            Some(key) if !key.is_empty() && !self.0.contains(key) => {
                Err(InstanceError::UndefinedI18nKey {
                    field: field.to_owned(),
                    key: key.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Ids seen so far in one instance, with the field that used each first.
#[derive(Default)]
struct UniqueIds<'a>(HashMap<&'a str, String>);

impl<'a> UniqueIds<'a> {
    /// Records `id` for `field`, failing if an earlier field already used it.
    fn insert(&mut self, field: &str, id: &'a str) -> Result<(), InstanceError> {
        match self.0.get(id) {
            Some(first_field) => Err(InstanceError::DuplicateId {
                field: field.to_owned(),
                first_field: first_field.clone(),
                id: id.to_owned(),
            }),
            None => {
                self.0.insert(id, field.to_owned());
                Ok(())
            }
        }
    }
}

/// Fails when a required string is empty.
fn required(field: &str, value: &str) -> Result<(), InstanceError> {
    if value.is_empty() {
        return Err(InstanceError::Missing {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// Fails when neither link is set.
fn links(field: &str, links: &Links) -> Result<(), InstanceError> {
    if links.is_present() {
        Ok(())
    } else {
        Err(InstanceError::MissingLink {
            field: field.to_owned(),
        })
    }
}

/// Fails when neither `user_id` nor `open_id` is set; `prefix` is `""` or e.g. `task_list[0].`.
fn user(
    prefix: &str,
    user_id: &Option<String>,
    open_id: &Option<String>,
) -> Result<(), InstanceError> {
    if is_blank(user_id) && is_blank(open_id) {
        return Err(InstanceError::MissingUser {
            field: format!("{prefix}user_id"),
        });
    }
    Ok(())
}

/// Fails when an optional enum is present but `""`.
fn not_empty_enum<E>(field: &str, value: &Option<E>) -> Result<(), InstanceError>
where
    E: Clone + Into<String>,
{
    if value.is_some() && optional_enum::is_absent(value) {
        return Err(InstanceError::EmptyEnum {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// Fails when a list is longer than allowed.
fn at_most(field: &str, count: usize, max: usize) -> Result<(), InstanceError> {
    if count > max {
        return Err(InstanceError::TooMany {
            field: field.to_owned(),
            count,
            max,
        });
    }
    Ok(())
}

/// Whether an optional string is absent or empty.
fn is_blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(str::is_empty)
}
