//! App credentials and callback secrets: where they come from and how they stay out of logs.

use std::fmt;
use std::sync::Arc;

/// A secret string whose `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the bridge needs from the app's secret: the JSON object
/// `{"app_id", "app_secret", "callback_token", "callback_key"}` (`callback_key` optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The app's ID (`cli_…`); not secret.
    pub app_id: String,
    /// The app secret, used only to obtain tenant tokens.
    pub app_secret: Secret,
    /// The definition's `action_callback_token`.
    pub callback_token: Secret,
    /// The definition's `action_callback_key`; `None` means callbacks arrive in plaintext.
    pub callback_key: Option<Secret>,
}

/// Where credentials come from.
#[derive(Debug)]
pub enum CredentialSource {
    /// Credentials known up front (environment variables, tests).
    Fixed(Arc<Credentials>),
}

impl CredentialSource {
    /// A source that always yields these credentials.
    pub fn fixed(credentials: Credentials) -> Self {
        Self::Fixed(Arc::new(credentials))
    }

    /// The current credentials.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, SecretError> {
        match self {
            Self::Fixed(credentials) => Ok(Arc::clone(credentials)),
        }
    }
}

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {}
