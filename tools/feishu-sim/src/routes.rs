//! The Feishu APIs the simulator serves: their paths, and which one a request calls.

use serde::{Deserialize, Serialize};

/// `tenant_access_token` for self-built apps.
pub(crate) const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
const EXTERNAL_APPROVALS_PATH: &str = "/open-apis/approval/v4/external_approvals";
const EXTERNAL_INSTANCES_PATH: &str = "/open-apis/approval/v4/external_instances";
const CHECK_INSTANCES_PATH: &str = "/open-apis/approval/v4/external_instances/check";
const SEND_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/send";
const UPDATE_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/update";

/// A known Feishu API (all POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The token endpoint (no bearer token needed).
    TenantToken,
    /// Every other API (bearer token required).
    Api(FeishuApi),
}

/// A simulated Feishu API that needs a tenant token (each has its own rate windows); named as
/// in `/_sim/rate-counters` and the `rate_limits` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeishuApi {
    /// `approval/v4/external_approvals`: create or update a definition.
    ExternalApprovals,
    /// `approval/v4/external_instances`: sync an instance.
    ExternalInstances,
    /// `approval/v4/external_instances/check`: check instance versions.
    ExternalInstancesCheck,
    /// `approval/v1/message/send`: send a bot card.
    MessageSend,
    /// `approval/v1/message/update`: update a bot card's status.
    MessageUpdate,
}

impl Route {
    /// The API at exactly `path`, if it is one.
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            TOKEN_PATH => Self::TenantToken,
            EXTERNAL_APPROVALS_PATH => Self::Api(FeishuApi::ExternalApprovals),
            EXTERNAL_INSTANCES_PATH => Self::Api(FeishuApi::ExternalInstances),
            CHECK_INSTANCES_PATH => Self::Api(FeishuApi::ExternalInstancesCheck),
            SEND_MESSAGE_PATH => Self::Api(FeishuApi::MessageSend),
            UPDATE_MESSAGE_PATH => Self::Api(FeishuApi::MessageUpdate),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_exact_paths_only() {
        assert_eq!(Route::from_path(TOKEN_PATH), Some(Route::TenantToken));
        assert_eq!(
            Route::from_path(CHECK_INSTANCES_PATH),
            Some(Route::Api(FeishuApi::ExternalInstancesCheck))
        );
        assert_eq!(
            Route::from_path("/open-apis/approval/v4/external_instances/"),
            None
        );
        assert_eq!(Route::from_path("/approval/openapi/v1/message/send"), None);
    }
}
