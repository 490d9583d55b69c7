//! `POST /open-apis/approval/v1/message/send` and `…/message/update`: approval bot cards
//! (`feishu-api.md` §5).
//!
//! These legacy APIs report every request problem as code 60001 with HTTP 200 and a short
//! message (`no Status error`, `actionUrls incomplete error`); only JSON type mistakes get the
//! gateway's 9499. `i18n_resources[].texts` is a map here, unlike the v4 APIs.
//!
//! Each card keeps what its recipient sees: its status, whether its quick-approval buttons are
//! live, and every status and tap it had (see [`crate::cards`]).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::cards::{
    self, CardButtons, CardCallback, MessageRecord, StatusChange, StatusSource, Tap, TapError,
    TapOutcome, TapRecord, UPDATABLE_TEMPLATE,
};
use crate::i18n;
use crate::ids;
use crate::reply::ApiError;
use crate::schema::{self, Field, ObjectSpec, Problem, Shape, Violation};
use crate::settings::DuplicateUuidAnswer;

/// A reused `uuid` within this window delivers nothing.
const UUID_WINDOW_MS: i64 = 60 * 60 * 1000;
/// Longest accepted `uuid`.
const MAX_UUID_CHARS: usize = 64;
/// The fixed name of a general template's first action.
const DETAIL_ACTION: &str = "DETAIL";
/// Status of a card nobody has updated yet.
const INITIAL_STATUS: &str = "PENDING";

/// Card statuses accepted by `message/update` and `action_configs[].next_status`.
const CARD_STATUSES: &[&str] = &[
    "APPROVED",
    "REJECTED",
    "CANCELLED",
    "FORWARDED",
    "ROLLBACK",
    "ADD",
    "DELETED",
    "PROCESSED",
    "CUSTOM",
];
/// Quick actions that need no `action_name`.
const BUILT_IN_ACTIONS: &[&str] = &["APPROVE", "REJECT"];
/// The four URLs every action needs.
const ACTION_URLS: &[&str] = &["url", "android_url", "ios_url", "pc_url"];

/// The custom template, whose actions are all custom.
const CUSTOM_TEMPLATE: &str = "1021";

const TITLED: &[&str] = &["approval_name", "title_user_id", "summaries", "actions"];
const TITLED_WITH_COMMENT: &[&str] = &[
    "approval_name",
    "title_user_id",
    "summaries",
    "actions",
    "comment",
];
const UNTITLED: &[&str] = &["approval_name", "summaries", "actions"];

/// Per template: the extra required fields and whether quick approval (action_callback /
/// action_configs) is allowed.
const TEMPLATES: &[(&str, &[&str], bool)] = &[
    ("1001", TITLED_WITH_COMMENT, false),
    ("1002", TITLED, false),
    ("1003", TITLED, false),
    ("1004", TITLED_WITH_COMMENT, false),
    ("1005", UNTITLED, false),
    ("1006", UNTITLED, false),
    ("1007", UNTITLED, false),
    ("1008", TITLED, true),
    ("1009", TITLED, true),
    ("1010", TITLED, true),
    ("1011", TITLED, true),
    ("1012", TITLED, true),
    (
        "1013",
        &[
            "approval_name",
            "title_user_id",
            "summaries",
            "actions",
            "sender_user_id",
        ],
        true,
    ),
    ("1015", TITLED, false),
    ("1016", TITLED, false),
    ("1017", TITLED_WITH_COMMENT, false),
    ("1018", TITLED_WITH_COMMENT, false),
    ("1019", TITLED, false),
    ("1020", TITLED, true),
    (CUSTOM_TEMPLATE, &["custom_title", "custom_content"], false),
    ("1024", UNTITLED, false),
    ("1026", TITLED, false),
    ("1027", TITLED_WITH_COMMENT, false),
    ("1028", UNTITLED, true),
];

