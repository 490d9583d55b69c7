//! `POST /open-apis/approval/v4/external_instances` (sync) and `…/external_instances/check`
//! (`feishu-api.md` §4.1, §4.2).
//!
//! `REPLACE` (the default) makes the payload the whole truth: tasks and CCs it leaves out are
//! deleted. `UPDATE` only adds and updates, versioning the instance, each task and each CC by
//! their own `update_time`: an equal or older time is stale and ignored for that entity, and a
//! stale instance time ignores the whole payload — still answering `code: 0`.
//!
//! Every applied push stores a numbered version of the instance, so a test can lose an instance
//! or roll it back to an older version, as if Feishu had lost data, and watch a reconcile repair it.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::definitions::{DefinitionStore, I18N_RESOURCE};
use crate::i18n;
use crate::reply::ApiError;
use crate::schema::{self, Field, ObjectSpec, Problem, Shape, Violation};

const INSTANCE_STATUSES: &[&str] = &[
    "PENDING",
    "APPROVED",
    "REJECTED",
    "CANCELED",
    "DELETED",
    "HIDDEN",
    "TERMINATED",
];
const TASK_STATUSES: &[&str] = &["PENDING", "APPROVED", "REJECTED", "TRANSFERRED", "DONE"];
const DISPLAY_METHODS: &[&str] = &["BROWSER", "SIDEBAR", "NORMAL", "TRUSTEESHIP"];
/// Quick actions that need no `action_name`.
const BUILT_IN_ACTIONS: &[&str] = &["APPROVE", "REJECT"];

/// Fields `UPDATE` never changes on the instance.
const IMMUTABLE_INSTANCE_FIELDS: &[&str] = &[
    "approval_code",
    "instance_id",
    "department_id",
    "department_name",
];
/// Fields `UPDATE` never changes on a task.
const IMMUTABLE_TASK_FIELDS: &[&str] = &[
    "task_id",
    "user_id",
    "open_id",
    "create_time",
    "node_id",
    "node_name",
];
/// Fields `UPDATE` never changes on a CC.
const IMMUTABLE_CC_FIELDS: &[&str] = &["cc_id", "user_id", "open_id", "create_time"];

static LINKS: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("pc_link", Shape::Text),
        Field::optional("mobile_link", Shape::Text),
    ],
    one_of: &[&["pc_link", "mobile_link"]],
};

static FORM_ITEM: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("name", Shape::Text).i18n(),
        Field::optional("value", Shape::Text).i18n(),
    ],
    one_of: &[],
};

static ACTION_CONFIG: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("action_type", Shape::Text),
        Field::optional("action_name", Shape::Text).i18n(),
        Field::optional("is_need_reason", Shape::Flag),
        Field::optional("is_reason_required", Shape::Flag),
        Field::optional("is_need_attachment", Shape::Flag),
    ],
    one_of: &[],
};

static TASK: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("task_id", Shape::Text),
        Field::optional("user_id", Shape::Text),
        Field::optional("open_id", Shape::Text),
        Field::optional("title", Shape::Text).i18n(),
        Field::required("links", Shape::Object(&LINKS)),
        Field::required("status", Shape::Text).allowed(TASK_STATUSES),
        Field::optional("extra", Shape::Text),
        Field::required("create_time", Shape::Millis),
        Field::required("end_time", Shape::Millis),
        Field::required("update_time", Shape::Millis),
        Field::optional("action_context", Shape::Text),
        Field::optional("action_configs", Shape::ObjectList(&ACTION_CONFIG)),
        Field::optional("display_method", Shape::Text).allowed(DISPLAY_METHODS),
        Field::optional("exclude_statistics", Shape::Flag),
        Field::optional("node_id", Shape::Text),
        Field::optional("node_name", Shape::Text).i18n(),
        Field::optional("generate_type", Shape::Text).allowed(&["EXTERNAL_CONSIGN", "DEFAULT"]),
    ],
    one_of: &[&["user_id", "open_id"]],
};

