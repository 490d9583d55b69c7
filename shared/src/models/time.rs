//! Feishu timestamps: Unix milliseconds, sent as a JSON string (`"1688022000000"`) but accepted
//! as a string or a JSON number, since Feishu's own docs and SDKs mix both.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time as Unix milliseconds; `0` means "not yet" (e.g. `end_time` of an open task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(u64);

impl UnixMillis {
    /// The Unix epoch, which Feishu uses as "unset" (`end_time` of an unfinished instance or task).
    pub const ZERO: Self = Self(0);

    /// Wraps a number of milliseconds since the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// The current wall-clock time (the epoch if the clock is set before it).
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        Self(millis)
    }

    /// A version stamp strictly later than `self`: the current time, or `self + 1 ms` when the
    /// clock has not moved past `self`. Feishu's `UPDATE` mode ignores any `update_time` that is not
    /// strictly larger than the last accepted one.
    pub fn next_version(self) -> Self {
        Self::now().max(Self(self.0.saturating_add(1)))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whether this is the epoch, Feishu's "unset" marker.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// Why a value is not a Feishu timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnixMillisError {
    /// The text is empty or contains something other than ASCII digits (signs, decimals, spaces).
    #[error("a timestamp must be a non-negative whole number of milliseconds")]
    NotDigits,
    /// The number does not fit in 64 bits.
    #[error("the timestamp is out of range")]
    OutOfRange,
}

impl FromStr for UnixMillis {
    type Err = UnixMillisError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(UnixMillisError::NotDigits);
        }
        text.parse()
            .map(Self)
            .map_err(|_| UnixMillisError::OutOfRange)
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for UnixMillis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnixMillis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnixMillisVisitor)
    }
}

/// Accepts a digit string or a non-negative JSON integer; rejects floats and negatives.
struct UnixMillisVisitor;

impl Visitor<'_> for UnixMillisVisitor {
    type Value = UnixMillis;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unix milliseconds as a digit string or a non-negative integer")
    }

    fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Self::Value, E> {
        Ok(UnixMillis(millis))
    }

    fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Self::Value, E> {
        u64::try_from(millis)
            .map(UnixMillis)
            .map_err(|_| E::custom(UnixMillisError::NotDigits))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        text.parse().map_err(E::custom)
    }
}

/// Deserializing: a string of digits or a non-negative integer; serializing: a string of digits.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for UnixMillis {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "UnixMillis".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        if generator.contract().is_serialize() {
            schemars::json_schema!({
                "type": "string",
                "pattern": "^[0-9]{1,20}$",
                "description": "Unix milliseconds as a string of digits; \"0\" means not yet."
            })
        } else {
            schemars::json_schema!({
                "description": "Unix milliseconds: a string of digits (preferred) or a non-negative integer; 0 means not yet.",
                "anyOf": [
                    {"type": "string", "pattern": "^[0-9]{1,20}$"},
                    {"type": "integer", "minimum": 0}
                ]
            })
        }
    }
}
