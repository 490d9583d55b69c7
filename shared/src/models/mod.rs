//! Feishu / Lark Open Platform wire models, with exact wire names (see `feishu-api.md`).

#[macro_use]
mod string_enum;

pub mod action;
pub mod auth;
pub mod check;
pub mod definition;
pub mod envelope;
pub mod i18n;
pub mod instance;
pub mod message;
pub mod time;

pub use action::ActionType;
