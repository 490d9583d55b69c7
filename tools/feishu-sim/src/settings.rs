//! Behaviour choices where Feishu's documentation leaves room: set at start in
//! [`SimConfig`](crate::SimConfig), changed at run time through the handle or `/_sim/settings`.

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::rate_limits::RateLimits;

/// What `message/send` answers when a `uuid` repeats within the hour (`feishu-api.md` §5.1 only
/// promises "returns success but delivers nothing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateUuidAnswer {
    /// `{"code":0,…,"data":{"message_id":"<the first card's id>"}}`.
    #[default]
    FirstId,
    /// `{"code":0,"msg":"success","data":{}}`: success without a `message_id`.
    None,
    /// `{"code":0,…,"data":{"message_id":"<a fresh id>"}}`; the id names no delivered card, so
    /// `message/update` on it fails like an unknown message.
    NewId,
}

impl DuplicateUuidAnswer {
    /// The wire names, as the CLI, the environment and `/_sim/settings` spell them.
    const NAMES: [(&'static str, Self); 3] = [
        ("first_id", Self::FirstId),
        ("none", Self::None),
        ("new_id", Self::NewId),
    ];
}

/// A duplicate-uuid answer name that is not `first_id`, `none` or `new_id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown duplicate-uuid answer {0:?}; expected first_id, none or new_id")]
pub struct UnknownDuplicateUuidAnswer(String);

impl FromStr for DuplicateUuidAnswer {
    type Err = UnknownDuplicateUuidAnswer;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, answer)| *answer)
            .ok_or_else(|| UnknownDuplicateUuidAnswer(name.to_owned()))
    }
}

impl fmt::Display for DuplicateUuidAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::NAMES
            .iter()
            .find(|(_, answer)| answer == self)
            .map_or("first_id", |(name, _)| name);
        f.write_str(name)
    }
}

/// Run-time behaviour choices (`GET`/`POST /_sim/settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    /// The answer to a repeated `uuid` on `message/send`.
    pub duplicate_uuid: DuplicateUuidAnswer,
    /// Most `instances` one `external_instances/check` call may carry; `None` = no limit (Feishu's
    /// maximum is undocumented). A larger batch fails with 99992402 on the field `instances`.
    pub check_batch_limit: Option<NonZeroUsize>,
    /// Feishu's per-API rate windows; `None` (the default) = no rate limits.
    pub rate_limits: Option<RateLimits>,
}

/// Why a settings change was refused.
#[derive(Debug, thiserror::Error)]
#[error("bad settings: {0}")]
pub struct SettingsError(#[source] serde_json::Error);

impl SimSettings {
    /// These settings with the fields named in `changes` replaced (`null` clears an optional
    /// one); unknown fields or wrong types are refused and change nothing.
    pub fn merged(&self, changes: Map<String, Value>) -> Result<Self, SettingsError> {
        let mut current = match serde_json::to_value(self).map_err(SettingsError)? {
            Value::Object(current) => current,
            _ => Map::new(),
        };
        current.extend(changes);
        serde_json::from_value(Value::Object(current)).map_err(SettingsError)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rate_limits::RateWindow;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_round_trip() {
        for (name, answer) in DuplicateUuidAnswer::NAMES {
            assert_eq!(name.parse(), Ok(answer));
            assert_eq!(answer.to_string(), name);
            assert_eq!(serde_json::to_value(answer).ok(), Some(json!(name)));
        }
        assert!("first".parse::<DuplicateUuidAnswer>().is_err());
    }

    #[test]
    fn merging_changes_only_named_fields() {
        let settings = SimSettings {
            duplicate_uuid: DuplicateUuidAnswer::None,
            check_batch_limit: NonZeroUsize::new(10),
            rate_limits: None,
        };
        let merged = settings.merged(object(json!({"duplicate_uuid": "new_id"})));
        assert_eq!(
            merged.ok(),
            Some(SimSettings {
                duplicate_uuid: DuplicateUuidAnswer::NewId,
                check_batch_limit: NonZeroUsize::new(10),
                rate_limits: None,
            })
        );
        let cleared = settings.merged(object(json!({"check_batch_limit": null})));
        assert_eq!(cleared.ok().and_then(|s| s.check_batch_limit), None);
        assert!(settings.merged(object(json!({"nope": 1}))).is_err());
        for bad in [json!(-1), json!(0), json!("10")] {
            let refused = settings.merged(object(json!({"check_batch_limit": bad})));
            assert!(refused.is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limits_are_off_by_default_and_merge_as_a_whole() {
        assert_eq!(SimSettings::default().rate_limits, None);
        let sliding = SimSettings::default()
            .merged(object(json!({"rate_limits": {"window": "sliding"}})))
            .ok()
            .and_then(|settings| settings.rate_limits);
        assert_eq!(
            sliding,
            Some(RateLimits {
                window: RateWindow::Sliding,
                ..RateLimits::default()
            })
        );
        let on = SimSettings {
            rate_limits: sliding,
            ..SimSettings::default()
        };
        let off = on.merged(object(json!({"rate_limits": null})));
        assert_eq!(off.ok().and_then(|settings| settings.rate_limits), None);
        let refused = on.merged(object(json!({"rate_limits": {"window": "leaky"}})));
        assert!(refused.is_err());
    }
}
