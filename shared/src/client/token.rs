//! The tenant token cache: one token per client, refreshed `margin` before it expires, with at
//! most one refresh in flight however many callers need a token at once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::FeishuError;
use crate::secrets::Secret;

/// The longest lifetime Feishu gives a tenant token (`feishu-api.md` §1). A larger `expire` is
/// clamped, so a misbehaving server cannot make a token live forever.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// A token fresh from the token endpoint.
pub(super) struct IssuedToken {
    /// The `t-…` token.
    pub token: Secret,
    /// The `expire` Feishu sent: remaining validity.
    pub expires_in: Duration,
}

/// The cached token, when to replace it and when it stops working.
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
    expires_at: Instant,
}

/// Caches the tenant token. The lock is held across a refresh, so concurrent callers on a cold
/// or stale cache wait for the one refresh in flight and then share its token.
pub(super) struct TokenCache {
    margin: Duration,
    slot: Mutex<Option<CachedToken>>,
}

impl TokenCache {
    /// An empty cache that refreshes `margin` before expiry.
    pub fn new(margin: Duration) -> Self {
        Self {
            margin,
            slot: Mutex::new(None),
        }
    }

    /// The cached token while it is fresh, else the token `refresh` obtains (which is then
    /// cached). If the refresh fails while the cached token is within its margin but not yet
    /// expired, that token is still used.
    pub async fn get_or_refresh<F, Fut>(&self, refresh: F) -> Result<Secret, FeishuError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, FeishuError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let requested_at = Instant::now();
        let issued = match refresh().await {
            Ok(issued) => issued,
            Err(error) => {
                return match slot.as_ref() {
                    Some(cached) if Instant::now() < cached.expires_at => {
                        tracing::warn!(%error, "tenant token refresh failed; using the current token until it expires");
                        Ok(cached.token.clone())
                    }
                    _ => {
                        *slot = None;
                        Err(error)
                    }
                };
            }
        };
        let lifetime = issued.expires_in.min(MAX_TOKEN_LIFETIME);
        tracing::debug!(
            expires_in_s = lifetime.as_secs(),
            "cached a new Feishu tenant token"
        );
        *slot = Some(CachedToken {
            token: issued.token.clone(),
            refresh_at: requested_at + lifetime.saturating_sub(self.margin),
            expires_at: requested_at + lifetime,
        });
        Ok(issued.token)
    }

    /// Drops the cached token if it is `rejected`. A token another caller has refreshed in the
    /// meantime stays.
    pub async fn evict(&self, rejected: &Secret) {
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|cached| cached.token == *rejected)
        {
            tracing::debug!("evicted the rejected Feishu tenant token");
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn issued(token: &str, expires_in_s: u64) -> Result<IssuedToken, FeishuError> {
        Ok(IssuedToken {
            token: Secret::new(token),
            expires_in: Duration::from_secs(expires_in_s),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_once_the_margin_is_reached() {
        let cache = TokenCache::new(Duration::from_secs(600));
        let refreshes = AtomicU32::new(0);
        let refresh = |token: &'static str| {
            refreshes.fetch_add(1, Ordering::SeqCst);
            async move { issued(token, 7200) }
        };

        let first = cache.get_or_refresh(|| refresh("t-1")).await.unwrap();
        tokio::time::advance(Duration::from_secs(7200 - 601)).await;
        let still_cached = cache.get_or_refresh(|| refresh("t-2")).await.unwrap();
        assert_eq!(still_cached, first);
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);

        tokio::time::advance(Duration::from_secs(2)).await;
        let refreshed = cache.get_or_refresh(|| refresh("t-2")).await.unwrap();
        assert_eq!(refreshed.expose(), "t-2");
        assert_eq!(refreshes.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_falls_back_to_an_unexpired_token_only() {
        let cache = TokenCache::new(Duration::from_secs(600));
        let unavailable = || async {
            Err(FeishuError::DeadlineExceeded {
                path: "/token",
                attempts: 1,
                last: None,
            })
        };
        cache
            .get_or_refresh(|| async { issued("t-1", 7200) })
            .await
            .unwrap();

        tokio::time::advance(Duration::from_secs(7200 - 300)).await;
        let fallback = cache.get_or_refresh(unavailable).await.unwrap();
        assert_eq!(fallback.expose(), "t-1");

        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(cache.get_or_refresh(unavailable).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_absurd_expire_is_clamped_to_two_hours() {
        let cache = TokenCache::new(Duration::from_secs(600));
        cache
            .get_or_refresh(|| async { issued("t-1", u64::MAX) })
            .await
            .unwrap();
        tokio::time::advance(MAX_TOKEN_LIFETIME).await;
        let token = cache
            .get_or_refresh(|| async { issued("t-2", 7200) })
            .await
            .unwrap();
        assert_eq!(token.expose(), "t-2");
    }

    #[tokio::test]
    async fn evicts_only_the_rejected_token() {
        let cache = TokenCache::new(Duration::from_secs(600));
        cache
            .get_or_refresh(|| async { issued("t-current", 7200) })
            .await
            .unwrap();
        cache.evict(&Secret::new("t-older")).await;
        let kept = cache
            .get_or_refresh(|| async { issued("t-unwanted", 7200) })
            .await
            .unwrap();
        assert_eq!(kept.expose(), "t-current");

        cache.evict(&Secret::new("t-current")).await;
        let replaced = cache
            .get_or_refresh(|| async { issued("t-new", 7200) })
            .await
            .unwrap();
        assert_eq!(replaced.expose(), "t-new");
    }
}
