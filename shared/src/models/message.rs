//! Approval bot messages (feishu-api.md §5): `POST /open-apis/approval/v1/message/send` and
//! `…/message/update`. These legacy APIs take `i18n_resources` with `texts` as a **map**.
//!
//! Syncing an instance notifies nobody: a bot message must be sent explicitly.

use serde::{Deserialize, Serialize};

use super::i18n::MessageI18nResource;
use super::instance::ActionConfig;
use super::{CallbackEndpoint, optional_enum};
use crate::ids::MessageId;

/// `action_name` of the first action of a general template, which Feishu fixes to "view details".
pub const DETAIL_ACTION: &str = "DETAIL";

string_enum! {
    /// `template_id` of a bot message.
    pub enum TemplateId {
        /// 1001: a comment was received.
        CommentReceived => "1001",
        /// 1002: saved as a to-do.
        SavedAsTodo => "1002",
        /// 1003: the request was rejected.
        Rejected => "1003",
        /// 1004: the request was approved.
        Approved => "1004",
        /// 1005: submitted successfully.
        Submitted => "1005",
        /// 1006: will be closed.
        WillBeClosed => "1006",
        /// 1007: closed.
        Closed => "1007",
        /// 1008: an approval to-do was received (quick approval; the only updatable card).
        TodoReceived => "1008",
        /// 1009: added as approver (quick approval).
        AddedAsApprover => "1009",
        /// 1010: a task was transferred (quick approval).
        Transferred => "1010",
        /// 1011: a task was delegated (quick approval).
        Delegated => "1011",
        /// 1012: rolled back (quick approval).
        RolledBack => "1012",
        /// 1013: manual reminder forwarded in IM (quick approval; needs `sender_user_id`).
        ManualReminder => "1013",
        /// 1015: withdrawn.
        Withdrawn => "1015",
        /// 1016: CC'd.
        CarbonCopied => "1016",
        /// 1017: a comment was replied to.
        CommentReplied => "1017",
        /// 1018: mentioned.
        Mentioned => "1018",
        /// 1019: the applicant left; sent to the manager.
        ApplicantLeft => "1019",
        /// 1020: the approver left; the manager is CC'd (quick approval).
        ApproverLeft => "1020",
        /// 1021: custom template (`custom_title`, `custom_content`).
        Custom => "1021",
        /// 1024: shared.
        Shared => "1024",
        /// 1026: system CC.
        SystemCarbonCopy => "1026",
        /// 1027: a comment was added.
        CommentAdded => "1027",
        /// 1028: an approval to-do was received, without initiator (quick approval).
        TodoReceivedWithoutInitiator => "1028",
    }
}

impl TemplateId {
    /// Whether cards of this template can carry quick-approval buttons (`action_configs`).
    pub fn supports_quick_approval(&self) -> bool {
        matches!(
            self,
            Self::TodoReceived
                | Self::TodoReceivedWithoutInitiator
                | Self::AddedAsApprover
                | Self::Transferred
                | Self::Delegated
                | Self::RolledBack
                | Self::ManualReminder
                | Self::ApproverLeft
        )
    }
}

string_enum! {
    /// Which kind of user id a bot-message field holds.
    pub enum UserIdType {
        /// Tenant-scoped user id (the default).
        UserId => "user_id",
        /// Open id.
        OpenId => "open_id",
    }
}

string_enum! {
    /// Status of a bot card: `status` of an update, or `next_status` after a quick approval.
    pub enum CardStatus {
        /// Approved.
        Approved => "APPROVED",
        /// Rejected.
        Rejected => "REJECTED",
        /// Cancelled (two Ls, unlike instance statuses).
        Cancelled => "CANCELLED",
        /// Forwarded.
        Forwarded => "FORWARDED",
        /// Rolled back.
        Rollback => "ROLLBACK",
        /// An approver was added.
        Add => "ADD",
        /// Deleted.
        Deleted => "DELETED",
        /// Processed.
        Processed => "PROCESSED",
        /// Custom texts from `status_name` and `detail_action_name`.
        Custom => "CUSTOM",
    }
}

