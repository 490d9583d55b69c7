//! Declarative request schemas and the checks Feishu runs on a body, in Feishu's order:
//! JSON types first (9499 names the first mistyped field), then required fields and allowed values
//! one nesting layer at a time (99992402 lists only the shallowest layer with problems), then the
//! i18n keys the body uses.

use serde_json::{Map, Value, json};

/// The JSON shape a field must have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A string.
    Text,
    /// Unix milliseconds: a string of digits or a non-negative integer.
    Millis,
    /// A boolean.
    Flag,
    /// A nested object.
    Object(&'static ObjectSpec),
    /// An array of objects.
    ObjectList(&'static ObjectSpec),
    /// An array of strings.
    TextList,
    /// An object whose values are strings (the v1 bot-message i18n `texts`).
    TextMap,
}

/// The fields of one JSON object, and groups of fields of which at least one must be present.
#[derive(Debug)]
pub(crate) struct ObjectSpec {
    /// Known fields; unknown fields are ignored, as Feishu does.
    pub fields: &'static [Field],
    /// Each group needs at least one non-empty member (e.g. `user_id` / `open_id`).
    pub one_of: &'static [&'static [&'static str]],
}

/// One known field of an object.
#[derive(Debug)]
pub(crate) struct Field {
    name: &'static str,
    shape: Shape,
    required: bool,
    i18n: bool,
    allowed: &'static [&'static str],
    max_items: Option<usize>,
}

impl Field {
    /// A field that must be present (strings and times also non-empty).
    pub(crate) const fn required(name: &'static str, shape: Shape) -> Self {
        Self {
            name,
            shape,
            required: true,
            i18n: false,
            allowed: &[],
            max_items: None,
        }
    }

    /// A field that may be absent or null.
    pub(crate) const fn optional(name: &'static str, shape: Shape) -> Self {
        Self {
            required: false,
            ..Self::required(name, shape)
        }
    }

    /// The value is an i18n key that the default locale must define.
    pub(crate) const fn i18n(self) -> Self {
        Self { i18n: true, ..self }
    }

    /// The value must be one of `allowed` (the empty string included, so `""` is rejected).
    pub(crate) const fn allowed(self, allowed: &'static [&'static str]) -> Self {
        Self { allowed, ..self }
    }

    /// The list holds at most `max` items.
    pub(crate) const fn at_most(self, max: usize) -> Self {
        Self {
            max_items: Some(max),
            ..self
        }
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// Required but absent, null or empty.
    Missing,
    /// Not one of the allowed values.
    NotAllowed(&'static [&'static str]),
    /// Not a Unix-milliseconds value.
    NotMillis,
    /// More list items than allowed.
    TooMany(usize),
    /// None of a group of alternatives is present.
    NoneOf(&'static [&'static str]),
    /// Present but unacceptable, for the stated reason.
    Invalid(&'static str),
}

/// One entry of `error.field_violations`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Violation {
    /// Path with `[*]` for list items, e.g. `task_list[*].links`.
    pub field: String,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl Violation {
    /// The human-readable `description`.
    pub(crate) fn description(&self) -> String {
        match &self.problem {
            Problem::Missing => format!("{} is required", self.field),
            Problem::NotAllowed(allowed) => {
                format!("{} must be one of: {}", self.field, allowed.join(", "))
            }
            Problem::NotMillis => {
                format!("{} must be a Unix timestamp in milliseconds", self.field)
            }
            Problem::TooMany(max) => format!("{} holds more than {max} items", self.field),
            Problem::NoneOf(group) => format!("one of {} is required", group.join(", ")),
            Problem::Invalid(reason) => format!("{} {reason}", self.field),
        }
    }

    /// The last path segment, without `[*]` (e.g. `summaries` for `content.summaries`).
    pub(crate) fn leaf(&self) -> &str {
        let last = self.field.rsplit('.').next().unwrap_or(&self.field);
        last.trim_end_matches("[*]")
    }

    /// The `{field, value, description}` JSON Feishu returns.
    pub(crate) fn to_json(&self) -> Value {
        let mut entry = json!({"field": self.field, "description": self.description()});
        if let (Some(value), Value::Object(map)) = (&self.value, &mut entry) {
            map.insert("value".into(), json!(value));
        }
        entry
    }
}

/// A Unix-milliseconds value from a string of digits or a non-negative JSON integer.
pub(crate) fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text.trim().parse::<i64>().ok().filter(|ms| *ms >= 0),
        Value::Number(number) => number.as_i64().filter(|ms| *ms >= 0),
        _ => None,
    }
}

/// Whether a field counts as absent: missing, null, or (for strings) empty.
fn is_absent(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(_) => false,
    }
}

