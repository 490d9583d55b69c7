//! The container's warm-up: what a fresh container can do before its first callback, done while
//! it initialises, all at once.
//!
//! Approval callbacks are sparse, so most land on a fresh container. Without a warm-up the first
//! callback waits, one after the other, for the callback secret (a connection to Secrets Manager,
//! then the request) and for the hand-off (a connection to Lambda's API, then the invoke). The
//! warm-up loads the secret and opens the hand-off's connection at the same time, during init, so
//! the first callback waits for the invoke alone.
//!
//! A warm-up never fails the container: whatever did not finish or failed is left to the first
//! callback, which does it itself within its deadline (a secret that cannot be read is then a
//! 503, as on any callback). Init waits for the warm-up at most
//! [`INIT_WARM_UP_BUDGET`](crate::config::INIT_WARM_UP_BUDGET); past
//! that, the warm-up carries on in the background and the first callback waits for what it still
//! needs (the secret's fetch is shared, not repeated).
//!
//! Another warm-up (a connection the first callback will use) joins the ones in
//! [`CallbackService::warm_up`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use feishu_bridge::secrets::SecretError;

use crate::handler::CallbackService;
use crate::handoff::{Handoff, HandoffError};

/// What a warm-up achieved.
#[derive(Debug)]
pub struct WarmUp {
    /// Loading the callback token and key.
    pub credentials: Result<(), SecretError>,
    /// Opening the hand-off's connection.
    pub handoff: Result<(), HandoffError>,
    /// How long the warm-up took, all parts together.
    pub elapsed: Duration,
}

impl<H: Handoff> CallbackService<H> {
    /// Loads the credentials (and derives the token check and cipher from them) and warms the
    /// hand-off, at the same time; logs what each achieved.
    pub async fn warm_up(&self) -> WarmUp {
        let started = Instant::now();
        let (credentials, handoff) = tokio::join!(
            timed(self.load_credentials()),
            timed(self.handoff().warm_up()),
        );
        let warm_up = WarmUp {
            credentials: credentials.0,
            handoff: handoff.0,
            elapsed: started.elapsed(),
        };
        let credentials_ms = millis(credentials.1);
        let handoff_ms = millis(handoff.1);
        match (&warm_up.credentials, &warm_up.handoff) {
            (Ok(()), Ok(())) => {
                tracing::info!(credentials_ms, handoff_ms, "warmed up");
            }
            (credentials, handoff) => tracing::warn!(
                credentials_ms,
                handoff_ms,
                credentials_error = credentials.as_ref().err().map(tracing::field::display),
                handoff_error = handoff.as_ref().err().map(tracing::field::display),
                "warm-up incomplete; the first callback does the rest"
            ),
        }
        warm_up
    }
}

/// Runs the warm-up of a fresh container: waits for it at most `budget` (in production
/// [`INIT_WARM_UP_BUDGET`](crate::config::INIT_WARM_UP_BUDGET)), then leaves it running in the background. Returns the warm-up if it
/// finished in time.
pub async fn warm_up_within<H>(
    service: &Arc<CallbackService<H>>,
    budget: Duration,
) -> Option<WarmUp>
where
    H: Handoff + Send + Sync + 'static,
{
    let service = Arc::clone(service);
    let warming = tokio::spawn(async move { service.warm_up().await });
    match tokio::time::timeout(budget, warming).await {
        Ok(Ok(warm_up)) => Some(warm_up),
        Ok(Err(join_error)) => {
            tracing::warn!(%join_error, "warm-up did not complete");
            None
        }
        Err(_) => {
            tracing::warn!(
                budget_ms = millis(budget),
                "warm-up still running at the end of its budget; it carries on meanwhile"
            );
            None
        }
    }
}

/// Runs `future` and measures it.
async fn timed<T>(future: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let output = future.await;
    (output, started.elapsed())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
