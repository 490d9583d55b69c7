//! Identifiers that must survive JSON without loss.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Longest accepted id: the number of decimal digits in `u64::MAX`.
const MAX_DIGITS: usize = 20;

/// A Feishu approval bot message id, kept losslessly as its decimal digits.
///
/// The callback documents `message_id` as an int64 and Feishu has sent it as a bare JSON number
/// above 2^53, while message/send returns it as a string. This type accepts both (never going
/// through `f64`) and always serializes as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

/// The text given as a message id is not 1 to 20 ASCII digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a message id must be 1 to {MAX_DIGITS} ASCII digits")]
pub struct InvalidMessageId;

impl MessageId {
    /// Parses a message id from its decimal digits (1 to 20 ASCII digits, nothing else).
    pub fn parse(digits: &str) -> Result<Self, InvalidMessageId> {
        let well_formed = !digits.is_empty()
            && digits.len() <= MAX_DIGITS
            && digits.bytes().all(|byte| byte.is_ascii_digit());
        if well_formed {
            Ok(Self(digits.to_owned()))
        } else {
            Err(InvalidMessageId)
        }
    }

    /// The id's decimal digits, as Feishu's message APIs expect them.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u64> for MessageId {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessageIdVisitor)
    }
}

/// Accepts a JSON string of digits or a non-negative JSON integer; rejects floats.
struct MessageIdVisitor;

impl Visitor<'_> for MessageIdVisitor {
    type Value = MessageId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message id as a non-negative integer or a string of digits")
    }

    fn visit_u64<E: de::Error>(self, id: u64) -> Result<MessageId, E> {
        Ok(MessageId::from(id))
    }

    fn visit_i64<E: de::Error>(self, id: i64) -> Result<MessageId, E> {
        u64::try_from(id)
            .map(MessageId::from)
            .map_err(|_| E::invalid_value(de::Unexpected::Other("a negative integer"), &self))
    }

    fn visit_str<E: de::Error>(self, digits: &str) -> Result<MessageId, E> {
        MessageId::parse(digits)
            .map_err(|_| E::invalid_value(de::Unexpected::Other("a non-digit string"), &self))
    }
}

/// Deserializes an optional message id where JSON `null`, `""` and (with `#[serde(default)]`)
/// an absent field all mean `None`; a number or digit string means `Some`.
///
/// Use as `#[serde(default, deserialize_with = "deserialize_optional_message_id")]`.
pub fn deserialize_optional_message_id<'de, D>(
    deserializer: D,
) -> Result<Option<MessageId>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_option(OptionalMessageIdVisitor)
}

/// [`MessageIdVisitor`] plus `null` and `""` as `None`.
struct OptionalMessageIdVisitor;

impl<'de> Visitor<'de> for OptionalMessageIdVisitor {
    type Value = Option<MessageId>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message id, an empty string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, id: u64) -> Result<Self::Value, E> {
        MessageIdVisitor.visit_u64(id).map(Some)
    }

    fn visit_i64<E: de::Error>(self, id: i64) -> Result<Self::Value, E> {
        MessageIdVisitor.visit_i64(id).map(Some)
    }

    fn visit_str<E: de::Error>(self, digits: &str) -> Result<Self::Value, E> {
        if digits.is_empty() {
            Ok(None)
        } else {
            MessageIdVisitor.visit_str(digits).map(Some)
        }
    }
}

/// Deserializing: 1 to 20 digits as a string or a non-negative integer; serializing: a string.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for MessageId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MessageId".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        if generator.contract().is_serialize() {
            schemars::json_schema!({
                "type": "string",
                "pattern": "^[0-9]{1,20}$",
                "description": "A bot message id: its decimal digits, as a string."
            })
        } else {
            schemars::json_schema!({
                "description": "A bot message id: its decimal digits as a string (preferred), or a non-negative integer (Feishu sends ids above 2^53 as bare numbers; parse them losslessly).",
                "anyOf": [
                    {"type": "string", "pattern": "^[0-9]{1,20}$"},
                    {"type": "integer", "minimum": 0}
                ]
            })
        }
    }
}

/// The schema of an optional message id read with [`deserialize_optional_message_id`]: a
/// message id, or `""` / `null` for none (serialized: a message id, or absent).
#[cfg(feature = "schema")]
pub fn optional_message_id_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let id = generator.subschema_for::<MessageId>();
    if generator.contract().is_serialize() {
        id
    } else {
        schemars::json_schema!({
            "anyOf": [id, {"type": "string", "maxLength": 0}, {"type": "null"}]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "deserialize_optional_message_id")]
        message_id: Option<MessageId>,
    }

    fn optional(json: &str) -> Result<Option<MessageId>, serde_json::Error> {
        serde_json::from_str::<Holder>(json).map(|holder| holder.message_id)
    }

    #[test]
    fn ids_above_2_pow_53_round_trip_digit_for_digit() {
        for digits in ["7690275278685244603", "18446744073709551615", "0"] {
            let from_number: MessageId = serde_json::from_str(digits).unwrap();
            let from_string: MessageId = serde_json::from_str(&format!("\"{digits}\"")).unwrap();
            assert_eq!(from_number.as_str(), digits);
            assert_eq!(from_number, from_string);
            assert_eq!(
                serde_json::to_string(&from_number).unwrap(),
                format!("\"{digits}\"")
            );
            assert_eq!(from_number.to_string(), digits);
        }
    }

    #[test]
    fn floats_negatives_and_non_digits_are_rejected() {
        for json in [
            "7.690275278685245e18",
            "1.0",
            "-1",
            "18446744073709551616",
            "\"12a\"",
            "\"-5\"",
            "\"+5\"",
            "\" 5\"",
            "\"\"",
            "\"123456789012345678901\"",
            "true",
            "[1]",
        ] {
            assert!(
                serde_json::from_str::<MessageId>(json).is_err(),
                "{json} must not parse"
            );
        }
        assert_eq!(MessageId::parse(""), Err(InvalidMessageId));
        assert_eq!(MessageId::parse("٣"), Err(InvalidMessageId));
    }

    #[test]
    fn optional_field_treats_null_empty_and_absent_as_none() {
        assert_eq!(optional(r#"{}"#).unwrap(), None);
        assert_eq!(optional(r#"{"message_id":null}"#).unwrap(), None);
        assert_eq!(optional(r#"{"message_id":""}"#).unwrap(), None);
        assert_eq!(
            optional(r#"{"message_id":7690275278685244603}"#)
                .unwrap()
                .unwrap()
                .as_str(),
            "7690275278685244603"
        );
        assert_eq!(
            optional(r#"{"message_id":"6968359519504171036"}"#)
                .unwrap()
                .unwrap()
                .as_str(),
            "6968359519504171036"
        );
        assert!(optional(r#"{"message_id":1.5}"#).is_err());
        assert!(optional(r#"{"message_id":"x"}"#).is_err());
    }
}
