//! Strategies shared by the property tests: arbitrary JSON, and JSON objects shaped like a
//! callback (its field names, with values of any type).

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// The top-level keys a callback body may carry.
pub const CALLBACK_KEYS: [&str; 12] = [
    "action_type",
    "action_context",
    "user_id",
    "approval_code",
    "instance_id",
    "task_id",
    "message_id",
    "id",
    "reason",
    "attachments",
    "token",
    "encrypt",
];

/// Strings that matter to a callback parser: empty, digits (message ids, some too long), action
/// names, and arbitrary Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,22}",
        prop::sample::select(vec!["APPROVE", "REJECT", "IMAGE", "ATTACHMENTS"])
            .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// Any JSON value: every number kind (beyond 2^53, negative, fractional), strings as above,
/// nested arrays and objects.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |float| {
            Number::from_f64(float).map(Value::Number)
        }),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object key: mostly a callback or attachment field name, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    let attachment_keys = vec!["file_type", "file_size", "file_name", "url"];
    prop_oneof![
        3 => prop::sample::select(CALLBACK_KEYS.to_vec()).prop_map(str::to_owned),
        2 => prop::sample::select(attachment_keys).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A JSON object with callback field names (and a few others) holding values of any type.
pub fn callback_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json()), 0..14)
        .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>()))
}
