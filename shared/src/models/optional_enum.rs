//! Serde glue for optional string enums: Feishu rejects an empty value where it accepts an absent
//! one (`generate_type: ""` fails a sync), so `""` reads as absent and is never written.
//!
//! Use on an `Option<E>` field of a `string_enum!` type:
//! `#[serde(default, with = "optional_enum", skip_serializing_if = "optional_enum::is_absent")]`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes the value; only reached when [`is_absent`] is false.
pub(crate) fn serialize<E, S>(value: &Option<E>, serializer: S) -> Result<S::Ok, S::Error>
where
    E: Serialize,
    S: Serializer,
{
    value.serialize(serializer)
}

/// Reads `null`, absent and `""` as `None`, anything else as the enum value.
pub(crate) fn deserialize<'de, E, D>(deserializer: D) -> Result<Option<E>, D::Error>
where
    E: From<String>,
    D: Deserializer<'de>,
{
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.filter(|text| !text.is_empty()).map(E::from))
}

/// Whether the field must be left out of the JSON: `None`, or an empty `Other("")`.
pub(crate) fn is_absent<E>(value: &Option<E>) -> bool
where
    E: Clone + Into<String>,
{
    value
        .as_ref()
        .is_none_or(|value| value.clone().into().is_empty())
}