static CC: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("cc_id", Shape::Text),
        Field::optional("user_id", Shape::Text),
        Field::optional("open_id", Shape::Text),
        Field::required("links", Shape::Object(&LINKS)),
        Field::required("read_status", Shape::Text).allowed(&["READ", "UNREAD"]),
        Field::optional("extra", Shape::Text),
        Field::optional("title", Shape::Text).i18n(),
        Field::required("create_time", Shape::Millis),
        Field::required("update_time", Shape::Millis),
        Field::optional("display_method", Shape::Text).allowed(DISPLAY_METHODS),
    ],
    one_of: &[&["user_id", "open_id"]],
};

static TRUSTEESHIP_URLS: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("form_detail_url", Shape::Text),
        Field::optional("action_definition_url", Shape::Text),
        Field::optional("approval_node_url", Shape::Text),
        Field::optional("action_callback_url", Shape::Text),
        Field::optional("pull_business_data_url", Shape::Text),
    ],
    one_of: &[],
};

static TRUSTEESHIP_CACHE_CONFIG: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("form_policy", Shape::Text).allowed(&[
            "DISABLE",
            "IMMUTABLE",
            "BY_NODE",
            "BY_USER",
        ]),
        Field::optional("form_vary_with_locale", Shape::Flag),
        Field::optional("form_version", Shape::Text),
    ],
    one_of: &[],
};

static INSTANCE: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("approval_code", Shape::Text),
        Field::required("status", Shape::Text).allowed(INSTANCE_STATUSES),
        Field::optional("extra", Shape::Text),
        Field::required("instance_id", Shape::Text),
        Field::required("links", Shape::Object(&LINKS)),
        Field::optional("title", Shape::Text).i18n(),
        Field::optional("form", Shape::ObjectList(&FORM_ITEM)),
        Field::optional("user_id", Shape::Text),
        Field::optional("user_name", Shape::Text).i18n(),
        Field::optional("open_id", Shape::Text),
        Field::optional("department_id", Shape::Text),
        Field::optional("department_name", Shape::Text).i18n(),
        Field::required("start_time", Shape::Millis),
        Field::required("end_time", Shape::Millis),
        Field::required("update_time", Shape::Millis),
        Field::optional("display_method", Shape::Text).allowed(DISPLAY_METHODS),
        Field::optional("update_mode", Shape::Text).allowed(&["REPLACE", "UPDATE"]),
        Field::optional("task_list", Shape::ObjectList(&TASK)).at_most(300),
        Field::optional("cc_list", Shape::ObjectList(&CC)).at_most(200),
        Field::required("i18n_resources", Shape::ObjectList(&I18N_RESOURCE)),
        Field::optional("trusteeship_url_token", Shape::Text),
        Field::optional("trusteeship_user_id_type", Shape::Text).allowed(&["user_id"]),
        Field::optional("trusteeship_urls", Shape::Object(&TRUSTEESHIP_URLS)),
        Field::optional(
            "trusteeship_cache_config",
            Shape::Object(&TRUSTEESHIP_CACHE_CONFIG),
        ),
        Field::optional("resource_region", Shape::Text),
    ],
    one_of: &[],
};

static CHECK_TASK: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("task_id", Shape::Text),
        Field::required("update_time", Shape::Millis),
    ],
    one_of: &[],
};

static CHECK_INSTANCE: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("instance_id", Shape::Text),
        Field::required("update_time", Shape::Millis),
        Field::required("tasks", Shape::ObjectList(&CHECK_TASK)),
    ],
    one_of: &[],
};

static CHECK: ObjectSpec = ObjectSpec {
    fields: &[Field::required(
        "instances",
        Shape::ObjectList(&CHECK_INSTANCE),
    )],
    one_of: &[],
};

/// How a sync payload is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateMode {
    /// The payload is the whole instance.
    Replace,
    /// Add and update only, versioned by `update_time`.
    Update,
}

