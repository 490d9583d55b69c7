//! `tenant_access_token/internal` and the bearer check on every other API (`feishu-api.md` §1).
//!
//! While the newest token has at least 30 minutes left, the endpoint returns it again with a
//! smaller `expire`; after that it issues a new one, and older tokens stay valid until they expire.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ids;
use crate::reply::{ApiError, Reply};

/// Below this much remaining lifetime the token endpoint issues a new token.
const REUSE_MIN_REMAINING_MS: i64 = 30 * 60 * 1000;

/// The app the simulator accepts on the token endpoint.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AppCredentials {
    /// `cli_…`
    pub app_id: String,
    /// The app secret.
    pub app_secret: String,
}

/// One issued token.
#[derive(Debug, Clone)]
struct IssuedToken {
    token: String,
    issued_at_ms: i64,
    expires_at_ms: i64,
}

/// What `/_sim/state` shows about a token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// When it was issued (simulator clock, Unix ms).
    pub issued_at_ms: i64,
    /// When it stops being accepted.
    pub expires_at_ms: i64,
    /// Whether it is accepted right now.
    pub valid: bool,
}

/// Issued tenant tokens.
#[derive(Debug)]
pub(crate) struct TokenStore {
    issued: Vec<IssuedToken>,
    lifetime_ms: i64,
}

impl TokenStore {
    /// No tokens yet; new ones live `lifetime_ms`.
    pub(crate) fn new(lifetime_ms: i64) -> Self {
        Self {
            issued: Vec::new(),
            lifetime_ms,
        }
    }

    /// Answers `POST /open-apis/auth/v3/tenant_access_token/internal`.
    pub(crate) fn issue(
        &mut self,
        body: Option<&Map<String, Value>>,
        app: &AppCredentials,
        now_ms: i64,
    ) -> Result<Reply, ApiError> {
        let field = |name: &str| {
            body.and_then(|body| body.get(name))
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
        };
        let (Some(app_id), Some(app_secret)) = (field("app_id"), field("app_secret")) else {
            return Err(ApiError::InvalidAppParam);
        };
        if app_id != app.app_id {
            return Err(ApiError::InvalidAppParam);
        }
        if app_secret != app.app_secret {
            return Err(ApiError::WrongAppSecret);
        }
        let reusable = self
            .issued
            .last()
            .filter(|token| token.expires_at_ms - now_ms >= REUSE_MIN_REMAINING_MS);
        let token = match reusable {
            Some(token) => token.clone(),
            None => {
                let token = IssuedToken {
                    token: ids::tenant_token(self.issued.len() as u64 + 1),
                    issued_at_ms: now_ms,
                    expires_at_ms: now_ms + self.lifetime_ms,
                };
                self.issued.push(token.clone());
                token
            }
        };
        let mut fields = Map::new();
        fields.insert("tenant_access_token".into(), json!(token.token));
        fields.insert(
            "expire".into(),
            json!((token.expires_at_ms - now_ms) / 1000),
        );
        Ok(Reply::flat_success("ok", fields))
    }

    /// Checks an `Authorization` header value: `Bearer t-…` naming a live token.
    pub(crate) fn authorize(&self, header: Option<&str>, now_ms: i64) -> Result<(), ApiError> {
        let token = header
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::MissingToken)?;
        if !token.starts_with("t-") && !token.starts_with("u-") {
            return Err(ApiError::MalformedToken);
        }
        let live = self
            .issued
            .iter()
            .any(|issued| issued.token == token && now_ms < issued.expires_at_ms);
        if live {
            Ok(())
        } else {
            Err(ApiError::InvalidToken { http_ok: false })
        }
    }

    /// Ends every issued token now (expiry, or Feishu revoking them).
    pub(crate) fn expire_all(&mut self, now_ms: i64) {
        for token in &mut self.issued {
            token.expires_at_ms = token.expires_at_ms.min(now_ms);
        }
    }

    /// Every issued token's lifetime, oldest first.
    pub(crate) fn snapshot(&self, now_ms: i64) -> Vec<TokenInfo> {
        self.issued
            .iter()
            .map(|token| TokenInfo {
                issued_at_ms: token.issued_at_ms,
                expires_at_ms: token.expires_at_ms,
                valid: now_ms < token.expires_at_ms,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppCredentials {
        AppCredentials {
            app_id: "cli_a".into(),
            app_secret: "s".into(),
        }
    }

    fn credentials(app_id: &str, app_secret: &str) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("app_id".into(), json!(app_id));
        body.insert("app_secret".into(), json!(app_secret));
        body
    }

    #[test]
    fn rejects_wrong_credentials() {
        let mut store = TokenStore::new(7_200_000);
        let wrong_secret = store.issue(Some(&credentials("cli_a", "x")), &app(), 0);
        assert_eq!(wrong_secret.err(), Some(ApiError::WrongAppSecret));
        let unknown_app = store.issue(Some(&credentials("cli_b", "s")), &app(), 0);
        assert_eq!(unknown_app.err(), Some(ApiError::InvalidAppParam));
        assert_eq!(
            store.issue(None, &app(), 0).err(),
            Some(ApiError::InvalidAppParam)
        );
    }

    #[test]
    fn bearer_header_forms() {
        let mut store = TokenStore::new(7_200_000);
        assert!(
            store
                .issue(Some(&credentials("cli_a", "s")), &app(), 0)
                .is_ok()
        );
        let token = ids::tenant_token(1);
        assert_eq!(store.authorize(Some(&format!("Bearer {token}")), 1), Ok(()));
        assert_eq!(store.authorize(None, 1), Err(ApiError::MissingToken));
        assert_eq!(
            store.authorize(Some(&token), 1),
            Err(ApiError::MissingToken)
        );
        assert_eq!(
            store.authorize(Some("Bearer "), 1),
            Err(ApiError::MissingToken)
        );
        assert_eq!(
            store.authorize(Some("Bearer abc"), 1),
            Err(ApiError::MalformedToken)
        );
        assert_eq!(
            store.authorize(Some("Bearer t-unknown"), 1),
            Err(ApiError::InvalidToken { http_ok: false })
        );
        assert_eq!(
            store.authorize(Some(&format!("Bearer {token}")), 7_200_000),
            Err(ApiError::InvalidToken { http_ok: false })
        );
    }
}
