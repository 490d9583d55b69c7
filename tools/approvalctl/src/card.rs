//! `card`: send a test approval bot card (template 1008, `feishu-api.md` §5.1) to check delivery,
//! links and, with a callback URL, the quick-approval round trip.

use feishu_bridge::models::i18n::MessageI18nResource;
use feishu_bridge::models::message::{
    ActionCallback, DETAIL_ACTION, MessageAction, MessageActionConfig, MessageContent,
    SendMessageRequest, Summary, TemplateId, UserIdType,
};
use feishu_bridge::models::{ActionConfig, ActionType, CallbackEndpoint};
use feishu_bridge::secrets::Credentials;

use crate::cli::CardArgs;
use crate::error::CliError;
use crate::feishu::{Feishu, deadline};

/// The card's i18n key for the approval name.
const APPROVAL_NAME_KEY: &str = "@i18n@approval_name";

/// The summary line of a card sent without `--summary` (Feishu requires one).
const DEFAULT_SUMMARY: &str = "approvalctl test card";

/// Runs `card`: prints the message id on standard output.
pub async fn run(args: &CardArgs) -> Result<(), CliError> {
    let feishu = Feishu::connect(&args.feishu).await?;
    let uuid = random_uuid(rand::random());
    let request = card_request(args, &feishu.credentials, uuid.clone());
    let message_id = feishu
        .client
        .send_message(&request, deadline())
        .await
        .map_err(|source| CliError::Feishu {
            action: "sending the test card",
            source,
        })?;
    eprintln!(
        "sent a template-1008 card to {} (uuid {uuid}{})",
        args.to,
        if args.callback_url.is_some() {
            ", with Approve / Reject buttons"
        } else {
            ""
        }
    );
    match message_id {
        Some(message_id) => println!("{message_id}"),
        // A repeated uuid (impossible with a fresh random one) is answered without an id.
        None => eprintln!("Feishu's answer carried no message id"),
    }
    Ok(())
}

/// The template-1008 card for `args`; quick-approval buttons post to `--callback-url` with the
/// callback token and key from `credentials`.
fn card_request(args: &CardArgs, credentials: &Credentials, uuid: String) -> SendMessageRequest {
    let mut texts = MessageI18nResource::new(args.locale.clone(), true)
        .with_text(APPROVAL_NAME_KEY, &args.approval_name);
    let lines: Vec<&str> = if args.summary.is_empty() {
        vec![DEFAULT_SUMMARY]
    } else {
        args.summary.iter().map(String::as_str).collect()
    };
    let summaries = lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| {
            let key = format!("@i18n@summary_{index}");
            texts.texts.insert(key.clone(), line.to_owned());
            Summary { summary: key }
        })
        .collect();
    let applicant_type = args.applicant.as_ref().map(|_| UserIdType::UserId);
    let action_callback = args.callback_url.as_ref().map(|url| ActionCallback {
        endpoint: CallbackEndpoint::new(
            url.as_str(),
            &credentials.callback_token,
            credentials.callback_key.as_ref(),
        ),
        action_context: args.action_context.clone(),
    });
    let action_configs = if action_callback.is_some() {
        [ActionType::Approve, ActionType::Reject]
            .into_iter()
            .map(|action_type| MessageActionConfig {
                action: ActionConfig {
                    action_type,
                    action_name: None,
                    is_need_reason: None,
                    is_reason_required: None,
                    is_need_attachment: None,
                },
                next_status: None,
            })
            .collect()
    } else {
        Vec::new()
    };
    SendMessageRequest {
        template_id: TemplateId::TodoReceived,
        user_id: Some(args.to.clone()),
        open_id: None,
        uuid: Some(uuid),
        approval_name: Some(APPROVAL_NAME_KEY.to_owned()),
        // Empty: the title then reads "{approval_name}待你审批".
        title_user_id: Some(args.applicant.clone().unwrap_or_default()),
        title_user_id_type: applicant_type.clone(),
        comment: None,
        content: Some(MessageContent {
            user_id: args.applicant.clone(),
            user_id_type: applicant_type,
            summaries,
            ..MessageContent::default()
        }),
        note: None,
        sender_user_id: None,
        text: None,
        actions: vec![MessageAction::with_url(DETAIL_ACTION, &args.link)],
        action_callback,
        action_configs,
        i18n_resources: vec![texts],
        custom_title: None,
        custom_content: None,
    }
}

