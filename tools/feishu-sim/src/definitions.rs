//! `POST /open-apis/approval/v4/external_approvals`: create or update a third-party approval
//! definition (`feishu-api.md` §3).
//!
//! Upserts by the caller's custom `approval_code` and answers with a different, system-generated
//! code that stays the same for that custom code. Only the system code is accepted by
//! `external_instances`; sending the system code here creates a second definition, as Feishu does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::i18n;
use crate::ids;
use crate::reply::ApiError;
use crate::schema::{self, Field, ObjectSpec, Problem, Shape, Violation};

/// Longest custom approval code Feishu accepts.
const MAX_CODE_CHARS: usize = 128;
/// Shortest accepted `approval_name` (`@i18n@` plus at least three characters).
const MIN_NAME_CHARS: usize = 9;

static EXTERNAL: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("biz_name", Shape::Text).i18n(),
        Field::optional("biz_type", Shape::Text),
        Field::optional("create_link_mobile", Shape::Text),
        Field::optional("create_link_pc", Shape::Text),
        Field::optional("support_pc", Shape::Flag),
        Field::optional("support_mobile", Shape::Flag),
        Field::optional("support_batch_read", Shape::Flag),
        Field::optional("enable_mark_readed", Shape::Flag),
        Field::optional("enable_quick_operate", Shape::Flag),
        Field::optional("action_callback_url", Shape::Text),
        Field::optional("action_callback_token", Shape::Text),
        Field::optional("action_callback_key", Shape::Text),
        Field::optional("allow_batch_operate", Shape::Flag),
        Field::optional("exclude_efficiency_statistics", Shape::Flag),
    ],
    one_of: &[],
};

static VIEWER: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("viewer_type", Shape::Text).allowed(&[
            "TENANT",
            "DEPARTMENT",
            "USER",
            "NONE",
        ]),
        Field::optional("viewer_user_id", Shape::Text),
        Field::optional("viewer_department_id", Shape::Text),
    ],
    one_of: &[],
};

/// One `{key, value}` of a v4 `i18n_resources[].texts` array.
pub(crate) static TEXT_ENTRY: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("key", Shape::Text),
        Field::required("value", Shape::Text),
    ],
    one_of: &[],
};

/// One v4 `i18n_resources[]` entry: `texts` is an array.
pub(crate) static I18N_RESOURCE: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("locale", Shape::Text),
        Field::required("texts", Shape::ObjectList(&TEXT_ENTRY)),
        Field::required("is_default", Shape::Flag),
    ],
    one_of: &[],
};

static DEFINITION: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("approval_name", Shape::Text).i18n(),
        Field::required("approval_code", Shape::Text),
        Field::optional("group_code", Shape::Text),
        Field::optional("group_name", Shape::Text).i18n(),
        Field::optional("description", Shape::Text).i18n(),
        Field::required("external", Shape::Object(&EXTERNAL)),
        Field::optional("viewers", Shape::ObjectList(&VIEWER)).at_most(200),
        Field::optional("i18n_resources", Shape::ObjectList(&I18N_RESOURCE)),
        Field::optional("managers", Shape::TextList).at_most(200),
    ],
    one_of: &[],
};

/// A stored definition, as `/_sim/state` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefinitionRecord {
    /// The caller's code (the upsert key; what a GET read-back shows as `approval_code`).
    pub custom_code: String,
    /// The system-generated code returned in `data.approval_code`; instances must use it.
    pub system_code: String,
    /// How many times it was created or updated.
    pub revision: u32,
    /// The last accepted request body.
    pub definition: Value,
}

/// Definitions by custom code.
#[derive(Debug, Default)]
pub(crate) struct DefinitionStore {
    by_custom_code: BTreeMap<String, DefinitionRecord>,
}

impl DefinitionStore {
    /// Validates and upserts a definition; the response `data`.
    pub(crate) fn upsert(&mut self, body: &Map<String, Value>) -> Result<Value, ApiError> {
        validate(body)?;
        let custom_code = body
            .get("approval_code")
            .and_then(Value::as_str)
            .ok_or(ApiError::MalformedBody)?
            .to_owned();
        let next_number = self.by_custom_code.len() as u64 + 1;
        let record = self
            .by_custom_code
            .entry(custom_code.clone())
            .or_insert_with(|| DefinitionRecord {
                custom_code,
                system_code: ids::approval_code(next_number),
                revision: 0,
                definition: Value::Null,
            });
        record.revision += 1;
        record.definition = Value::Object(body.clone());
        Ok(json!({"approval_code": record.system_code}))
    }

