//! What the approver sees on a bot card and does with it: the card as delivered ([`MessageRecord`]:
//! its status and history, whether its quick-approval buttons are live, whether it can still be
//! updated), the callback Feishu posts when one is tapped (`feishu-api.md` §2.2, encrypted per
//! §2.3), and what Feishu does to the card once that callback answered (§2.4).
//!
//! Feishu itself posts the callback; the simulator only produces it ([`crate::SimHandle::tap`]),
//! so a test (or an in-process simulation) delivers it and reports back how it went
//! ([`crate::SimHandle::settle_tap`]).

use aes::Aes256;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};
use sha2::{Digest, Sha256};

use crate::ids;

/// Only messages younger than this can be updated.
pub(crate) const UPDATE_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// The only template whose cards can be updated.
pub(crate) const UPDATABLE_TEMPLATE: &str = "1008";

/// Who set a card's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSource {
    /// `message/send` (always `PENDING`).
    Sent,
    /// A `message/update` call.
    Update,
    /// Feishu itself, after a tap's callback succeeded: the button's `next_status` (§2.4).
    NextStatus,
}

/// One status a card has had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// `PENDING` (as sent), then the status each update or `next_status` set.
    pub status: String,
    /// Who set it.
    pub source: StatusSource,
    /// `status_name` of a `CUSTOM` update.
    pub status_name: Option<String>,
    /// `detail_action_name` of a `CUSTOM` update.
    pub detail_action_name: Option<String>,
    /// When it changed (simulator clock, Unix ms).
    pub at_ms: i64,
}

/// A bot card Feishu delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The 19-digit decimal id returned by `message/send`.
    pub message_id: String,
    /// The template, e.g. `1008`.
    pub template_id: String,
    /// Recipient `user_id`, if addressed by it.
    pub user_id: Option<String>,
    /// Recipient `open_id`, if addressed by it.
    pub open_id: Option<String>,
    /// The idempotency key.
    pub uuid: Option<String>,
    /// Where Feishu would post quick-approval callbacks for this card.
    pub action_callback: Option<Value>,
    /// The card's quick-approval buttons.
    pub action_configs: Vec<Value>,
    /// The current card status: `PENDING` until `message/update` or a button's `next_status`
    /// sets one of §5.2's statuses.
    pub status: String,
    /// Whether the quick-approval buttons can be tapped, and if not, why.
    pub buttons: CardButtons,
    /// Whether `message/update` can still change it now: template 1008 and at most 30 days old
    /// by the simulator clock (§5.2).
    pub updatable: bool,
    /// Every status, oldest first.
    pub status_history: Vec<StatusChange>,
    /// Every tap on its buttons, oldest first.
    pub taps: Vec<TapRecord>,
    /// When it was sent (simulator clock, Unix ms).
    pub sent_at_ms: i64,
    /// Later sends with the same `uuid` that delivered nothing.
    pub duplicate_sends: u32,
    /// The fresh ids answered to those repeats (settings `duplicate_uuid: new_id`); they name no
    /// card.
    pub duplicate_message_ids: Vec<String>,
    /// The send request body.
    pub message: Value,
}

impl MessageRecord {
    /// Whether a button can be tapped now.
    pub fn buttons_live(&self) -> bool {
        self.buttons == CardButtons::Live
    }

    /// Whether `message/update` may change the card at `now_ms` (§5.2).
    pub(crate) fn updatable_at(&self, now_ms: i64) -> bool {
        self.template_id == UPDATABLE_TEMPLATE && now_ms - self.sent_at_ms <= UPDATE_WINDOW_MS
    }

    /// The card as it looks at `now_ms`.
    pub(crate) fn view(&self, now_ms: i64) -> Self {
        let mut card = self.clone();
        card.updatable = self.updatable_at(now_ms);
        card
    }

