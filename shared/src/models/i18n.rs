//! Localised texts. Many Feishu fields carry an i18n *key* (e.g. `@i18n@title`) whose text is
//! looked up in `i18n_resources`; every key must exist in the default locale.
//!
//! The v4 approval APIs (definitions, instances) send `texts` as an **array** of `{key, value}`
//! ([`I18nResource`]); the bot-message APIs send it as a **map** ([`MessageI18nResource`]).
//! Sending the wrong shape fails (`9499 Invalid parameter type in json: texts`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The prefix Feishu uses for i18n keys (`approval_name` of a definition must start with it).
pub const I18N_KEY_PREFIX: &str = "@i18n@";

string_enum! {
    /// `locale` of an i18n resource. Feishu does not validate it (`zh_cn` is silently accepted),
    /// so only these spellings have any effect.
    pub enum Locale {
        /// Simplified Chinese.
        ZhCn => "zh-CN",
        /// English (US).
        EnUs => "en-US",
        /// Japanese.
        JaJp => "ja-JP",
        /// Traditional Chinese (Hong Kong).
        ZhHk => "zh-HK",
        /// Traditional Chinese (Taiwan).
        ZhTw => "zh-TW",
        /// German.
        DeDe => "de-DE",
        /// Spanish.
        EsEs => "es-ES",
        /// French.
        FrFr => "fr-FR",
        /// Indonesian.
        IdId => "id-ID",
        /// Italian.
        ItIt => "it-IT",
        /// Korean.
        KoKr => "ko-KR",
        /// Portuguese (Brazil).
        PtBr => "pt-BR",
        /// Thai.
        ThTh => "th-TH",
        /// Vietnamese.
        ViVn => "vi-VN",
        /// Malay.
        MsMy => "ms-MY",
        /// Russian.
        RuRu => "ru-RU",
    }
}

/// One `{key, value}` entry of a v4 i18n resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct I18nText {
    /// The i18n key referenced from other fields, e.g. `@i18n@title`.
    pub key: String,
    /// The text shown for this locale.
    pub value: String,
}

/// The texts of one locale for the v4 approval APIs (`texts` as an array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct I18nResource {
    /// The locale these texts are for.
    pub locale: Locale,
    /// Whether this is the default locale; exactly one resource must be, and it must hold every key.
    #[serde(default)]
    pub is_default: bool,
    /// The texts, as `[{key, value}]`.
    #[serde(default)]
    pub texts: Vec<I18nText>,
}

impl I18nResource {
    /// An empty resource for `locale`.
    pub fn new(locale: Locale, is_default: bool) -> Self {
        Self {
            locale,
            is_default,
            texts: Vec::new(),
        }
    }

    /// Adds a text, builder style.
    pub fn with_text(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.texts.push(I18nText {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// The text for `key`, if this locale has one.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.texts
            .iter()
            .find(|text| text.key == key)
            .map(|text| text.value.as_str())
    }
}

/// The texts of one locale for the bot-message APIs (`texts` as a map).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessageI18nResource {
    /// The locale these texts are for.
    pub locale: Locale,
    /// Whether this is the default locale.
    #[serde(default)]
    pub is_default: bool,
    /// The texts, as `{"@i18n@key": "text"}`.
    #[serde(default)]
    pub texts: BTreeMap<String, String>,
}

impl MessageI18nResource {
    /// An empty resource for `locale`.
    pub fn new(locale: Locale, is_default: bool) -> Self {
        Self {
            locale,
            is_default,
            texts: BTreeMap::new(),
        }
    }

    /// Adds a text, builder style.
    pub fn with_text(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.texts.insert(key.into(), value.into());
        self
    }
}