    /// Whether `code` is a system-generated definition code.
    pub(crate) fn is_system_code(&self, code: &str) -> bool {
        self.by_custom_code
            .values()
            .any(|record| record.system_code == code)
    }

    /// Every definition, by custom code.
    pub(crate) fn records(&self) -> Vec<DefinitionRecord> {
        self.by_custom_code.values().cloned().collect()
    }
}

fn text<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

fn invalid(field: &str, value: &str, reason: &'static str) -> ApiError {
    ApiError::FieldValidation(vec![Violation {
        field: field.to_owned(),
        value: Some(value.to_owned()),
        problem: Problem::Invalid(reason),
    }])
}

fn validate(body: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(field) = schema::first_type_error(body, &DEFINITION) {
        return Err(ApiError::ParameterType(field));
    }
    let violations = schema::first_layer_violations(body, &DEFINITION);
    if !violations.is_empty() {
        return Err(ApiError::FieldValidation(violations));
    }
    let name = text(body, "approval_name").unwrap_or_default();
    if !name.starts_with("@i18n@") || name.chars().count() < MIN_NAME_CHARS {
        return Err(invalid(
            "approval_name",
            name,
            "must be an i18n key starting with @i18n@, at least 9 characters long",
        ));
    }
    let code = text(body, "approval_code").unwrap_or_default();
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(invalid(
            "approval_code",
            code,
            "must be at most 128 characters long",
        ));
    }
    let external = body.get("external").and_then(Value::as_object);
    let switch = |name: &str| {
        external
            .and_then(|external| external.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if !switch("support_pc") && !switch("support_mobile") {
        return Err(ApiError::InvalidParam(
            "support_pc and support_mobile cannot both be false".into(),
        ));
    }
    match (text(body, "group_code"), text(body, "group_name")) {
        (None, Some(_)) => return Err(ApiError::InvalidParam("Group code cannot be empty".into())),
        (Some(_), None) => return Err(ApiError::InvalidParam("审批分组Code和名称不匹配".into())),
        _ => {}
    }
    let mut used = Vec::new();
    schema::i18n_keys_used(body, &DEFINITION, &mut used);
    let defined = i18n::default_locale_keys(body.get("i18n_resources"));
    if let Some(key) = i18n::first_undefined_key(&used, &defined) {
        return Err(ApiError::InvalidParam(format!(
            "Default i18n has no key: {key}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(code: &str) -> Map<String, Value> {
        json!({
            "approval_name": "@i18n@name",
            "approval_code": code,
            "external": {"support_pc": true, "support_mobile": true},
            "i18n_resources": [{"locale": "zh-CN", "is_default": true,
                "texts": [{"key": "@i18n@name", "value": "采购"}]}]
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn system_code_differs_from_custom_code_and_is_stable() {
        let mut store = DefinitionStore::default();
        let first = store.upsert(&definition("purchase")).unwrap_or_default();
        let again = store.upsert(&definition("purchase")).unwrap_or_default();
        let code = first["approval_code"].as_str().unwrap_or_default();
        assert_ne!(code, "purchase");
        assert_eq!(first, again);
        assert!(store.is_system_code(code));
        assert!(!store.is_system_code("purchase"));
        assert_eq!(store.records()[0].revision, 2);
    }

    #[test]
    fn rejects_plain_names_lone_groups_and_unknown_keys() {
        let mut store = DefinitionStore::default();
        let mut body = definition("c");
        body.insert("approval_name".into(), json!("Purchase"));
        assert_eq!(
            store.upsert(&body).err().map(|e| e.code()),
            Some(99_992_402)
        );

        let mut body = definition("c");
        body.insert("group_name".into(), json!("@i18n@name"));
        assert_eq!(
            store.upsert(&body).err(),
            Some(ApiError::InvalidParam("Group code cannot be empty".into()))
        );

        let mut body = definition("c");
        body.insert("description".into(), json!("@i18n@desc"));
        assert_eq!(
            store.upsert(&body).err(),
            Some(ApiError::InvalidParam(
                "Default i18n has no key: @i18n@desc".into()
            ))
        );

        let mut body = definition("c");
        body.insert("external".into(), json!({}));
        assert_eq!(store.upsert(&body).err().map(|e| e.code()), Some(1_390_001));
    }
}