/// The name of the first field (depth-first, in schema order) whose JSON type is wrong.
pub(crate) fn first_type_error(
    body: &Map<String, Value>,
    spec: &ObjectSpec,
) -> Option<&'static str> {
    for field in spec.fields {
        let Some(value) = body.get(field.name).filter(|value| !value.is_null()) else {
            continue;
        };
        let well_typed = match field.shape {
            Shape::Text => value.is_string(),
            Shape::Millis => value.is_string() || value.is_i64() || value.is_u64(),
            Shape::Flag => value.is_boolean(),
            Shape::TextList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Shape::TextMap => value
                .as_object()
                .is_some_and(|texts| texts.values().all(Value::is_string)),
            Shape::Object(nested) => match value.as_object() {
                Some(object) => {
                    if let Some(name) = first_type_error(object, nested) {
                        return Some(name);
                    }
                    true
                }
                None => false,
            },
            Shape::ObjectList(nested) => match value.as_array() {
                Some(items) => {
                    for item in items {
                        let Some(object) = item.as_object() else {
                            return Some(field.name);
                        };
                        if let Some(name) = first_type_error(object, nested) {
                            return Some(name);
                        }
                    }
                    true
                }
                None => false,
            },
        };
        if !well_typed {
            return Some(field.name);
        }
    }
    None
}

/// An object still to be checked, at the path where it sits.
type Pending<'a> = (String, &'a Map<String, Value>, &'static ObjectSpec);

/// The violations of the shallowest nesting layer that has any (empty when the body is valid).
/// Call after [`first_type_error`] found nothing.
pub(crate) fn first_layer_violations(
    body: &Map<String, Value>,
    spec: &'static ObjectSpec,
) -> Vec<Violation> {
    let mut layer: Vec<Pending<'_>> = vec![(String::new(), body, spec)];
    while !layer.is_empty() {
        let mut violations = Vec::new();
        let mut next = Vec::new();
        for (prefix, object, spec) in &layer {
            check_object(prefix, object, spec, &mut violations, &mut next);
        }
        if !violations.is_empty() {
            let mut unique: Vec<Violation> = Vec::new();
            for violation in violations {
                if !unique.contains(&violation) {
                    unique.push(violation);
                }
            }
            return unique;
        }
        layer = next;
    }
    Vec::new()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn check_object<'a>(
    prefix: &str,
    object: &'a Map<String, Value>,
    spec: &'static ObjectSpec,
    violations: &mut Vec<Violation>,
    next: &mut Vec<Pending<'a>>,
) {
    for field in spec.fields {
        let path = join(prefix, field.name);
        let value = object.get(field.name);
        let absent = match field.shape {
            Shape::Text | Shape::Millis => is_absent(value),
            _ => value.is_none_or(Value::is_null),
        };
        if absent {
            if field.required {
                violations.push(Violation {
                    field: path,
                    value: None,
                    problem: Problem::Missing,
                });
            } else if let Some(Value::String(text)) = value
                && !field.allowed.is_empty()
            {
                // An optional enum sent as "" is rejected (e.g. `generate_type: ""`).
                violations.push(Violation {
                    field: path,
                    value: Some(text.clone()),
                    problem: Problem::NotAllowed(field.allowed),
                });
            }
            continue;
        }
        let Some(value) = value else { continue };
        match field.shape {
            Shape::Text => {
                if let Some(text) = value.as_str()
                    && !field.allowed.is_empty()
                    && !field.allowed.contains(&text)
                {
                    violations.push(Violation {
                        field: path,
                        value: Some(text.to_owned()),
                        problem: Problem::NotAllowed(field.allowed),
                    });
                }
            }
            Shape::Millis => {
                if millis(value).is_none() {
                    violations.push(Violation {
                        field: path,
                        value: Some(value.to_string()),
                        problem: Problem::NotMillis,
                    });
                }
            }
            Shape::Object(nested) => {
                if let Some(inner) = value.as_object() {
                    next.push((path, inner, nested));
                }
            }
            Shape::ObjectList(nested) => {
                let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
                if let Some(max) = field.max_items
                    && items.len() > max
                {
                    violations.push(Violation {
                        field: path.clone(),
                        value: None,
                        problem: Problem::TooMany(max),
                    });
                }
                let item_path = format!("{path}[*]");
                next.extend(
                    items
                        .iter()
                        .filter_map(Value::as_object)
                        .map(|item| (item_path.clone(), item, nested)),
                );
            }
            Shape::TextList => {
                let count = value.as_array().map_or(0, Vec::len);
                if let Some(max) = field.max_items
                    && count > max
                {
                    violations.push(Violation {
                        field: path,
                        value: None,
                        problem: Problem::TooMany(max),
                    });
                }
            }
            Shape::Flag | Shape::TextMap => {}
        }
    }
    for group in spec.one_of {
        if group.iter().all(|name| is_absent(object.get(*name))) {
            let first = group.first().copied().unwrap_or_default();
            violations.push(Violation {
                field: join(prefix, first),
                value: None,
                problem: Problem::NoneOf(group),
            });
        }
    }
}