    /// Shows `change`; a status replaces the buttons.
    pub(crate) fn set_status(&mut self, change: StatusChange) {
        self.status.clone_from(&change.status);
        if self.buttons != CardButtons::Absent {
            self.buttons = CardButtons::Replaced;
        }
        self.status_history.push(change);
    }
}

/// The state of a card's quick-approval buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardButtons {
    /// Approve / Reject (the card's `action_configs`) can be tapped.
    Live,
    /// The card was sent without `action_configs`: it never had quick-approval buttons.
    Absent,
    /// A tap's callback failed: Feishu left only "view details" (§2.4); only `message/update`
    /// changes the card now.
    Degraded,
    /// A status (`message/update`, or `next_status` after a successful callback) replaced them.
    Replaced,
}

/// A file the approver attached to the comment of a tap (§2.2 `attachments[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapAttachment {
    /// `IMAGE` or `ATTACHMENTS`.
    pub file_type: String,
    /// Size in bytes.
    pub file_size: u64,
    /// File name.
    pub file_name: String,
    /// CDN URL.
    pub url: String,
}

/// The approver's tap on a card button (`POST /_sim/cards/{message_id}/tap` body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    /// The button: an `action_type` among the card's `action_configs` (`APPROVE`, `REJECT`, …).
    pub action_type: String,
    /// The callback's `approval_code`. A card does not say which definition it belongs to, so
    /// the caller names the code Feishu would fill in.
    pub approval_code: String,
    /// The operator's `user_id`; default: the card's recipient `user_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The approver's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Files attached to the comment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<TapAttachment>,
}

impl Tap {
    /// The recipient taps `action_type`; the callback carries `approval_code`.
    pub fn new(action_type: impl Into<String>, approval_code: impl Into<String>) -> Self {
        Self {
            action_type: action_type.into(),
            approval_code: approval_code.into(),
            user_id: None,
            reason: None,
            attachments: Vec::new(),
        }
    }

    /// Tapped by `user_id` instead of the card's recipient.
    pub fn by(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// With a comment.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// With one more attached file.
    pub fn with_attachment(mut self, attachment: TapAttachment) -> Self {
        self.attachments.push(attachment);
        self
    }
}

/// How a tap's callback went, as Feishu judges it (§2.4, §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapOutcome {
    /// HTTP 200 within the timeout.
    Succeeded,
    /// Any other status, no answer, or no answer within the timeout (10 s on Feishu).
    Failed,
}

impl TapOutcome {
    /// The outcome of an answer with this HTTP status: only 200 counts as success.
    pub fn from_http_status(status: u16) -> Self {
        if status == 200 {
            Self::Succeeded
        } else {
            Self::Failed
        }
    }
}

/// One tap on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapRecord {
    /// Its number on the card, from 1.
    pub tap: u32,
    /// The button tapped.
    pub action_type: String,
    /// The operator.
    pub user_id: String,
    /// When (simulator clock, Unix ms).
    pub at_ms: i64,
    /// How its callback went; `None` until settled.
    pub outcome: Option<TapOutcome>,
}

/// The quick-approval callback Feishu posts for a tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardCallback {
    /// The card tapped.
    pub message_id: String,
    /// The tap's number on the card (for [`crate::SimHandle::settle_tap`]).
    pub tap: u32,
    /// Where Feishu posts it: the card's `action_callback.action_callback_url`.
    pub url: String,
    /// The §2.2 fields as JSON text, `message_id` as a bare JSON number (above 2^53).
    pub plaintext: String,
    /// The body Feishu posts (`Content-Type: application/json`): `plaintext`, or
    /// `{"encrypt":"…"}` when the card has an `action_callback_key`.
    pub body: String,
    /// Whether `body` is encrypted.
    pub encrypted: bool,
}

