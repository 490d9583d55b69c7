//! How a [`FeishuClient`](super::FeishuClient) is configured, and the checks a configuration
//! must pass before a client is built.

use std::time::Duration;

/// Feishu hands out the same tenant token again while 30 minutes or more of its life remain
/// (`feishu-api.md` §1), so a refresh margin this large or larger would refresh in vain.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(30 * 60);

/// Which Open Platform deployment the app lives on. Apps, tenants and tokens are separate per
/// deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeishuDomain {
    /// Feishu (mainland China): `https://open.feishu.cn`.
    Feishu,
    /// Lark (international): `https://open.larksuite.com`.
    Lark,
}

impl FeishuDomain {
    /// The OpenAPI base URL of this deployment.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Feishu => "https://open.feishu.cn",
            Self::Lark => "https://open.larksuite.com",
        }
    }

    /// The deployment named `feishu` or `lark` (any case).
    pub fn parse(name: &str) -> Result<Self, UnknownDomain> {
        if name.eq_ignore_ascii_case("feishu") {
            Ok(Self::Feishu)
        } else if name.eq_ignore_ascii_case("lark") {
            Ok(Self::Lark)
        } else {
            Err(UnknownDomain)
        }
    }
}

/// Environment variable with any OpenAPI base URL (a proxy, the simulator); wins over
/// [`FEISHU_DOMAIN`].
pub const FEISHU_BASE_URL: &str = "FEISHU_BASE_URL";

/// Environment variable naming the deployment: `feishu` (the default) or `lark`.
pub const FEISHU_DOMAIN: &str = "FEISHU_DOMAIN";

/// A deployment name other than `feishu` or `lark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{FEISHU_DOMAIN} must be `feishu` or `lark`")]
pub struct UnknownDomain;

/// How failed calls are retried within one call's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, counting the first (at least 1). The single retry after a rejected
    /// tenant token comes on top.
    pub max_attempts: u32,
    /// Backoff before the first retry; it doubles with every further retry.
    pub base_backoff: Duration,
    /// Upper bound of one backoff, before jitter.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// How fast one client (and its clones) may call each Feishu API. Feishu allows 50 requests a
/// second per API, app and tenant (`feishu-api.md` §0), shared by every container of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Sustained requests per second to one API path (at least 1).
    pub requests_per_second: u32,
    /// Requests to one API path that may start at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl Default for Pacing {
    /// 20 requests a second per API in bursts of 10: at most 30 in any one second, comfortably
    /// under Feishu's 50 even with a second container calling the same API.
    fn default() -> Self {
        Self {
            requests_per_second: 20,
            burst: 10,
        }
    }
}

/// Everything a [`FeishuClient`](super::FeishuClient) needs besides credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// OpenAPI base URL without a trailing path, e.g. `https://open.feishu.cn`.
    pub base_url: String,
    /// Upper bound of one HTTP request (connect, send, read the response).
    pub request_timeout: Duration,
    /// How long before its expiry a cached tenant token is refreshed; below
    /// [`MAX_REFRESH_MARGIN`].
    pub refresh_margin: Duration,
    /// Retries of transient failures and rate limits.
    pub retry: RetryPolicy,
    /// Per-API pacing of requests (the tenant token endpoint is not paced: its refresh is
    /// single-flight already).
    pub pacing: Pacing,
}

impl ClientConfig {
    /// Defaults for a deployment: 10 s per request, refresh 10 min before expiry, default retries
    /// and pacing.
    pub fn for_domain(domain: FeishuDomain) -> Self {
        Self::for_base_url(domain.base_url())
    }