/// A bot message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageRequest {
    /// Card template.
    pub template_id: TemplateId,
    /// Recipient's tenant-scoped user id (this or `open_id`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// Recipient's open id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub open_id: Option<String>,
    /// Idempotency key (at most 64); a uuid reused within an hour reports success but sends nothing.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uuid: Option<String>,
    /// `{approval_name}` in the title (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approval_name: Option<String>,
    /// The user named in the title.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title_user_id: Option<String>,
    /// Kind of `title_user_id`.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    pub title_user_id_type: Option<UserIdType>,
    /// Comment (i18n, Markdown).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comment: Option<String>,
    /// Card body.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content: Option<MessageContent>,
    /// Source or intranet hint (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// Sender of a forwarded IM card (template 1013).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sender_user_id: Option<String>,
    /// Forwarding message.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    /// At most two buttons; the first has `action_name` [`DETAIL_ACTION`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<MessageAction>,
    /// Where quick-approval taps are posted (quick-approval templates only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_callback: Option<ActionCallback>,
    /// Quick-approval buttons (quick-approval templates only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_configs: Vec<MessageActionConfig>,
    /// Texts for every i18n key used above (map form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub i18n_resources: Vec<MessageI18nResource>,
    /// Title of a custom (1021) card (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub custom_title: Option<String>,
    /// Markdown body of a custom (1021) card (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub custom_content: Option<String>,
}

/// The body of a general-template card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageContent {
    /// The applicant; not shown when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    /// Kind of `user_id`.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    pub user_id_type: Option<UserIdType>,
    /// The applicant's department (a `department_id`, required if they have several).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department_id: Option<String>,
    /// Name of an applicant who is not a Feishu user (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_name: Option<String>,
    /// Name of a department that is not a Feishu department (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department_name: Option<String>,
    /// At most five summary lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summaries: Vec<Summary>,
}

/// One summary line of a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The line (i18n, Markdown).
    pub summary: String,
}

/// A card button with its link per platform; Feishu rejects a button missing any of the four.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAction {
    /// [`DETAIL_ACTION`] for the first button, an i18n key for the second.
    pub action_name: String,
    /// Default link.
    pub url: String,
    /// Link on Android.
    pub android_url: String,
    /// Link on iOS.
    pub ios_url: String,
    /// Link on PC.
    pub pc_url: String,
}

impl MessageAction {
    /// A button opening `url` on every platform.
    pub fn with_url(action_name: impl Into<String>, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            action_name: action_name.into(),
            android_url: url.clone(),
            ios_url: url.clone(),
            pc_url: url.clone(),
            url,
        }
    }
}

/// Where Feishu posts a card's quick-approval taps. `Debug` redacts the token and key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCallback {
    /// Callback URL, token and key.
    #[serde(flatten)]
    pub endpoint: CallbackEndpoint,
    /// Opaque text echoed back in the callback.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_context: Option<String>,
}

/// A quick-approval button on a card: the Approval Center button's fields, plus the card status
/// after a successful callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageActionConfig {
    /// The button: action, text and comment-page settings, written inline (same JSON keys as
    /// an [`ActionConfig`] in `action_configs` of a sync).
    #[serde(flatten)]
    pub action: ActionConfig,
    /// The status Feishu gives the card after a successful callback; when absent the card keeps
    /// its buttons until updated with [`UpdateMessageRequest`].
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    pub next_status: Option<CardStatus>,
}

/// `data` of a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessageResponse {
    /// The card's id, needed to update it and to match callbacks. Feishu answers a repeated
    /// `uuid` with success and may leave it out (`feishu-api.md` §5.1).
    #[serde(
        default,
        deserialize_with = "crate::ids::deserialize_optional_message_id"
    )]
    pub message_id: Option<MessageId>,
}

/// A status change of a 1008 card at most 30 days old.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateMessageRequest {
    /// The card, as returned by the send.
    pub message_id: MessageId,
    /// The new status; Feishu rejects an update without one.
    pub status: CardStatus,
    /// Title text (i18n), only with `CUSTOM`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status_name: Option<String>,
    /// "View details" button text (i18n), only with `CUSTOM`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail_action_name: Option<String>,
    /// Texts for the keys above (map form; required by Feishu when keys are used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub i18n_resources: Vec<MessageI18nResource>,
}

/// `data` of an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateMessageResponse {
    /// The updated card's id.
    pub message_id: MessageId,
}
