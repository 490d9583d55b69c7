//! The Feishu APIs the simulator serves: their paths, and which one a request calls.

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
    Api(ApiRoute),
}

/// A known Feishu API that needs a tenant token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiRoute {
    /// Create/update a definition.
    ExternalApprovals,
    /// Sync an instance.
    ExternalInstances,
    /// Check instance versions.
    CheckInstances,
    /// Send a bot card.
    SendMessage,
    /// Update a bot card's status.
    UpdateMessage,
}

impl Route {
    /// The API at exactly `path`, if it is one.
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            TOKEN_PATH => Self::TenantToken,
            EXTERNAL_APPROVALS_PATH => Self::Api(ApiRoute::ExternalApprovals),
            EXTERNAL_INSTANCES_PATH => Self::Api(ApiRoute::ExternalInstances),
            CHECK_INSTANCES_PATH => Self::Api(ApiRoute::CheckInstances),
            SEND_MESSAGE_PATH => Self::Api(ApiRoute::SendMessage),
            UPDATE_MESSAGE_PATH => Self::Api(ApiRoute::UpdateMessage),
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
            Some(Route::Api(ApiRoute::CheckInstances))
        );
        assert_eq!(
            Route::from_path("/open-apis/approval/v4/external_instances/"),
            None
        );
        assert_eq!(Route::from_path("/approval/openapi/v1/message/send"), None);
    }
}