    /// Defaults for any base URL (a proxy, a simulator, a test server).
    pub fn for_base_url(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            request_timeout: Duration::from_secs(10),
            refresh_margin: Duration::from_secs(10 * 60),
            retry: RetryPolicy::default(),
            pacing: Pacing::default(),
        }
    }

    /// Defaults for the host chosen by [`FEISHU_BASE_URL`], else [`FEISHU_DOMAIN`], else Feishu,
    /// reading variables through `lookup` (name → value; blank counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, UnknownDomain> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if let Some(base_url) = var(FEISHU_BASE_URL) {
            return Ok(Self::for_base_url(base_url.trim()));
        }
        let domain = match var(FEISHU_DOMAIN) {
            Some(name) => FeishuDomain::parse(name.trim())?,
            None => FeishuDomain::Feishu,
        };
        Ok(Self::for_domain(domain))
    }

    /// Checks the configuration and returns the base URL in canonical form (no trailing `/`).
    pub(super) fn validate(&self) -> Result<String, ClientConfigError> {
        if self.refresh_margin >= MAX_REFRESH_MARGIN {
            return Err(ClientConfigError::RefreshMarginTooLarge(
                self.refresh_margin,
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(ClientConfigError::ZeroRequestTimeout);
        }
        if self.retry.max_attempts == 0 {
            return Err(ClientConfigError::ZeroAttempts);
        }
        if self.retry.base_backoff.is_zero() {
            return Err(ClientConfigError::ZeroBackoff);
        }
        if self.retry.base_backoff > self.retry.max_backoff {
            return Err(ClientConfigError::BackoffBoundsInverted);
        }
        if self.pacing.requests_per_second == 0 || self.pacing.burst == 0 {
            return Err(ClientConfigError::ZeroPacing);
        }
        let invalid = || ClientConfigError::InvalidBaseUrl(self.base_url.clone());
        let url = reqwest::Url::parse(&self.base_url).map_err(|_| invalid())?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !usable {
            return Err(invalid());
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }
}

/// Why a [`ClientConfig`] was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    /// The refresh margin is 30 minutes or more.
    #[error("token refresh margin {0:?} must be below 30 minutes")]
    RefreshMarginTooLarge(Duration),
    /// The request timeout is zero.
    #[error("request timeout must be above zero")]
    ZeroRequestTimeout,
    /// `max_attempts` is zero.
    #[error("retry policy must allow at least one attempt")]
    ZeroAttempts,
    /// `base_backoff` is zero: retries would hammer a failing or throttling Feishu.
    #[error("retry policy base backoff must be above zero")]
    ZeroBackoff,
    /// `base_backoff` exceeds `max_backoff`.
    #[error("retry policy base backoff exceeds its max backoff")]
    BackoffBoundsInverted,
    /// The pacing allows no request at all (`requests_per_second` or `burst` is zero).
    #[error("pacing must allow at least one request a second and a burst of one")]
    ZeroPacing,
    /// The base URL is not an absolute http(s) URL without query, fragment or user info.
    #[error("base URL {0:?} is not an absolute http(s) URL")]
    InvalidBaseUrl(String),
    /// The HTTP client could not be built (e.g. the TLS backend failed to initialise).
    #[error("could not build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_vars(vars: &[(&str, &str)]) -> Result<ClientConfig, UnknownDomain> {
        ClientConfig::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn the_environment_chooses_the_host() {
        assert_eq!(from_vars(&[]).unwrap().base_url, "https://open.feishu.cn");
        assert_eq!(
            from_vars(&[(FEISHU_DOMAIN, "Lark")]).unwrap().base_url,
            "https://open.larksuite.com"
        );
        assert_eq!(
            from_vars(&[
                (FEISHU_DOMAIN, "lark"),
                (FEISHU_BASE_URL, "http://127.0.0.1:8099")
            ])
            .unwrap()
            .base_url,
            "http://127.0.0.1:8099"
        );
        assert_eq!(
            from_vars(&[(FEISHU_DOMAIN, " "), (FEISHU_BASE_URL, "")])
                .unwrap()
                .base_url,
            "https://open.feishu.cn"
        );
        assert_eq!(
            from_vars(&[(FEISHU_DOMAIN, "larksuite")]),
            Err(UnknownDomain)
        );
    }

    #[test]
    fn domains_have_their_documented_hosts() {
        let feishu = ClientConfig::for_domain(FeishuDomain::Feishu);
        assert_eq!(feishu.validate().unwrap(), "https://open.feishu.cn");
        let lark = ClientConfig::for_domain(FeishuDomain::Lark);
        assert_eq!(lark.validate().unwrap(), "https://open.larksuite.com");
        assert_eq!(feishu.refresh_margin, Duration::from_secs(600));
    }

    #[test]
    fn refresh_margin_must_stay_below_thirty_minutes() {
        let mut config = ClientConfig::for_domain(FeishuDomain::Feishu);
        config.refresh_margin = MAX_REFRESH_MARGIN;
        assert!(matches!(
            config.validate(),
            Err(ClientConfigError::RefreshMarginTooLarge(_))
        ));
        config.refresh_margin = MAX_REFRESH_MARGIN - Duration::from_secs(1);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn base_url_is_canonicalised_or_rejected() {
        let config = ClientConfig::for_base_url("http://127.0.0.1:8080/");
        assert_eq!(config.validate().unwrap(), "http://127.0.0.1:8080");
        for bad in [
            "open.feishu.cn",
            "ftp://open.feishu.cn",
            "https://open.feishu.cn/?a=b",
            "",
        ] {
            let config = ClientConfig::for_base_url(bad);
            assert!(
                matches!(config.validate(), Err(ClientConfigError::InvalidBaseUrl(_))),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn retry_policy_is_checked() {
        let mut config = ClientConfig::for_domain(FeishuDomain::Lark);
        config.retry.max_attempts = 0;
        assert!(matches!(
            config.validate(),
            Err(ClientConfigError::ZeroAttempts)
        ));
        config.retry = RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
        };
        assert!(matches!(
            config.validate(),
            Err(ClientConfigError::BackoffBoundsInverted)
        ));
        config.retry.base_backoff = Duration::ZERO;
        assert!(matches!(
            config.validate(),
            Err(ClientConfigError::ZeroBackoff)
        ));
        config.retry = RetryPolicy::default();
        config.request_timeout = Duration::ZERO;
        assert!(matches!(
            config.validate(),
            Err(ClientConfigError::ZeroRequestTimeout)
        ));
    }

    #[test]
    fn pacing_must_allow_requests() {
        let mut config = ClientConfig::for_domain(FeishuDomain::Feishu);
        assert!(config.pacing.requests_per_second + config.pacing.burst < 50);
        for pacing in [
            Pacing {
                requests_per_second: 0,
                burst: 1,
            },
            Pacing {
                requests_per_second: 1,
                burst: 0,
            },
        ] {
            config.pacing = pacing;
            assert!(matches!(
                config.validate(),
                Err(ClientConfigError::ZeroPacing)
            ));
        }
    }
}
