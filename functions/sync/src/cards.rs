//! Quick-approval bot cards (template 1008, `feishu-api.md` §5.1) for the pending tasks of an
//! instance: who gets one, and what it says.
//!
//! Card texts come from the instance: `approval_name` is the instance title (else the task title,
//! else the instance id), the summaries are its first five form lines. Instance i18n keys are
//! resolved through the instance's `i18n_resources` (array form) into the card's own keys in the
//! map form the message API wants; every locale gets every key, falling back to the default
//! locale's text.

use std::fmt::Write as _;

use feishu_bridge::models::i18n::{I18N_KEY_PREFIX, I18nResource, Locale, MessageI18nResource};
use feishu_bridge::models::instance::{
    ActionConfig, ExternalInstance, ExternalTask, Links, TaskStatus,
};
use feishu_bridge::models::message::{
    ActionCallback, DETAIL_ACTION, MessageAction, MessageActionConfig, MessageContent,
    SendMessageRequest, Summary, TemplateId, UserIdType,
};
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::models::{ActionType, CallbackEndpoint};
use feishu_bridge::tap_context::TapContext;
use sha2::{Digest, Sha256};

/// Most summary lines a card shows.
const MAX_SUMMARIES: usize = 5;

/// The card's i18n key for the approval name.
const APPROVAL_NAME_KEY: &str = "@i18n@approval_name";

/// The card `uuid` of a task version: the hex SHA-256 of the instance and task ids (and the task
/// version, once the task was re-opened) — 64 characters, the most Feishu accepts. Retries of a
/// send therefore deliver one card per task version; a re-opened task gets a new card.
pub fn card_uuid(instance_id: &str, task_id: &str, task_version: UnixMillis) -> String {
    let mut hasher = Sha256::new();
    hasher.update(instance_id.as_bytes());
    hasher.update([0]);
    hasher.update(task_id.as_bytes());
    if !task_version.is_zero() {
        hasher.update([0]);
        hasher.update(task_version.as_millis().to_be_bytes());
    }
    let mut uuid = String::with_capacity(64);
    for byte in hasher.finalize() {
        // Writing to a String cannot fail.
        let _ = write!(uuid, "{byte:02x}");
    }
    uuid
}

/// Whether `task` (as derived) can get a card: it is pending and has an approver.
pub fn wants_card(task: &ExternalTask) -> bool {
    task.status == TaskStatus::Pending && (present(&task.user_id) || present(&task.open_id))
}

/// The template-1008 card telling `task`'s approver that `instance` awaits them (version
/// `task_version` of the task), with Approve and Reject buttons posting to `callback`. The
/// buttons set no `next_status`: the sync function updates the card itself once the decision is
/// judged. The card's `action_context` is a [`TapContext`] naming the instance, the task and its
/// version.
pub fn todo_card(
    instance: &ExternalInstance,
    task: &ExternalTask,
    task_version: UnixMillis,
    callback: &CallbackEndpoint,
) -> SendMessageRequest {
    let (user_id, open_id) = match &task.user_id {
        Some(user_id) if !user_id.is_empty() => (Some(user_id.clone()), None),
        _ => (None, task.open_id.clone()),
    };
    let (initiator, initiator_type) = initiator(instance);
    let mut texts = CardTexts::default();
    let approval_name = instance
        .title
        .as_deref()
        .or(task.title.as_deref())
        .filter(|title| !title.is_empty())
        .unwrap_or(&instance.instance_id);
    texts.add(APPROVAL_NAME_KEY, vec![approval_name]);
    let summaries = summary_lines(instance, approval_name)
        .into_iter()
        .enumerate()
        .map(|(index, parts)| {
            let key = format!("@i18n@summary_{index}");
            texts.add(&key, parts);
            Summary { summary: key }
        })
        .collect();
    SendMessageRequest {
        template_id: TemplateId::TodoReceived,
        user_id,
        open_id,
        uuid: Some(card_uuid(
            &instance.instance_id,
            &task.task_id,
            task_version,
        )),
        approval_name: Some(APPROVAL_NAME_KEY.to_owned()),
        title_user_id: initiator.clone(),
        title_user_id_type: initiator_type.clone(),
        comment: None,
        content: Some(MessageContent {
            user_id: initiator,
            user_id_type: initiator_type,
            department_id: None,
            user_name: None,
            department_name: None,
            summaries,
        }),
        note: None,
        sender_user_id: None,
        text: None,
        actions: vec![detail_action(task, instance)],
        action_callback: Some(ActionCallback {
            endpoint: callback.clone(),
            action_context: Some(
                TapContext {
                    instance_id: instance.instance_id.clone(),
                    task_id: task.task_id.clone(),
                    task_context: task.action_context.clone(),
                    task_version: Some(task_version),
                }
                .encode(),
            ),
        }),
        action_configs: [ActionType::Approve, ActionType::Reject]
            .into_iter()
            .map(|action| button(task, action))
            .collect(),
        i18n_resources: texts.resources(instance),
        custom_title: None,
        custom_content: None,
    }
}

