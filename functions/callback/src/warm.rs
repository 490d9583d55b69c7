//! The container's warm-up: what a fresh container can do before its first callback, started
//! while it initialises, all at once.
//!
//! Approval callbacks are sparse, so most land on a fresh container. Without a warm-up the first
//! callback waits, one after the other, for the callback secret (a connection to Secrets Manager,
//! then the request) and for the hand-off (a connection to Lambda's API, then the invoke). The
//! warm-up starts both at init: the secret is loaded while the hand-off's connection is opened
//! (a dry-run invoke), so a first callback that finds both done waits for the invoke alone.
//!
//! Init waits only for what every callback needs, the credentials, and at most
//! [`INIT_WARM_UP_BUDGET`](crate::config::INIT_WARM_UP_BUDGET). Connection warm-ups run
//! alongside without being waited for: when the credentials need no fetch (environment
//! variables), waiting for a dry run would only put its round trip in front of the first event,
//! and a first hand-off that finds the connection still busy opens another as it would anyway.
//!
//! A warm-up never fails the container: whatever did not finish or failed is left to the first
//! callback, which does it itself within its deadline (a secret still loading or unreadable is
//! then a 503, as on any callback; a fetch in flight is shared, not repeated).
//!
//! Another connection warm-up (e.g. DynamoDB) is one more task in [`warm_up_within`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use feishu_bridge::secrets::SecretError;
use feishu_bridge::store::InstanceReader;

use crate::handler::CallbackService;
use crate::handoff::Handoff;

/// Starts the warm-up of a fresh container and waits at most `budget` (in production
/// [`INIT_WARM_UP_BUDGET`](crate::config::INIT_WARM_UP_BUDGET)) for the credentials. Returns
/// their outcome when they loaded (or failed) in time, `None` while they are still loading. The
/// hand-off's warm-up is not waited for; each part logs its own outcome.
pub async fn warm_up_within<H, R>(
    service: &Arc<CallbackService<H, R>>,
    budget: Duration,
) -> Option<Result<(), SecretError>>
where
    H: Handoff + Send + Sync + 'static,
    R: InstanceReader + 'static,
{
    let handoff = Arc::clone(service);
    tokio::spawn(async move {
        let started = Instant::now();
        match handoff.handoff().warm_up().await {
            Ok(()) => tracing::info!(elapsed_ms = millis(started.elapsed()), "hand-off warmed up"),
            Err(error) => tracing::warn!(
                elapsed_ms = millis(started.elapsed()),
                error = %error,
                "warming up the hand-off failed; the first callback opens its own connection"
            ),
        }
    });
    let credentials = Arc::clone(service);
    let loading = tokio::spawn(async move {
        let started = Instant::now();
        let loaded = credentials.load_credentials().await;
        match &loaded {
            Ok(()) => tracing::info!(
                elapsed_ms = millis(started.elapsed()),
                "callback credentials loaded"
            ),
            Err(error) => tracing::warn!(
                elapsed_ms = millis(started.elapsed()),
                error = %error,
                "loading the callback credentials failed; the first callback retries"
            ),
        }
        loaded
    });
    match tokio::time::timeout(budget, loading).await {
        Ok(Ok(loaded)) => Some(loaded),
        Ok(Err(join_error)) => {
            tracing::warn!(%join_error, "loading the callback credentials did not complete");
            None
        }
        Err(_) => {
            tracing::warn!(
                budget_ms = millis(budget),
                "callback credentials still loading at the end of the init budget; the first \
                 callback waits for them within its deadline"
            );
            None
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
