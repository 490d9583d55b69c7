//! The quick-approval callback (`feishu-api.md` §2.2): the body as posted, its raw fields, the
//! typed decision it carries, and the constant-time check of its `token`.
//!
//! Flow: [`CallbackBody::parse`] → for [`CallbackBody::Encrypted`], decrypt with
//! [`CallbackCipher::decrypt`](crate::crypto::CallbackCipher::decrypt) and
//! [`RawCallback::parse`] the plaintext → [`CallbackToken::verify`] the
//! [`RawCallback::token`] → [`RawCallback::into_decision`].

use std::cell::Cell;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::error::Category;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{MessageId, deserialize_optional_message_id};
use crate::models::ActionType;
use crate::secrets::Secret;

/// A callback request body, told apart in the same pass that parses it.
#[expect(
    clippy::large_enum_variant,
    reason = "one short-lived value per request; boxing would only add an allocation"
)]
pub enum CallbackBody {
    /// `{"encrypt": "…"}`: every field, `token` included, is inside this ciphertext.
    Encrypted(String),
    /// A plaintext callback.
    Plain(RawCallback),
}

impl CallbackBody {
    /// Parses a request body. A body with a non-null `encrypt` is [`CallbackBody::Encrypted`]
    /// (any other top-level field of it is ignored); otherwise it is [`CallbackBody::Plain`].
    pub fn parse(body: &[u8]) -> Result<Self, CallbackError> {
        let fields = parse_fields(serde_json::de::SliceRead::new(body))?;
        Ok(match fields.encrypt {
            Some(ciphertext) => Self::Encrypted(ciphertext),
            None => Self::Plain(fields.raw),
        })
    }
}

impl fmt::Debug for CallbackBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encrypted(_) => f.write_str("Encrypted(<redacted>)"),
            Self::Plain(raw) => f.debug_tuple("Plain").field(raw).finish(),
        }
    }
}

/// The fields of a plaintext (or decrypted) callback, exactly as sent; all optional, unknown
/// fields ignored. `null` means absent; `message_id` also accepts a number, a digit string or `""`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawCallback {
    /// `APPROVE`, `REJECT` or a custom action key.
    pub action_type: Option<String>,
    /// The `action_context` set on the task or bot message, echoed back verbatim.
    pub action_context: Option<String>,
    /// The approver's tenant-scoped `user_id`.
    pub user_id: Option<String>,
    /// The third-party approval definition code.
    pub approval_code: Option<String>,
    /// The bridge's instance id (Approval Center list actions).
    pub instance_id: Option<String>,
    /// The bridge's task id (Approval Center list actions).
    pub task_id: Option<String>,
    /// The bot message the approver acted on (card actions).
    pub message_id: Option<MessageId>,
    /// The bridge's task id when the action came from Approval Center search.
    pub id: Option<String>,
    /// The approver's comment.
    pub reason: Option<String>,
    /// Files uploaded with the comment; empty when absent or `null`.
    pub attachments: Vec<Attachment>,
    /// The `action_callback_token` as presented by the caller.
    pub token: Option<String>,
}

impl RawCallback {
    /// Parses a plaintext callback, e.g. the output of
    /// [`CallbackCipher::decrypt`](crate::crypto::CallbackCipher::decrypt).
    pub fn parse(json: &str) -> Result<Self, CallbackError> {
        parse_fields(serde_json::de::StrRead::new(json)).map(|fields| fields.raw)
    }

    /// The presented token, for [`CallbackToken::verify`].
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The decision this callback carries. `task_id` falls back to `id` (search-originated
    /// actions). `action_type`, `user_id`, `approval_code` and `token` are required, and so is
    /// something naming the task: `task_id`, `id`, or the bot card's `message_id` (card actions
    /// may carry only that). An empty string counts as missing. Empty optional strings become
    /// `None`.
    ///
    /// This checks that a token is present, not that it is right: call
    /// [`CallbackToken::verify`] first.
    pub fn into_decision(self) -> Result<ApprovalDecision, CallbackError> {
        let action = required(self.action_type, "action_type")?;
        let user_id = required(self.user_id, "user_id")?;
        let approval_code = required(self.approval_code, "approval_code")?;
        let task_id = non_empty(self.task_id).or_else(|| non_empty(self.id));
        if task_id.is_none() && self.message_id.is_none() {
            return Err(CallbackError::MissingField("task_id"));
        }
        required(self.token, "token")?;
        Ok(ApprovalDecision {
            approval_code,
            instance_id: non_empty(self.instance_id),
            task_id,
            message_id: self.message_id,
            action: ActionType::from(action),
            user_id,
            reason: non_empty(self.reason),
            action_context: non_empty(self.action_context),
            attachments: self.attachments,
        })
    }
}

impl fmt::Debug for RawCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCallback")
            .field("action_type", &self.action_type)
            .field("action_context", &self.action_context)
            .field("user_id", &self.user_id)
            .field("approval_code", &self.approval_code)
            .field("instance_id", &self.instance_id)
            .field("task_id", &self.task_id)
            .field("message_id", &self.message_id)
            .field("id", &self.id)
            .field("reason", &self.reason)
            .field("attachments", &self.attachments)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl<'de> Deserialize<'de> for RawCallback {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let invalid_field = Cell::new(None);
        deserializer
            .deserialize_map(FieldsVisitor {
                invalid_field: &invalid_field,
            })
            .map(|fields| fields.raw)
    }
}