static I18N_MAP_RESOURCE: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("locale", Shape::Text),
        Field::required("is_default", Shape::Flag),
        Field::required("texts", Shape::TextMap),
    ],
    one_of: &[],
};

static SUMMARY: ObjectSpec = ObjectSpec {
    fields: &[Field::required("summary", Shape::Text).i18n()],
    one_of: &[],
};

static CONTENT: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("user_id", Shape::Text),
        Field::optional("user_id_type", Shape::Text).allowed(&["user_id", "open_id"]),
        Field::optional("department_id", Shape::Text),
        Field::optional("user_name", Shape::Text).i18n(),
        Field::optional("department_name", Shape::Text).i18n(),
        Field::optional("summaries", Shape::ObjectList(&SUMMARY)).at_most(5),
    ],
    one_of: &[],
};

static ACTION: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("action_name", Shape::Text),
        Field::required("url", Shape::Text),
        Field::required("android_url", Shape::Text),
        Field::required("ios_url", Shape::Text),
        Field::required("pc_url", Shape::Text),
    ],
    one_of: &[],
};

static ACTION_CALLBACK: ObjectSpec = ObjectSpec {
    fields: &[
        Field::optional("action_callback_url", Shape::Text),
        Field::optional("action_callback_token", Shape::Text),
        Field::optional("action_callback_key", Shape::Text),
        Field::optional("action_context", Shape::Text),
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
        Field::optional("next_status", Shape::Text).allowed(CARD_STATUSES),
    ],
    one_of: &[],
};

static SEND: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("template_id", Shape::Text),
        Field::optional("user_id", Shape::Text),
        Field::optional("open_id", Shape::Text),
        Field::optional("uuid", Shape::Text),
        Field::optional("approval_name", Shape::Text).i18n(),
        Field::optional("title_user_id", Shape::Text),
        Field::optional("title_user_id_type", Shape::Text).allowed(&["user_id", "open_id"]),
        Field::optional("comment", Shape::Text).i18n(),
        Field::optional("content", Shape::Object(&CONTENT)),
        Field::optional("note", Shape::Text).i18n(),
        Field::optional("sender_user_id", Shape::Text),
        Field::optional("text", Shape::Text),
        Field::optional("actions", Shape::ObjectList(&ACTION)).at_most(2),
        Field::optional("action_callback", Shape::Object(&ACTION_CALLBACK)),
        Field::optional("action_configs", Shape::ObjectList(&ACTION_CONFIG)),
        Field::required("i18n_resources", Shape::ObjectList(&I18N_MAP_RESOURCE)),
        Field::optional("custom_title", Shape::Text).i18n(),
        Field::optional("custom_content", Shape::Text).i18n(),
    ],
    one_of: &[&["user_id", "open_id"]],
};

static UPDATE: ObjectSpec = ObjectSpec {
    fields: &[
        Field::required("message_id", Shape::Text),
        Field::required("status", Shape::Text).allowed(CARD_STATUSES),
        Field::optional("status_name", Shape::Text).i18n(),
        Field::optional("detail_action_name", Shape::Text).i18n(),
        Field::optional("i18n_resources", Shape::ObjectList(&I18N_MAP_RESOURCE)),
    ],
    one_of: &[],
};

/// Sent cards and the uuid index.
#[derive(Debug, Default)]
pub(crate) struct MessageStore {
    by_id: BTreeMap<String, MessageRecord>,
    by_uuid: HashMap<String, String>,
    sent: u64,
}

