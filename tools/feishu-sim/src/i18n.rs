//! `i18n_resources`: which keys the default locale defines. The v4 approval APIs send `texts` as
//! an array of `{key, value}`, the v1 bot-message APIs as a map; each API's schema has already
//! enforced its own form, so this reads either.

use std::collections::HashSet;

use serde_json::Value;

/// The keys defined by the first locale marked `is_default: true` (empty if there is none).
pub(crate) fn default_locale_keys(resources: Option<&Value>) -> HashSet<&str> {
    let default_locale = resources
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|locale| locale.get("is_default").and_then(Value::as_bool) == Some(true));
    match default_locale.and_then(|locale| locale.get("texts")) {
        Some(Value::Array(entries)) => entries
            .iter()
            .filter_map(|entry| entry.get("key").and_then(Value::as_str))
            .collect(),
        Some(Value::Object(texts)) => texts.keys().map(String::as_str).collect(),
        _ => HashSet::new(),
    }
}

/// The first used key the default locale lacks, which Feishu reports as
/// `Default i18n has no key: <key>`.
pub(crate) fn first_undefined_key<'a>(
    used: &[&'a str],
    defined: &HashSet<&str>,
) -> Option<&'a str> {
    used.iter().copied().find(|key| !defined.contains(key))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_array_and_map_forms_from_the_default_locale_only() {
        let v4 = json!([
            {"locale": "en-US", "is_default": false, "texts": [{"key": "@i18n@en", "value": "x"}]},
            {"locale": "zh-CN", "is_default": true, "texts": [{"key": "@i18n@1", "value": "一"}]}
        ]);
        let keys = default_locale_keys(Some(&v4));
        assert!(keys.contains("@i18n@1"));
        assert!(!keys.contains("@i18n@en"));

        let v1 = json!([{"locale": "zh-CN", "is_default": true, "texts": {"@i18n@2": "二"}}]);
        assert!(default_locale_keys(Some(&v1)).contains("@i18n@2"));
    }

    #[test]
    fn reports_the_first_undefined_key() {
        let v4 = json!([{"locale": "zh-CN", "is_default": true,
            "texts": [{"key": "@i18n@1", "value": "一"}]}]);
        let keys = default_locale_keys(Some(&v4));
        assert_eq!(
            first_undefined_key(&["@i18n@1", "Plain title", "@i18n@9"], &keys),
            Some("Plain title")
        );
        assert_eq!(first_undefined_key(&["@i18n@1"], &keys), None);
    }
}