fn required(value: Option<String>, field: &'static str) -> Result<String, CallbackError> {
    non_empty(value).ok_or(CallbackError::MissingField(field))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

/// An approver's decision on one task, as taken from a callback.
///
/// Also part of the sync job JSON: wire names are the field names, `action` is the
/// `action_type` string, `message_id` a digit string, and `None` / empty fields are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ApprovalDecision {
    /// The third-party approval definition code.
    pub approval_code: String,
    /// The bridge's instance id, when Feishu sent it (list actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The bridge's task id (from `task_id`, or `id` for search actions); `None` when a card
    /// action carried only the card's `message_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The bot message acted on, when the action came from a card.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_optional_message_id"
    )]
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "crate::ids::optional_message_id_schema")
    )]
    pub message_id: Option<MessageId>,
    /// What the approver did.
    pub action: ActionType,
    /// The approver's tenant-scoped `user_id`.
    pub user_id: String,
    /// The approver's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `action_context` echoed back from the task or bot message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_context: Option<String>,
    /// Files uploaded with the comment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file uploaded with the approver's comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Attachment {
    /// Image or other file.
    pub file_type: AttachmentType,
    /// Size in bytes.
    pub file_size: u64,
    /// The file's name.
    pub file_name: String,
    /// Feishu CDN URL of the file.
    pub url: String,
}

string_enum! {
    /// `file_type` of a callback attachment.
    pub enum AttachmentType {
        /// An image.
        Image => "IMAGE",
        /// Any other file.
        Attachments => "ATTACHMENTS",
    }
}

/// The delivery id of a callback whose body — decrypted, when it came encrypted — is
/// `plaintext`: `b:` and the base64url SHA-256 of those bytes. The same body is the same
/// delivery however often it is posted (a replayed capture publishes nothing new), while every
/// genuine tap is a body of its own: cards differ per task version (their `message_id`), and the
/// tasks the bridge pushes carry their version in their `action_context`.
pub fn delivery_id(plaintext: &[u8]) -> String {
    format!("b:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(plaintext)))
}

/// The configured `action_callback_token`, kept only as its SHA-256 digest.
///
/// `Debug` shows nothing of it.
#[derive(Clone)]
pub struct CallbackToken {
    digest: [u8; 32],
}

impl CallbackToken {
    /// The token configured as the definition's or message's `action_callback_token`.
    pub fn new(action_callback_token: &str) -> Self {
        Self {
            digest: Sha256::digest(action_callback_token.as_bytes()).into(),
        }
    }

    /// Whether `presented` is the configured token. Compares SHA-256 digests in constant time,
    /// so neither the content nor the length of the token leaks through timing. An empty
    /// `presented` token never matches.
    pub fn verify(&self, presented: &str) -> bool {
        let digest = Sha256::digest(presented.as_bytes());
        let equal: bool = self.digest.as_slice().ct_eq(digest.as_slice()).into();
        equal & !presented.is_empty()
    }
}

impl From<&Secret> for CallbackToken {
    fn from(action_callback_token: &Secret) -> Self {
        Self::new(action_callback_token.expose())
    }
}

impl fmt::Debug for CallbackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackToken(<redacted>)")
    }
}