/// The initiator named in the card title and body, and the kind of id.
fn initiator(instance: &ExternalInstance) -> (Option<String>, Option<UserIdType>) {
    if present(&instance.user_id) {
        (instance.user_id.clone(), Some(UserIdType::UserId))
    } else if present(&instance.open_id) {
        (instance.open_id.clone(), Some(UserIdType::OpenId))
    } else {
        (None, None)
    }
}

/// The summary lines as `name: value` parts: the first five form lines, or the approval name when
/// the instance has no form (Feishu requires at least one line).
fn summary_lines<'a>(instance: &'a ExternalInstance, approval_name: &'a str) -> Vec<Vec<&'a str>> {
    let lines: Vec<Vec<&str>> = instance
        .form
        .iter()
        .map(|item| {
            [item.name.as_deref(), item.value.as_deref()]
                .into_iter()
                .flatten()
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|parts| !parts.is_empty())
        .take(MAX_SUMMARIES)
        .collect();
    if lines.is_empty() {
        vec![vec![approval_name]]
    } else {
        lines
    }
}

/// The "view details" button, opening the task's links (else the instance's) on every platform.
fn detail_action(task: &ExternalTask, instance: &ExternalInstance) -> MessageAction {
    let links: &Links = if task.links.is_present() {
        &task.links
    } else {
        &instance.links
    };
    let pc_link = non_empty(&links.pc_link);
    let mobile_link = non_empty(&links.mobile_link);
    let pc = pc_link.or(mobile_link).unwrap_or_default().to_owned();
    let mobile = mobile_link.or(pc_link).unwrap_or_default().to_owned();
    MessageAction {
        action_name: DETAIL_ACTION.to_owned(),
        url: pc.clone(),
        android_url: mobile.clone(),
        ios_url: mobile,
        pc_url: pc,
    }
}

/// A quick-approval button, taking the comment-page settings of the task's own button for the
/// same action, if it has one.
fn button(task: &ExternalTask, action: ActionType) -> MessageActionConfig {
    let same = task
        .action_configs
        .iter()
        .find(|config| config.action_type == action);
    MessageActionConfig {
        action: ActionConfig {
            action_type: action,
            action_name: None,
            is_need_reason: same.and_then(|config| config.is_need_reason),
            is_reason_required: same.and_then(|config| config.is_reason_required),
            is_need_attachment: same.and_then(|config| config.is_need_attachment),
        },
        next_status: None,
    }
}

fn present(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|value| !value.is_empty())
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|value| !value.is_empty())
}

/// The card's texts: each card key with the instance values (i18n keys or literal text) that
/// make up its text, joined by `": "`.
#[derive(Default)]
struct CardTexts<'a> {
    entries: Vec<(String, Vec<&'a str>)>,
}

impl<'a> CardTexts<'a> {
    fn add(&mut self, card_key: &str, parts: Vec<&'a str>) {
        self.entries.push((card_key.to_owned(), parts));
    }