/// Why a tap or its settlement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    /// No card has this `message_id`.
    #[error("no card with message_id {0}")]
    UnknownCard(String),
    /// The card was sent without `action_configs`.
    #[error("the card has no quick-approval buttons")]
    NoButtons,
    /// The buttons are no longer there.
    #[error("the card's buttons are gone ({0:?})")]
    ButtonsGone(CardButtons),
    /// The card has no button with this `action_type`.
    #[error("the card has no {action_type} button (it offers {offered:?})")]
    NoSuchButton {
        /// The tapped action.
        action_type: String,
        /// The card's actions.
        offered: Vec<String>,
    },
    /// The card's `action_callback` names no URL.
    #[error("the card has no action_callback_url")]
    NoCallbackUrl,
    /// The button's `is_reason_required` is set and the tap has no reason.
    #[error("the {0} button requires a reason")]
    ReasonRequired(String),
    /// The card was addressed by `open_id` and the tap names no operator `user_id`.
    #[error("the card's recipient has no user_id; name the operator")]
    NoOperator,
    /// The card has no tap with this number.
    #[error("the card has no tap number {0}")]
    UnknownTap(u32),
    /// This tap's outcome was already reported.
    #[error("tap number {0} was already settled")]
    AlreadySettled(u32),
}

fn text<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

/// The card's button for `action_type`, if it has one.
pub(crate) fn button<'a>(card: &'a MessageRecord, action_type: &str) -> Option<&'a Value> {
    card.action_configs
        .iter()
        .find(|config| text(config, "action_type") == Some(action_type))
}

/// The callback for tap number `number` on `card`, after checking the tap is possible.
pub(crate) fn callback(
    card: &MessageRecord,
    tap: &Tap,
    number: u32,
) -> Result<(CardCallback, String), TapError> {
    match card.buttons {
        CardButtons::Live => {}
        CardButtons::Absent => return Err(TapError::NoButtons),
        gone => return Err(TapError::ButtonsGone(gone)),
    }
    let config = button(card, &tap.action_type).ok_or_else(|| TapError::NoSuchButton {
        action_type: tap.action_type.clone(),
        offered: card
            .action_configs
            .iter()
            .filter_map(|config| text(config, "action_type").map(str::to_owned))
            .collect(),
    })?;
    let action_callback = card.action_callback.clone().unwrap_or(Value::Null);
    let url = text(&action_callback, "action_callback_url").ok_or(TapError::NoCallbackUrl)?;
    let reason = tap.reason.as_deref().filter(|reason| !reason.is_empty());
    if config.get("is_reason_required").and_then(Value::as_bool) == Some(true) && reason.is_none() {
        return Err(TapError::ReasonRequired(tap.action_type.clone()));
    }
    let operator = tap
        .user_id
        .clone()
        .or_else(|| card.user_id.clone())
        .ok_or(TapError::NoOperator)?;

    let mut fields = Map::new();
    fields.insert("action_type".into(), json!(tap.action_type));
    if let Some(context) = action_callback
        .get("action_context")
        .and_then(Value::as_str)
    {
        fields.insert("action_context".into(), json!(context));
    }
    fields.insert("user_id".into(), json!(operator));
    fields.insert("approval_code".into(), json!(tap.approval_code));
    let message_id = match card.message_id.parse::<u64>() {
        Ok(number) => Value::Number(Number::from(number)),
        Err(_) => json!(card.message_id),
    };
    fields.insert("message_id".into(), message_id);
    if let Some(reason) = reason {
        fields.insert("reason".into(), json!(reason));
    }
    if !tap.attachments.is_empty() {
        fields.insert("attachments".into(), json!(tap.attachments));
    }
    if let Some(token) = action_callback
        .get("action_callback_token")
        .and_then(Value::as_str)
    {
        fields.insert("token".into(), json!(token));
    }
    let plaintext = Value::Object(fields).to_string();
    let (body, encrypted) = match text(&action_callback, "action_callback_key") {
        Some(key) => {
            let iv = ids::callback_iv(&card.message_id, number);
            let encrypt = encrypt(key, iv, &plaintext);
            (json!({ "encrypt": encrypt }).to_string(), true)
        }
        None => (plaintext.clone(), false),
    };
    let callback = CardCallback {
        message_id: card.message_id.clone(),
        tap: number,
        url: url.to_owned(),
        plaintext,
        body,
        encrypted,
    };
    Ok((callback, operator))
}