/// Appends every non-empty value of an i18n-key field (depth-first, in schema order).
pub(crate) fn i18n_keys_used<'a>(
    body: &'a Map<String, Value>,
    spec: &ObjectSpec,
    keys: &mut Vec<&'a str>,
) {
    for field in spec.fields {
        let Some(value) = body.get(field.name) else {
            continue;
        };
        match field.shape {
            Shape::Text if field.i18n => {
                if let Some(key) = value.as_str().filter(|key| !key.is_empty()) {
                    keys.push(key);
                }
            }
            Shape::Object(nested) => {
                if let Some(object) = value.as_object() {
                    i18n_keys_used(object, nested, keys);
                }
            }
            Shape::ObjectList(nested) => {
                for object in value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                {
                    i18n_keys_used(object, nested, keys);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static LINKS: ObjectSpec = ObjectSpec {
        fields: &[
            Field::optional("pc_link", Shape::Text),
            Field::optional("mobile_link", Shape::Text),
        ],
        one_of: &[&["pc_link", "mobile_link"]],
    };
    static TASK: ObjectSpec = ObjectSpec {
        fields: &[
            Field::required("task_id", Shape::Text),
            Field::required("links", Shape::Object(&LINKS)),
            Field::optional("title", Shape::Text).i18n(),
            Field::optional("generate_type", Shape::Text).allowed(&["DEFAULT", "EXTERNAL_CONSIGN"]),
        ],
        one_of: &[],
    };
    static ROOT: ObjectSpec = ObjectSpec {
        fields: &[
            Field::required("instance_id", Shape::Text),
            Field::required("update_time", Shape::Millis),
            Field::optional("task_list", Shape::ObjectList(&TASK)).at_most(2),
        ],
        one_of: &[],
    };

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn reports_only_the_shallowest_layer() {
        let body = object(json!({"task_list": [{"title": "@i18n@t"}]}));
        let fields: Vec<String> = first_layer_violations(&body, &ROOT)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["instance_id", "update_time"]);

        let body = object(json!({"instance_id": "i", "update_time": 1, "task_list": [{}, {}]}));
        let fields: Vec<String> = first_layer_violations(&body, &ROOT)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["task_list[*].task_id", "task_list[*].links"]);

        let body = object(json!({"instance_id": "i", "update_time": "1",
            "task_list": [{"task_id": "t", "links": {}}]}));
        let violations = first_layer_violations(&body, &ROOT);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "task_list[*].links.pc_link");
    }

    #[test]
    fn empty_optional_enum_is_rejected() {
        let body = object(json!({"instance_id": "i", "update_time": "1",
            "task_list": [{"task_id": "t", "links": {"pc_link": "https://x"}, "generate_type": ""}]}));
        let violations = first_layer_violations(&body, &ROOT);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "task_list[*].generate_type");
    }

    #[test]
    fn type_errors_name_the_leaf_field() {
        let body = object(json!({"instance_id": "i", "task_list": [{"links": []}]}));
        assert_eq!(first_type_error(&body, &ROOT), Some("links"));
        let body = object(json!({"instance_id": 5}));
        assert_eq!(first_type_error(&body, &ROOT), Some("instance_id"));
        let body = object(json!({"instance_id": "i", "update_time": 17}));
        assert_eq!(first_type_error(&body, &ROOT), None);
    }

    #[test]
    fn millis_accepts_strings_and_integers_only() {
        assert_eq!(millis(&json!("1700000000000")), Some(1_700_000_000_000));
        assert_eq!(millis(&json!(0)), Some(0));
        assert_eq!(millis(&json!("soon")), None);
        assert_eq!(millis(&json!(-1)), None);
        assert_eq!(millis(&json!(1.5)), None);
    }

    #[test]
    fn collects_i18n_keys_from_nested_lists() {
        let body = object(json!({"task_list": [{"title": "@i18n@a"}, {"title": ""}]}));
        let mut keys = Vec::new();
        i18n_keys_used(&body, &ROOT, &mut keys);
        assert_eq!(keys, ["@i18n@a"]);
    }

    #[test]
    fn list_limits_are_enforced() {
        let task = json!({"task_id": "t", "links": {"pc_link": "https://x"}});
        let body = object(json!({"instance_id": "i", "update_time": "1",
            "task_list": [task.clone(), task.clone(), task]}));
        let violations = first_layer_violations(&body, &ROOT);
        assert_eq!(violations[0].problem, Problem::TooMany(2));
    }
}