/// `template_id` → `TemplateId`, for 60001 messages in Feishu's style.
fn pascal_case(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn bot_error(message: impl Into<String>) -> ApiError {
    ApiError::BotMessage(message.into())
}

/// The 60001 message for a schema violation.
fn violation_error(violation: &Violation) -> ApiError {
    let name = pascal_case(violation.leaf());
    bot_error(match &violation.problem {
        Problem::Missing if violation.field.starts_with("actions[*].") => {
            "actionUrls incomplete error".to_owned()
        }
        Problem::Missing | Problem::NoneOf(_) => format!("no {name} error"),
        Problem::TooMany(max) => format!("too many {name} error: at most {max}"),
        Problem::NotAllowed(_) | Problem::NotMillis | Problem::Invalid(_) => {
            format!("invalid {name} error")
        }
    })
}

fn text<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

fn objects<'a>(object: &'a Map<String, Value>, name: &str) -> Vec<&'a Map<String, Value>> {
    object
        .get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect()
}

/// Whether a template's extra required field is present.
fn has_required(body: &Map<String, Value>, name: &str) -> bool {
    match name {
        "summaries" => body
            .get("content")
            .and_then(|content| content.get("summaries"))
            .and_then(Value::as_array)
            .is_some_and(|summaries| !summaries.is_empty()),
        "actions" => !objects(body, "actions").is_empty(),
        // An empty title_user_id is allowed: the title then reads "{approval_name}待你审批".
        "title_user_id" => body.get(name).is_some_and(Value::is_string),
        _ => text(body, name).is_some_and(|value| !value.is_empty()),
    }
}

/// Checks a send body in Feishu's order: template extras, fields, quick-approval support, uuid,
/// action URLs and names, i18n keys.
fn validate_send(body: &Map<String, Value>, template_id: &str) -> Result<(), ApiError> {
    let (_, extras, quick_approval) = TEMPLATES
        .iter()
        .find(|(id, _, _)| *id == template_id)
        .ok_or_else(|| bot_error("invalid TemplateId error"))?;
    if let Some(missing) = extras.iter().find(|name| !has_required(body, name)) {
        return Err(bot_error(format!("no {} error", pascal_case(missing))));
    }
    if let Some(violation) = schema::first_layer_violations(body, &SEND).first() {
        return Err(violation_error(violation));
    }
    let quick_fields = ["action_callback", "action_configs"];
    if !quick_approval
        && quick_fields
            .iter()
            .any(|name| body.get(*name).is_some_and(|v| !v.is_null()))
    {
        return Err(bot_error(format!(
            "template {template_id} does not support quick approval"
        )));
    }
    if text(body, "uuid").is_some_and(|uuid| uuid.chars().count() > MAX_UUID_CHARS) {
        return Err(bot_error("invalid Uuid error"));
    }
    let actions = objects(body, "actions");
    let without_scheme = actions.iter().any(|action| {
        ACTION_URLS
            .iter()
            .any(|name| text(action, name).is_some_and(|url| !url.contains("://")))
    });
    if without_scheme {
        return Err(bot_error(
            "invalid actionUrls error: every action URL needs a scheme",
        ));
    }
    let custom_actions = if template_id == CUSTOM_TEMPLATE {
        actions.as_slice()
    } else {
        if let Some(first) = actions.first()
            && text(first, "action_name").is_some_and(|name| name != DETAIL_ACTION)
        {
            return Err(bot_error(
                "invalid ActionName error: the first action must be DETAIL",
            ));
        }
        actions.get(1..).unwrap_or_default()
    };
    let mut used = Vec::new();
    for action in custom_actions {
        match text(action, "action_name").filter(|name| !name.is_empty()) {
            Some(name) => used.push(name),
            None => return Err(bot_error("no ActionName error")),
        }
    }
    let unnamed_custom_config = objects(body, "action_configs").into_iter().any(|config| {
        let action_type = text(config, "action_type").unwrap_or_default();
        !BUILT_IN_ACTIONS.contains(&action_type)
            && text(config, "action_name").is_none_or(str::is_empty)
    });
    if unnamed_custom_config {
        return Err(bot_error("no ActionName error"));
    }
    schema::i18n_keys_used(body, &SEND, &mut used);
    check_keys(body, &used)
}