/// What happened to one sync payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// Stored (under `UPDATE`, stale tasks/CCs may still have been skipped).
    Applied,
    /// `UPDATE` with an instance `update_time` not newer than the stored one: nothing changed.
    StaleIgnored,
}

/// One accepted sync call for an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    /// The payload's `update_mode`.
    pub update_mode: UpdateMode,
    /// Whether it changed anything.
    pub outcome: PushOutcome,
    /// The version it stored (`None` when stale and ignored).
    pub version: Option<u32>,
    /// The payload's instance `update_time`.
    pub update_time: i64,
    /// Tasks skipped as stale under `UPDATE`.
    pub skipped_tasks: Vec<String>,
    /// CCs skipped as stale under `UPDATE`.
    pub skipped_ccs: Vec<String>,
    /// When it arrived (simulator clock, Unix ms).
    pub at_ms: i64,
}

/// A stored approval task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The caller's task id.
    pub task_id: String,
    /// `PENDING`, `APPROVED`, …
    pub status: String,
    /// The accepted version (Unix ms).
    pub update_time: i64,
    /// The stored task JSON.
    pub task: Value,
}

/// A stored CC entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CcRecord {
    /// The caller's CC id.
    pub cc_id: String,
    /// `READ` or `UNREAD`.
    pub read_status: String,
    /// The accepted version (Unix ms).
    pub update_time: i64,
    /// The stored CC JSON.
    pub cc: Value,
}

/// A stored third-party approval instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The caller's instance id.
    pub instance_id: String,
    /// The system definition code it belongs to (fixed by the first sync).
    pub approval_code: String,
    /// `PENDING`, `APPROVED`, …
    pub status: String,
    /// The accepted instance version (Unix ms).
    pub update_time: i64,
    /// Which stored version this is (from 1; see [`InstanceVersion`]).
    pub version: u32,
    /// The stored instance fields, without `task_list` and `cc_list`.
    pub instance: Value,
    /// Tasks, in the order they were first synced.
    pub tasks: Vec<TaskRecord>,
    /// CC entries, in the order they were first synced.
    pub ccs: Vec<CcRecord>,
    /// Every sync call for this instance, oldest first.
    pub pushes: Vec<PushRecord>,
}

/// The instance as one applied push left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceVersion {
    /// Its number, from 1, in the order pushes were applied.
    pub version: u32,
    /// When it was stored (simulator clock, Unix ms).
    pub stored_at_ms: i64,
    /// `PENDING`, `APPROVED`, …
    pub status: String,
    /// The instance `update_time` (Unix ms).
    pub update_time: i64,
    /// The instance fields, without `task_list` and `cc_list`.
    pub instance: Value,
    /// Tasks.
    pub tasks: Vec<TaskRecord>,
    /// CC entries.
    pub ccs: Vec<CcRecord>,
}

/// Why an instance could not be rolled back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// No instance has this id.
    #[error("no instance {0}")]
    UnknownInstance(String),
    /// The instance has no stored version with this number.
    #[error("instance has no version {version}; versions are 1..={latest}")]
    UnknownVersion {
        /// The version asked for.
        version: u32,
        /// The newest stored version.
        latest: u32,
    },
}

/// A validated sync payload.
struct InstancePush {
    instance_id: String,
    approval_code: String,
    status: String,
    update_time: i64,
    mode: UpdateMode,
    fields: Map<String, Value>,
    tasks: Vec<TaskRecord>,
    ccs: Vec<CcRecord>,
}

