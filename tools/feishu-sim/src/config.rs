//! How to run a simulator: the app it accepts, token lifetime, listen address and settings.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::settings::SimSettings;

/// App id accepted when none is configured.
pub const DEFAULT_APP_ID: &str = "cli_feishusim000001";
/// App secret accepted when none is configured (a simulator-only value).
pub const DEFAULT_APP_SECRET: &str = "feishu-sim-secret";
/// Feishu's tenant token lifetime.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(7200);

/// How to run a simulator.
#[derive(Clone)]
pub struct SimConfig {
    /// The app id the token endpoint accepts.
    pub app_id: String,
    /// The app secret the token endpoint accepts.
    pub app_secret: String,
    /// Lifetime of issued tenant tokens. Below 30 minutes, every token request issues a new one.
    pub token_lifetime: Duration,
    /// Address to listen on; port 0 picks a free port (unused in process).
    pub bind: SocketAddr,
    /// Behaviour choices at start (changeable at run time).
    pub settings: SimSettings,
}

impl Default for SimConfig {
    /// The default app on `127.0.0.1:0` with 2-hour tokens and default settings.
    fn default() -> Self {
        Self {
            app_id: DEFAULT_APP_ID.to_owned(),
            app_secret: DEFAULT_APP_SECRET.to_owned(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            settings: SimSettings::default(),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("token_lifetime", &self.token_lifetime)
            .field("bind", &self.bind)
            .field("settings", &self.settings)
            .finish()
    }
}