/// Every used i18n key must be in the default locale's `texts` map.
fn check_keys(body: &Map<String, Value>, used: &[&str]) -> Result<(), ApiError> {
    let defined = i18n::default_locale_keys(body.get("i18n_resources"));
    match i18n::first_undefined_key(used, &defined) {
        Some(key) => Err(bot_error(format!("Default i18n has no key: {key}"))),
        None => Ok(()),
    }
}

impl MessageStore {
    /// Validates and delivers a card (or recognises a duplicate `uuid`); the response `data`.
    pub(crate) fn send(
        &mut self,
        body: &Map<String, Value>,
        now_ms: i64,
        duplicate_answer: DuplicateUuidAnswer,
    ) -> Result<Value, ApiError> {
        if let Some(field) = schema::first_type_error(body, &SEND) {
            return Err(ApiError::ParameterType(field));
        }
        let template_id = text(body, "template_id")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bot_error("no TemplateId error"))?;
        validate_send(body, template_id)?;
        let uuid = text(body, "uuid").filter(|uuid| !uuid.is_empty());
        if let Some(earlier) = uuid
            .and_then(|uuid| self.by_uuid.get(uuid))
            .and_then(|message_id| self.by_id.get_mut(message_id))
            .filter(|earlier| now_ms - earlier.sent_at_ms < UUID_WINDOW_MS)
        {
            earlier.duplicate_sends += 1;
            return Ok(match duplicate_answer {
                DuplicateUuidAnswer::FirstId => json!({"message_id": earlier.message_id}),
                DuplicateUuidAnswer::None => json!({}),
                DuplicateUuidAnswer::NewId => {
                    self.sent += 1;
                    let unused = ids::message_id(self.sent);
                    earlier.duplicate_message_ids.push(unused.clone());
                    json!({ "message_id": unused })
                }
            });
        }
        self.sent += 1;
        let message_id = ids::message_id(self.sent);
        let action_configs: Vec<Value> = objects(body, "action_configs")
            .into_iter()
            .map(|config| Value::Object(config.clone()))
            .collect();
        let buttons = if action_configs.is_empty() {
            CardButtons::Absent
        } else {
            CardButtons::Live
        };
        let record = MessageRecord {
            message_id: message_id.clone(),
            template_id: template_id.to_owned(),
            user_id: text(body, "user_id").map(str::to_owned),
            open_id: text(body, "open_id").map(str::to_owned),
            uuid: uuid.map(str::to_owned),
            action_callback: body
                .get("action_callback")
                .filter(|v| !v.is_null())
                .cloned(),
            action_configs,
            status: INITIAL_STATUS.to_owned(),
            buttons,
            updatable: template_id == UPDATABLE_TEMPLATE,
            status_history: vec![StatusChange {
                status: INITIAL_STATUS.to_owned(),
                source: StatusSource::Sent,
                status_name: None,
                detail_action_name: None,
                at_ms: now_ms,
            }],
            taps: Vec::new(),
            sent_at_ms: now_ms,
            duplicate_sends: 0,
            duplicate_message_ids: Vec::new(),
            message: Value::Object(body.clone()),
        };
        if let Some(uuid) = uuid {
            self.by_uuid.insert(uuid.to_owned(), message_id.clone());
        }
        self.by_id.insert(message_id.clone(), record);
        Ok(json!({"message_id": message_id}))
    }

    /// Validates and applies a card status update; the response `data`.
    pub(crate) fn update(
        &mut self,
        body: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        if let Some(field) = schema::first_type_error(body, &UPDATE) {
            return Err(ApiError::ParameterType(field));
        }
        if let Some(violation) = schema::first_layer_violations(body, &UPDATE).first() {
            return Err(violation_error(violation));
        }
        let message_id = text(body, "message_id").unwrap_or_default();
        let record = self
            .by_id
            .get_mut(message_id)
            .ok_or_else(|| bot_error("message not found error"))?;
        if record.template_id != UPDATABLE_TEMPLATE {
            return Err(bot_error(format!(
                "only template {UPDATABLE_TEMPLATE} messages can be updated"
            )));
        }
        if !record.updatable_at(now_ms) {
            return Err(bot_error(
                "message is older than 30 days and can no longer be updated",
            ));
        }
        let mut used = Vec::new();
        schema::i18n_keys_used(body, &UPDATE, &mut used);
        check_keys(body, &used)?;
        record.set_status(StatusChange {
            status: text(body, "status").unwrap_or_default().to_owned(),
            source: StatusSource::Update,
            status_name: text(body, "status_name").map(str::to_owned),
            detail_action_name: text(body, "detail_action_name").map(str::to_owned),
            at_ms: now_ms,
        });
        Ok(json!({"message_id": record.message_id}))
    }

    /// The callback of a tap on a card's button; records the tap (unsettled).
    pub(crate) fn tap(
        &mut self,
        message_id: &str,
        tap: &Tap,
        now_ms: i64,
    ) -> Result<CardCallback, TapError> {
        let card = self
            .by_id
            .get_mut(message_id)
            .ok_or_else(|| TapError::UnknownCard(message_id.to_owned()))?;
        let number = u32::try_from(card.taps.len()).map_or(u32::MAX, |taps| taps + 1);
        let (callback, operator) = cards::callback(card, tap, number)?;
        card.taps.push(TapRecord {
            tap: number,
            action_type: tap.action_type.clone(),
            user_id: operator,
            at_ms: now_ms,
            outcome: None,
        });
        Ok(callback)
    }

    /// Applies a tap's outcome to its card (§2.4); the card afterwards.
    pub(crate) fn settle_tap(
        &mut self,
        message_id: &str,
        tap: u32,
        outcome: TapOutcome,
        now_ms: i64,
    ) -> Result<MessageRecord, TapError> {
        let card = self
            .by_id
            .get_mut(message_id)
            .ok_or_else(|| TapError::UnknownCard(message_id.to_owned()))?;
        let record = usize::try_from(tap)
            .ok()
            .and_then(|tap| tap.checked_sub(1))
            .and_then(|index| card.taps.get_mut(index))
            .ok_or(TapError::UnknownTap(tap))?;
        if record.outcome.is_some() {
            return Err(TapError::AlreadySettled(tap));
        }
        record.outcome = Some(outcome);
        let action_type = record.action_type.clone();
        match outcome {
            TapOutcome::Succeeded => {
                let next_status = cards::button(card, &action_type)
                    .and_then(|config| config.get("next_status"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(status) = next_status {
                    card.set_status(StatusChange {
                        status,
                        source: StatusSource::NextStatus,
                        status_name: None,
                        detail_action_name: None,
                        at_ms: now_ms,
                    });
                }
            }
            TapOutcome::Failed => {
                if card.buttons == CardButtons::Live {
                    card.buttons = CardButtons::Degraded;
                }
            }
        }
        Ok(card.view(now_ms))
    }

    /// The card `message_id` as it looks at `now_ms`.
    pub(crate) fn record(&self, message_id: &str, now_ms: i64) -> Option<MessageRecord> {
        self.by_id.get(message_id).map(|card| card.view(now_ms))
    }

    /// Every card as it looks at `now_ms`, in sending order.
    pub(crate) fn records(&self, now_ms: i64) -> Vec<MessageRecord> {
        self.by_id.values().map(|card| card.view(now_ms)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_matches_feishu_messages() {
        assert_eq!(pascal_case("status"), "Status");
        assert_eq!(pascal_case("template_id"), "TemplateId");
        assert_eq!(pascal_case("title_user_id"), "TitleUserId");
    }

    #[test]
    fn every_template_in_the_table_is_known_once() {
        let mut ids: Vec<&str> = TEMPLATES.iter().map(|(id, _, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TEMPLATES.len());
    }
}