/// `base64(iv || AES-256-CBC(key = SHA-256(action_callback_key), PKCS#7(plaintext)))` (§2.3).
fn encrypt(action_callback_key: &str, iv: [u8; 16], plaintext: &str) -> String {
    let key: [u8; 32] = Sha256::digest(action_callback_key.as_bytes()).into();
    let ciphertext = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_vec::<Pkcs7>(plaintext.as_bytes());
    let mut raw = Vec::with_capacity(iv.len() + ciphertext.len());
    raw.extend_from_slice(&iv);
    raw.extend_from_slice(&ciphertext);
    BASE64.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(hex: &str) -> [u8; 16] {
        let mut iv = [0_u8; 16];
        for (index, byte) in iv.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * index..2 * index + 2], 16).unwrap_or_default();
        }
        iv
    }

    /// Vectors ok-0 and ok-4 of `/work/shared/test-vectors/callback-crypto.json`, cross-checked
    /// with lark-oapi's AESCipher.
    #[test]
    fn encryption_matches_the_shared_test_vectors() {
        let ok0_plaintext = r#"{"action_type":"APPROVE","action_context":"12345","user_id":"b85s39b","approval_code":"A3895051-9B16-4ABA-B785-AD2986177BB1","instance_id":"people_1234","task_id":"step1","reason":"ok","attachments":[{"file_type":"IMAGE","file_name":"1.png","file_size":12345,"url":"https://example.invalid/attachment/413342ae.png"}],"token":"aaaaa"}"#;
        assert_eq!(
            encrypt(
                "kudryavtsev",
                iv("f0862c4759ca9b15561201f52e295c59"),
                ok0_plaintext
            ),
            "8IYsR1nKmxVWEgH1LilcWfSPsdAYYrvXGHHKKLCiOhdXRRr4i33IZjD4XB6ZuV6P2i2xJ2+lwpQdgk2RAFUNq7MGj37ki8KtNTMuTyxtcPPKhGRN2caqbWf0LlJ1ZkW4QSx+zWK+QXJ99hD+nfliDRmAoi5NoctLqyC2BvoWQ2wo6mESAsLE0DFnTF2z6k0ajvoH2Yxmjn63b6df3d2GHbP91BxecgIFNLulhS7izzl3raWFKN+BRbxNbouH0jXJP/6gDrq1fONZ5mJulAoaJlVZgF5P+BTmdFQzUBxp8xk93N6hMDWUgll08/jvK+clp7dZTYy5aG5ZoOp1XzQV5Z/eMjrfYA+mjFNnzaeEVDnoeX/eNrEQaUX/lfaZiGrKMvuCk6A8My+NkktouNRLwNj9OvxwQ33TctCvhClW+m6OFY3RHNm6UvxfKcp1AymtEQNCKOJ/ej6JD5wIsVee+A=="
        );
        assert_eq!(
            encrypt(
                "Test-Key_2026!@#$%^&*()",
                iv("6fee95a9e3756e4384053899b0fc3ee0"),
                "xxxxxxxxxxxxxxx"
            ),
            "b+6VqeN1bkOEBTiZsPw+4LpmB4N25KAISsx0/DyEw3Y="
        );
    }

    #[test]
    fn only_http_200_is_a_successful_callback() {
        assert_eq!(TapOutcome::from_http_status(200), TapOutcome::Succeeded);
        for status in [201, 204, 400, 409, 500] {
            assert_eq!(TapOutcome::from_http_status(status), TapOutcome::Failed);
        }
    }
}