/// A random (version 4) UUID from 128 random bits, as Feishu's `uuid` idempotency key.
fn random_uuid(bits: u128) -> String {
    const VERSION_MASK: u128 = 0xF << 76;
    const VARIANT_MASK: u128 = 0x3 << 62;
    let bits = (bits & !VERSION_MASK) | (0x4 << 76);
    let bits = (bits & !VARIANT_MASK) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        bits >> 96,
        (bits >> 80) & 0xFFFF,
        (bits >> 64) & 0xFFFF,
        (bits >> 48) & 0xFFFF,
        bits & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cli::Command;
    use crate::test_support::{self, credentials};

    fn args(extra: &[&str]) -> CardArgs {
        let base = [
            "card",
            "--to",
            "u-approver",
            "--approval-name",
            "采购申请",
            "--link",
            "https://erp.example.com/i/1",
        ];
        match test_support::command(base.into_iter().chain(extra.iter().copied())) {
            Command::Card(args) => args,
            other => panic!("card expected, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_card_has_all_four_links_a_summary_and_no_buttons() {
        let card = card_request(&args(&[]), &credentials(Some("cb-key")), "u-1".to_owned());
        assert_eq!(card.template_id, TemplateId::TodoReceived);
        assert_eq!(card.user_id.as_deref(), Some("u-approver"));
        assert_eq!(card.uuid.as_deref(), Some("u-1"));
        assert_eq!(card.title_user_id.as_deref(), Some(""));
        let [detail] = card.actions.as_slice() else {
            panic!("one action expected");
        };
        assert_eq!(detail.action_name, DETAIL_ACTION);
        for url in [
            &detail.url,
            &detail.pc_url,
            &detail.ios_url,
            &detail.android_url,
        ] {
            assert_eq!(url, "https://erp.example.com/i/1");
        }
        let texts = &card.i18n_resources[0].texts;
        assert_eq!(texts[APPROVAL_NAME_KEY], "采购申请");
        let summaries = &card.content.as_ref().unwrap().summaries;
        assert_eq!(texts[&summaries[0].summary], DEFAULT_SUMMARY);
        assert!(card.action_callback.is_none());
        assert!(card.action_configs.is_empty());
    }

    #[test]
    fn a_callback_url_adds_approve_and_reject_with_the_callback_secrets() {
        let card = card_request(
            &args(&[
                "--callback-url",
                "https://cb.example.com/feishu",
                "--action-context",
                "ctx",
                "--summary",
                "金额: 100",
                "--summary",
                "事由: 测试",
                "--applicant",
                "u-initiator",
            ]),
            &credentials(Some("cb-key")),
            "u-2".to_owned(),
        );
        let callback = card.action_callback.as_ref().unwrap();
        assert_eq!(
            callback.endpoint.action_callback_url.as_deref(),
            Some("https://cb.example.com/feishu")
        );
        assert_eq!(
            callback.endpoint.action_callback_token.as_deref(),
            Some("cb-token")
        );
        assert_eq!(
            callback.endpoint.action_callback_key.as_deref(),
            Some("cb-key")
        );
        assert_eq!(callback.action_context.as_deref(), Some("ctx"));
        let actions: Vec<_> = card
            .action_configs
            .iter()
            .map(|config| config.action.action_type.as_str())
            .collect();
        assert_eq!(actions, ["APPROVE", "REJECT"]);
        assert_eq!(card.title_user_id.as_deref(), Some("u-initiator"));
        let summaries = &card.content.as_ref().unwrap().summaries;
        assert_eq!(summaries.len(), 2);
        assert_eq!(
            card.i18n_resources[0].texts[&summaries[1].summary],
            "事由: 测试"
        );
    }

    #[test]
    fn uuids_are_version_4_and_differ_with_the_bits() {
        let uuid = random_uuid(u128::MAX);
        assert_eq!(uuid, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let zero = random_uuid(0);
        assert_eq!(zero, "00000000-0000-4000-8000-000000000000");
        assert_eq!(random_uuid(rand::random()).len(), 36);
    }
}