    /// One map-form resource per instance locale (a `zh-CN` default when the instance has none).
    fn resources(&self, instance: &ExternalInstance) -> Vec<MessageI18nResource> {
        let default = instance.default_i18n();
        let render = |locale: Option<&I18nResource>, parts: &[&str]| {
            parts
                .iter()
                .map(|part| resolve(part, locale, default))
                .collect::<Vec<_>>()
                .join(": ")
        };
        let resource = |locale: Locale, is_default: bool, source: Option<&I18nResource>| {
            let texts = self
                .entries
                .iter()
                .map(|(key, parts)| (key.clone(), render(source, parts)))
                .collect();
            MessageI18nResource {
                locale,
                is_default,
                texts,
            }
        };
        if default.is_none() {
            return vec![resource(Locale::ZhCn, true, None)];
        }
        instance
            .i18n_resources
            .iter()
            .map(|source| resource(source.locale.clone(), source.is_default, Some(source)))
            .collect()
    }
}

/// The text of `value` in `locale`: literal text as is; an i18n key through `locale`, else the
/// default locale, else the key itself.
fn resolve<'a>(
    value: &'a str,
    locale: Option<&'a I18nResource>,
    default: Option<&'a I18nResource>,
) -> &'a str {
    if !value.starts_with(I18N_KEY_PREFIX) {
        return value;
    }
    locale
        .and_then(|locale| locale.text(value))
        .or_else(|| default.and_then(|default| default.text(value)))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use feishu_bridge::models::instance::FormItem;
    use feishu_bridge::secrets::Secret;

    use super::*;

    fn instance() -> ExternalInstance {
        serde_json::from_value(serde_json::json!({
            "approval_code": "CODE",
            "status": "PENDING",
            "instance_id": "inst-1",
            "links": {"pc_link": "https://example.com/pc/inst-1", "mobile_link": "https://example.com/m/inst-1"},
            "title": "@i18n@title",
            "form": [
                {"name": "@i18n@amount", "value": "1,000 CNY"},
                {"name": "@i18n@reason", "value": "@i18n@reason_value"}
            ],
            "user_id": "initiator",
            "start_time": "1700000000000",
            "end_time": "0",
            "update_time": "1700000000000",
            "task_list": [{
                "task_id": "t1",
                "open_id": "ou_approver",
                "links": {"pc_link": "https://example.com/pc/t1"},
                "status": "PENDING",
                "create_time": "1700000000000",
                "end_time": "0",
                "update_time": "1700000000000",
                "action_context": "ctx-1",
                "action_configs": [{"action_type": "REJECT", "is_need_reason": true}]
            }],
            "i18n_resources": [
                {"locale": "zh-CN", "is_default": true, "texts": [
                    {"key": "@i18n@title", "value": "采购申请"},
                    {"key": "@i18n@amount", "value": "金额"},
                    {"key": "@i18n@reason", "value": "事由"},
                    {"key": "@i18n@reason_value", "value": "服务器"}
                ]},
                {"locale": "en-US", "is_default": false, "texts": [
                    {"key": "@i18n@title", "value": "Purchase request"},
                    {"key": "@i18n@amount", "value": "Amount"}
                ]}
            ]
        }))
        .unwrap()
    }

    fn callback(token: &Secret) -> CallbackEndpoint {
        CallbackEndpoint::new("https://example.com/callback", token, None)
    }

    #[test]
    fn uuid_is_64_hex_chars_and_unique_per_task_version() {
        let zero = UnixMillis::ZERO;
        let uuid = card_uuid("inst-1", "t1", zero);
        assert_eq!(uuid.len(), 64);
        assert!(uuid.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_eq!(uuid, card_uuid("inst-1", "t1", zero));
        assert_ne!(uuid, card_uuid("inst-1", "t2", zero));
        assert_ne!(card_uuid("a", "bc", zero), card_uuid("ab", "c", zero));
        let reopened = card_uuid("inst-1", "t1", UnixMillis::from_millis(7));
        assert_eq!(reopened.len(), 64);
        assert_ne!(reopened, uuid);
    }

    #[test]
    fn card_resolves_instance_texts_into_its_own_keys_in_every_locale() {
        let instance = instance();
        let token = Secret::new("token");
        let card = todo_card(
            &instance,
            &instance.task_list[0],
            UnixMillis::ZERO,
            &callback(&token),
        );
        assert_eq!(card.template_id, TemplateId::TodoReceived);
        assert_eq!(card.approval_name.as_deref(), Some(APPROVAL_NAME_KEY));
        let summaries: Vec<_> = card
            .content
            .as_ref()
            .unwrap()
            .summaries
            .iter()
            .map(|line| line.summary.as_str())
            .collect();
        assert_eq!(summaries, ["@i18n@summary_0", "@i18n@summary_1"]);
        let zh = &card.i18n_resources[0];
        assert!(zh.is_default);
        assert_eq!(zh.texts[APPROVAL_NAME_KEY], "采购申请");
        assert_eq!(zh.texts["@i18n@summary_0"], "金额: 1,000 CNY");
        assert_eq!(zh.texts["@i18n@summary_1"], "事由: 服务器");
        let en = &card.i18n_resources[1];
        assert_eq!(en.texts[APPROVAL_NAME_KEY], "Purchase request");
        assert_eq!(en.texts["@i18n@summary_0"], "Amount: 1,000 CNY");
        assert_eq!(en.texts["@i18n@summary_1"], "事由: 服务器");
    }

    #[test]
    fn card_addresses_the_approver_and_links_the_task_on_every_platform() {
        let instance = instance();
        let token = Secret::new("token");
        let card = todo_card(
            &instance,
            &instance.task_list[0],
            UnixMillis::ZERO,
            &callback(&token),
        );
        assert_eq!(card.user_id, None);
        assert_eq!(card.open_id.as_deref(), Some("ou_approver"));
        assert_eq!(card.title_user_id.as_deref(), Some("initiator"));
        assert_eq!(card.uuid, Some(card_uuid("inst-1", "t1", UnixMillis::ZERO)));
        let detail = &card.actions[0];
        assert_eq!(detail.action_name, DETAIL_ACTION);
        for url in [
            &detail.url,
            &detail.android_url,
            &detail.ios_url,
            &detail.pc_url,
        ] {
            assert_eq!(url, "https://example.com/pc/t1");
        }
        let callback = card.action_callback.as_ref().unwrap();
        let context = TapContext::decode(callback.action_context.as_deref().unwrap()).unwrap();
        assert_eq!(
            (context.instance_id.as_str(), context.task_id.as_str()),
            ("inst-1", "t1")
        );
        assert_eq!(context.task_context.as_deref(), Some("ctx-1"));
        assert_eq!(
            callback.endpoint.action_callback_token.as_deref(),
            Some("token")
        );
        let types: Vec<_> = card
            .action_configs
            .iter()
            .map(|config| {
                (
                    config.action.action_type.clone(),
                    config.action.is_need_reason,
                )
            })
            .collect();
        assert_eq!(
            types,
            [
                (ActionType::Approve, None),
                (ActionType::Reject, Some(true))
            ]
        );
        assert!(card.action_configs.iter().all(|c| c.next_status.is_none()));
    }

    #[test]
    fn at_most_five_summaries_and_one_when_there_is_no_form() {
        let mut instance = instance();
        instance.form = (0..8)
            .map(|index| FormItem {
                name: None,
                value: Some(format!("line {index}")),
            })
            .collect();
        let token = Secret::new("token");
        let card = todo_card(
            &instance,
            &instance.task_list[0],
            UnixMillis::ZERO,
            &callback(&token),
        );
        assert_eq!(card.content.unwrap().summaries.len(), MAX_SUMMARIES);
        instance.form.clear();
        let card = todo_card(
            &instance,
            &instance.task_list[0],
            UnixMillis::ZERO,
            &callback(&token),
        );
        assert_eq!(card.content.unwrap().summaries.len(), 1);
        assert_eq!(card.i18n_resources[0].texts["@i18n@summary_0"], "采购申请");
    }

    #[test]
    fn only_pending_tasks_with_an_approver_want_a_card() {
        let instance = instance();
        let mut task = instance.task_list[0].clone();
        assert!(wants_card(&task));
        task.status = TaskStatus::Approved;
        assert!(!wants_card(&task));
        task.status = TaskStatus::Pending;
        task.open_id = None;
        assert!(!wants_card(&task));
    }
}