/// Why a callback body could not be parsed or turned into a decision.
///
/// Variants name fields, never values, so they are safe to log and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The body is not well-formed JSON.
    #[error("callback body is not JSON")]
    NotJson,
    /// The body is JSON but not an object.
    #[error("callback body is not a JSON object")]
    NotAnObject,
    /// A required field is absent, `null` or empty.
    #[error("callback field `{0}` is missing")]
    MissingField(&'static str),
    /// A field has the wrong type or an invalid value, or appears twice.
    #[error("callback field `{0}` is invalid")]
    InvalidField(&'static str),
}

/// Every top-level field of a callback body: the plaintext fields and the `encrypt` envelope.
#[derive(Default)]
struct BodyFields {
    raw: RawCallback,
    encrypt: Option<String>,
}

/// Parses a whole body in one pass, naming the field behind any invalid value.
fn parse_fields<'de, R: serde_json::de::Read<'de>>(read: R) -> Result<BodyFields, CallbackError> {
    let invalid_field = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::new(read);
    let fields = deserializer
        .deserialize_map(FieldsVisitor {
            invalid_field: &invalid_field,
        })
        .and_then(|fields| deserializer.end().map(|()| fields));
    fields.map_err(|error| match error.classify() {
        Category::Data => invalid_field
            .get()
            .map_or(CallbackError::NotAnObject, CallbackError::InvalidField),
        Category::Syntax | Category::Eof | Category::Io => CallbackError::NotJson,
    })
}

/// The known top-level keys; the discriminant doubles as the bit for duplicate detection.
#[derive(Clone, Copy, Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    ActionType,
    ActionContext,
    UserId,
    ApprovalCode,
    InstanceId,
    TaskId,
    MessageId,
    Id,
    Reason,
    Attachments,
    Token,
    Encrypt,
    #[serde(other)]
    Unknown,
}

/// `Option<MessageId>` with the callback's lenient rules, as a standalone value type.
struct OptionalMessageId(Option<MessageId>);

impl<'de> Deserialize<'de> for OptionalMessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_optional_message_id(deserializer).map(Self)
    }
}

/// Reads a body object field by field; records the name of a field whose value fails (wrong
/// type, invalid value, duplicate key) in `invalid_field`, since serde errors carry only text.
struct FieldsVisitor<'a> {
    invalid_field: &'a Cell<Option<&'static str>>,
}

impl FieldsVisitor<'_> {
    /// Reads the value of `key` (named `name`), rejecting a key seen before.
    fn value<'de, A, T>(
        &self,
        map: &mut A,
        seen: &mut u16,
        key: Key,
        name: &'static str,
    ) -> Result<T, A::Error>
    where
        A: MapAccess<'de>,
        T: Deserialize<'de>,
    {
        let bit = 1 << key as u16;
        if *seen & bit != 0 {
            self.invalid_field.set(Some(name));
            return Err(de::Error::duplicate_field(name));
        }
        *seen |= bit;
        map.next_value()
            .inspect_err(|_| self.invalid_field.set(Some(name)))
    }
}

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = BodyFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a callback JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BodyFields, A::Error> {
        let mut fields = BodyFields::default();
        let mut seen = 0;
        let seen = &mut seen;
        while let Some(key) = map.next_key::<Key>()? {
            let raw = &mut fields.raw;
            match key {
                Key::ActionType => {
                    raw.action_type = self.value(&mut map, seen, key, "action_type")?;
                }
                Key::ActionContext => {
                    raw.action_context = self.value(&mut map, seen, key, "action_context")?;
                }
                Key::UserId => raw.user_id = self.value(&mut map, seen, key, "user_id")?,
                Key::ApprovalCode => {
                    raw.approval_code = self.value(&mut map, seen, key, "approval_code")?;
                }
                Key::InstanceId => {
                    raw.instance_id = self.value(&mut map, seen, key, "instance_id")?;
                }
                Key::TaskId => raw.task_id = self.value(&mut map, seen, key, "task_id")?,
                Key::MessageId => {
                    let OptionalMessageId(message_id) =
                        self.value(&mut map, seen, key, "message_id")?;
                    raw.message_id = message_id;
                }
                Key::Id => raw.id = self.value(&mut map, seen, key, "id")?,
                Key::Reason => raw.reason = self.value(&mut map, seen, key, "reason")?,
                Key::Attachments => {
                    let attachments: Option<Vec<Attachment>> =
                        self.value(&mut map, seen, key, "attachments")?;
                    raw.attachments = attachments.unwrap_or_default();
                }
                Key::Token => raw.token = self.value(&mut map, seen, key, "token")?,
                Key::Encrypt => fields.encrypt = self.value(&mut map, seen, key, "encrypt")?,
                Key::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_one_delivery_however_often_it_is_posted() {
        let body = br#"{"action_type":"APPROVE","task_id":"t1","token":"aaaaa"}"#;
        let id = delivery_id(body);
        assert_eq!(id, delivery_id(body));
        assert!(id.starts_with("b:") && id.len() == 2 + 43, "{id}");
        assert_ne!(
            id,
            delivery_id(br#"{"action_type":"REJECT","task_id":"t1","token":"aaaaa"}"#)
        );
        // The id says nothing of the token or the fields.
        assert!(!id.contains("aaaaa") && !id.contains("APPROVE"));
    }
}
