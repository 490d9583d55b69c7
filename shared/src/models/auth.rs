//! `POST /open-apis/auth/v3/tenant_access_token/internal` (`feishu-api.md` §1): the self-built
//! app's tenant token. Unlike every other API its response is flat, not wrapped in `data`.

use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

/// The token request body: the app's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTokenRequest {
    /// The app's ID (`cli_…`).
    pub app_id: String,
    /// The app secret; `Debug` redacts it.
    #[serde(with = "secret_string")]
    pub app_secret: Secret,
}

/// The token response: `{"code", "msg", "tenant_access_token", "expire"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTokenResponse {
    /// `0` on success.
    pub code: i64,
    /// Feishu's message (`"ok"` on success).
    #[serde(default)]
    pub msg: String,
    /// The token (`t-…`), present on success; `Debug` redacts it.
    #[serde(
        default,
        with = "optional_secret_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant_access_token: Option<Secret>,
    /// Remaining validity of the token in seconds (at most 7200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
}

/// Serde for a [`Secret`] carried as a plain JSON string.
mod secret_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secrets::Secret;

    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// Serde for an optional [`Secret`] carried as a JSON string or `null`.
mod optional_secret_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secrets::Secret;

    pub fn serialize<S: Serializer>(
        secret: &Option<Secret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => serializer.serialize_some(secret.expose()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(Secret::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_serializes_the_secret_but_debug_redacts_it() {
        let request = TenantTokenRequest {
            app_id: "cli_a1b2".to_owned(),
            app_secret: Secret::new("very-secret-value"),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"app_id": "cli_a1b2", "app_secret": "very-secret-value"})
        );
        let debug = format!("{request:?}");
        assert!(debug.contains("cli_a1b2"));
        assert!(!debug.contains("very-secret-value"));
    }

    #[test]
    fn response_is_flat_and_debug_redacts_the_token() {
        let body =
            json!({"code": 0, "msg": "ok", "tenant_access_token": "t-abc123", "expire": 7200});
        let response: TenantTokenResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(response.expire, Some(7200));
        assert_eq!(
            response.tenant_access_token.as_ref().map(Secret::expose),
            Some("t-abc123")
        );
        assert!(!format!("{response:?}").contains("t-abc123"));
        assert_eq!(serde_json::to_value(&response).unwrap(), body);
    }

    #[test]
    fn failure_response_has_no_token() {
        let body = json!({"code": 10014, "msg": "app secret invalid"});
        let response: TenantTokenResponse = serde_json::from_value(body).unwrap();
        assert_eq!(response.code, 10014);
        assert_eq!(response.tenant_access_token, None);
        assert_eq!(response.expire, None);
    }
}
