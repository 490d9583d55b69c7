//! Feishu / Lark Open Platform wire models, with exact wire names (see `feishu-api.md`).

#[macro_use]
mod string_enum;

pub mod action;
pub mod auth;
pub mod check;
pub mod definition;
pub mod endpoint;
pub mod envelope;
pub mod i18n;
pub mod instance;
pub mod message;
mod optional_enum;
pub mod time;

pub use action::ActionType;
pub use check::{CheckInstancesRequest, CheckInstancesResponse, InstanceVersion, TaskVersion};
pub use definition::{
    CreateApprovalResponse, ExternalApproval, ExternalSettings, Viewer, ViewerType,
};
pub use endpoint::CallbackEndpoint;
pub use i18n::{I18nResource, I18nText, Locale, MessageI18nResource};
pub use instance::{
    ActionConfig, CcItem, DisplayMethod, ExternalInstance, ExternalTask, FormItem, GenerateType,
    InstanceError, InstanceStatus, Links, ReadStatus, SyncInstanceResponse, TaskStatus, UpdateMode,
};
pub use message::{
    ActionCallback, CardStatus, MessageAction, MessageActionConfig, MessageContent,
    SendMessageRequest, SendMessageResponse, Summary, TemplateId, UpdateMessageRequest,
    UpdateMessageResponse,
};
pub use time::UnixMillis;
