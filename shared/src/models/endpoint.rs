//! Where Feishu posts quick-approval callbacks: one shape, used by approval definitions
//! (`external`) and by bot cards (`action_callback`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

/// The callback URL, the token Feishu echoes in every callback, and the key that turns on
/// callback encryption. Flattened into its parent on the wire. `Debug` redacts the token and key.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackEndpoint {
    /// Where Feishu posts quick-approval callbacks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_callback_url: Option<String>,
    /// Secret echoed in the callback's `token`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_callback_token: Option<String>,
    /// Secret that turns on callback encryption.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_callback_key: Option<String>,
}

impl CallbackEndpoint {
    /// The endpoint at `url`, authenticated with `token` and, when given, encrypted with `key`.
    pub fn new(url: impl Into<String>, token: &Secret, key: Option<&Secret>) -> Self {
        Self {
            action_callback_url: Some(url.into()),
            action_callback_token: Some(token.expose().to_owned()),
            action_callback_key: key.map(|key| key.expose().to_owned()),
        }
    }
}

impl fmt::Debug for CallbackEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "[redacted]");
        f.debug_struct("CallbackEndpoint")
            .field("action_callback_url", &self.action_callback_url)
            .field(
                "action_callback_token",
                &redacted(&self.action_callback_token),
            )
            .field("action_callback_key", &redacted(&self.action_callback_key))
            .finish()
    }
}