fn text(object: &Map<String, Value>, name: &str) -> Option<String> {
    object.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn millis(object: &Map<String, Value>, name: &str) -> Option<i64> {
    object.get(name).and_then(schema::millis)
}

fn objects<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> impl Iterator<Item = &'a Map<String, Value>> {
    object
        .get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

impl InstancePush {
    /// Reads a body that passed [`validate`]; `None` only if it did not.
    fn parse(body: &Map<String, Value>) -> Option<Self> {
        let tasks = objects(body, "task_list")
            .map(|task| {
                Some(TaskRecord {
                    task_id: text(task, "task_id")?,
                    status: text(task, "status")?,
                    update_time: millis(task, "update_time")?,
                    task: Value::Object(task.clone()),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let ccs = objects(body, "cc_list")
            .map(|cc| {
                Some(CcRecord {
                    cc_id: text(cc, "cc_id")?,
                    read_status: text(cc, "read_status")?,
                    update_time: millis(cc, "update_time")?,
                    cc: Value::Object(cc.clone()),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let mode = match body.get("update_mode").and_then(Value::as_str) {
            Some("UPDATE") => UpdateMode::Update,
            _ => UpdateMode::Replace,
        };
        let mut fields = body.clone();
        fields.remove("task_list");
        fields.remove("cc_list");
        Some(Self {
            instance_id: text(body, "instance_id")?,
            approval_code: text(body, "approval_code")?,
            status: text(body, "status")?,
            update_time: millis(body, "update_time")?,
            mode,
            fields,
            tasks,
            ccs,
        })
    }
}

/// Puts the stored values of `immutable` fields back into `new` (removing those never stored).
fn keep_immutable(new: &mut Value, old: &Value, immutable: &[&str]) {
    let (Some(new), Some(old)) = (new.as_object_mut(), old.as_object()) else {
        return;
    };
    for &name in immutable {
        match old.get(name) {
            Some(value) => new.insert(name.to_owned(), value.clone()),
            None => new.remove(name),
        };
    }
}

/// Instances by id, with every stored version.
#[derive(Debug, Default)]
pub(crate) struct InstanceStore {
    by_id: BTreeMap<String, InstanceRecord>,
    versions: BTreeMap<String, Vec<InstanceVersion>>,
}

impl InstanceStore {
    /// Validates and applies a sync payload; the response `data` (`{"data": <echo>}`).
    pub(crate) fn sync(
        &mut self,
        body: &Map<String, Value>,
        definitions: &DefinitionStore,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        validate(body, definitions)?;
        let push = InstancePush::parse(body).ok_or(ApiError::MalformedBody)?;
        let existing = self.by_id.remove(&push.instance_id);
        let mut record = match (push.mode, existing) {
            (UpdateMode::Update, Some(mut record)) => {
                apply_update(&mut record, push, now_ms);
                record
            }
            (_, existing) => apply_replace(existing, push, now_ms),
        };
        if let Some(push) = record
            .pushes
            .last_mut()
            .filter(|push| push.outcome == PushOutcome::Applied)
        {
            let history = self.versions.entry(record.instance_id.clone()).or_default();
            let version = u32::try_from(history.len() + 1).unwrap_or(u32::MAX);
            push.version = Some(version);
            record.version = version;
            history.push(InstanceVersion {
                version,
                stored_at_ms: now_ms,
                status: record.status.clone(),
                update_time: record.update_time,
                instance: record.instance.clone(),
                tasks: record.tasks.clone(),
                ccs: record.ccs.clone(),
            });
        }
        self.by_id.insert(record.instance_id.clone(), record);
        Ok(json!({"data": body}))
    }

    /// Answers `external_instances/check` (§4.2): the instances and tasks whose versions differ.
    /// An unknown instance comes back with `update_time: "0"` and no tasks; a known instance
    /// with another `update_time` with its stored time and no tasks; otherwise each task with
    /// another `update_time` with its stored time (`"0"` when unknown). In sync: no entry.
    pub(crate) fn check(
        &self,
        body: &Map<String, Value>,
        batch_limit: Option<NonZeroUsize>,
    ) -> Result<Value, ApiError> {
        if let Some(field) = schema::first_type_error(body, &CHECK) {
            return Err(ApiError::ParameterType(field));
        }
        let violations = schema::first_layer_violations(body, &CHECK);
        if !violations.is_empty() {
            return Err(ApiError::FieldValidation(violations));
        }
        if let Some(limit) = batch_limit
            && objects(body, "instances").count() > limit.get()
        {
            return Err(ApiError::FieldValidation(vec![Violation {
                field: "instances".into(),
                value: None,
                problem: Problem::TooMany(limit.get()),
            }]));
        }
        let mut diffs = Vec::new();
        for asked in objects(body, "instances") {
            let instance_id = text(asked, "instance_id").unwrap_or_default();
            let Some(stored) = self.by_id.get(&instance_id) else {
                diffs.push(json!({"instance_id": instance_id, "update_time": "0", "tasks": []}));
                continue;
            };
            if millis(asked, "update_time") != Some(stored.update_time) {
                diffs.push(json!({"instance_id": instance_id,
                    "update_time": stored.update_time.to_string(), "tasks": []}));
                continue;
            }
            let task_diffs: Vec<Value> = objects(asked, "tasks")
                .filter_map(|task| {
                    let task_id = text(task, "task_id").unwrap_or_default();
                    let stored_time = stored
                        .tasks
                        .iter()
                        .find(|stored| stored.task_id == task_id)
                        .map_or(0, |stored| stored.update_time);
                    (millis(task, "update_time") != Some(stored_time)).then(
                        || json!({"task_id": task_id, "update_time": stored_time.to_string()}),
                    )
                })
                .collect();
            if !task_diffs.is_empty() {
                diffs.push(json!({"instance_id": instance_id,
                    "update_time": stored.update_time.to_string(), "tasks": task_diffs}));
            }
        }
        Ok(json!({"diff_instances": diffs}))
    }

    /// Every instance, by id.
    pub(crate) fn records(&self) -> Vec<InstanceRecord> {
        self.by_id.values().cloned().collect()
    }

    /// One instance.
    pub(crate) fn record(&self, instance_id: &str) -> Option<InstanceRecord> {
        self.by_id.get(instance_id).cloned()
    }

    /// Every stored version of an instance, oldest first.
    pub(crate) fn versions(&self, instance_id: &str) -> Vec<InstanceVersion> {
        self.versions.get(instance_id).cloned().unwrap_or_default()
    }

    /// Drops an instance and its versions; the next push of its id starts afresh.
    pub(crate) fn forget(&mut self, instance_id: &str) -> Option<InstanceRecord> {
        self.versions.remove(instance_id);
        self.by_id.remove(instance_id)
    }

    /// Makes stored version `version` the instance's current state (its push log stays).
    pub(crate) fn roll_back(
        &mut self,
        instance_id: &str,
        version: u32,
    ) -> Result<InstanceRecord, RollbackError> {
        let record = self
            .by_id
            .get_mut(instance_id)
            .ok_or_else(|| RollbackError::UnknownInstance(instance_id.to_owned()))?;
        let history = self
            .versions
            .get(instance_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let stored = usize::try_from(version)
            .ok()
            .and_then(|version| version.checked_sub(1))
            .and_then(|index| history.get(index))
            .ok_or(RollbackError::UnknownVersion {
                version,
                latest: history.last().map_or(0, |latest| latest.version),
            })?;
        record.version = stored.version;
        record.status.clone_from(&stored.status);
        record.update_time = stored.update_time;
        record.instance = stored.instance.clone();
        record.tasks = stored.tasks.clone();
        record.ccs = stored.ccs.clone();
        Ok(record.clone())
    }
}

fn apply_replace(
    existing: Option<InstanceRecord>,
    push: InstancePush,
    now_ms: i64,
) -> InstanceRecord {
    let (approval_code, mut pushes) = match existing {
        Some(record) => (record.approval_code, record.pushes),
        None => (push.approval_code, Vec::new()),
    };
    let mut fields = push.fields;
    fields.insert("approval_code".into(), json!(approval_code));
    pushes.push(PushRecord {
        update_mode: push.mode,
        outcome: PushOutcome::Applied,
        version: None,
        update_time: push.update_time,
        skipped_tasks: Vec::new(),
        skipped_ccs: Vec::new(),
        at_ms: now_ms,
    });
    InstanceRecord {
        instance_id: push.instance_id,
        approval_code,
        status: push.status,
        update_time: push.update_time,
        // Numbered by the store once applied.
        version: 0,
        instance: Value::Object(fields),
        tasks: push.tasks,
        ccs: push.ccs,
        pushes,
    }
}

fn apply_update(record: &mut InstanceRecord, push: InstancePush, now_ms: i64) {
    let mut log = PushRecord {
        update_mode: UpdateMode::Update,
        outcome: PushOutcome::StaleIgnored,
        version: None,
        update_time: push.update_time,
        skipped_tasks: Vec::new(),
        skipped_ccs: Vec::new(),
        at_ms: now_ms,
    };
    if push.update_time <= record.update_time {
        record.pushes.push(log);
        return;
    }
    log.outcome = PushOutcome::Applied;
    let mut fields = Value::Object(push.fields);
    keep_immutable(&mut fields, &record.instance, IMMUTABLE_INSTANCE_FIELDS);
    record.instance = fields;
    record.status = push.status;
    record.update_time = push.update_time;
    for mut task in push.tasks {
        match record
            .tasks
            .iter_mut()
            .find(|stored| stored.task_id == task.task_id)
        {
            None => record.tasks.push(task),
            Some(stored) if task.update_time > stored.update_time => {
                keep_immutable(&mut task.task, &stored.task, IMMUTABLE_TASK_FIELDS);
                *stored = task;
            }
            Some(_) => log.skipped_tasks.push(task.task_id),
        }
    }
    for mut cc in push.ccs {
        match record
            .ccs
            .iter_mut()
            .find(|stored| stored.cc_id == cc.cc_id)
        {
            None => record.ccs.push(cc),
            Some(stored) if cc.update_time > stored.update_time => {
                keep_immutable(&mut cc.cc, &stored.cc, IMMUTABLE_CC_FIELDS);
                *stored = cc;
            }
            Some(_) => log.skipped_ccs.push(cc.cc_id),
        }
    }
    record.pushes.push(log);
}

/// Feishu's checks, in its order: JSON types (9499), required fields and enums one layer at a
/// time (99992402), quick-action names (99992402), the definition code (1390002), i18n keys
/// (1390001).
fn validate(body: &Map<String, Value>, definitions: &DefinitionStore) -> Result<(), ApiError> {
    if let Some(field) = schema::first_type_error(body, &INSTANCE) {
        return Err(ApiError::ParameterType(field));
    }
    let violations = schema::first_layer_violations(body, &INSTANCE);
    if !violations.is_empty() {
        return Err(ApiError::FieldValidation(violations));
    }
    let unnamed_custom_action = objects(body, "task_list")
        .flat_map(|task| objects(task, "action_configs"))
        .find(|config| {
            let action_type = config
                .get("action_type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let named = config
                .get("action_name")
                .and_then(Value::as_str)
                .is_some_and(|name| !name.is_empty());
            !BUILT_IN_ACTIONS.contains(&action_type) && !named
        });
    if let Some(config) = unnamed_custom_action {
        let action_type = config
            .get("action_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(ApiError::FieldValidation(vec![Violation {
            field: "task_list[*].action_configs[*].action_name".into(),
            value: Some(action_type.to_owned()),
            problem: Problem::Invalid("is required when action_type is not APPROVE or REJECT"),
        }]));
    }
    let code = body
        .get("approval_code")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !definitions.is_system_code(code) {
        return Err(ApiError::ApprovalCodeNotFound);
    }
    let mut used = Vec::new();
    schema::i18n_keys_used(body, &INSTANCE, &mut used);
    let defined = i18n::default_locale_keys(body.get("i18n_resources"));
    if let Some(key) = i18n::first_undefined_key(&used, &defined) {
        return Err(ApiError::InvalidParam(format!(
            "Default i18n has no key: {key}"
        )));
    }
    Ok(())
}
