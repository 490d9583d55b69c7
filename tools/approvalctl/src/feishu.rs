//! The Feishu client and app credentials the Feishu-calling commands share.

use std::sync::Arc;
use std::time::Duration;

use feishu_bridge::client::{ClientConfig, FeishuClient};
use feishu_bridge::secrets::{CredentialSource, Credentials};
use tokio::time::Instant;

use crate::cli::FeishuArgs;
use crate::error::CliError;

/// Time budget of one command's Feishu call, retries and token refresh included.
const CALL_BUDGET: Duration = Duration::from_secs(30);

/// The app's credentials, and a client that obtains tenant tokens with them.
pub struct Feishu {
    /// The Feishu client.
    pub client: FeishuClient,
    /// The credentials as loaded (callback token and key are sent in definitions and cards).
    pub credentials: Arc<Credentials>,
}

impl Feishu {
    /// Loads the credentials from the environment (`CredentialSource::from_env`) and builds a
    /// client for `args`' base URL, else its domain.
    pub async fn connect(args: &FeishuArgs) -> Result<Self, CliError> {
        let source = Arc::new(
            CredentialSource::from_env()
                .await
                .map_err(CliError::Credentials)?,
        );
        let credentials = source.credentials().await.map_err(CliError::Credentials)?;
        let config = match &args.base_url {
            Some(base_url) => ClientConfig::for_base_url(base_url.as_str()),
            None => ClientConfig::for_domain(args.domain.into()),
        };
        let client = FeishuClient::new(config, source).map_err(CliError::ClientConfig)?;
        Ok(Self {
            client,
            credentials,
        })
    }
}

/// The deadline of a Feishu call started now.
pub fn deadline() -> Instant {
    Instant::now() + CALL_BUDGET
}
