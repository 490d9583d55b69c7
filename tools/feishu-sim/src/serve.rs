//! Serving the router over TCP/HTTP 1.1, with the one thing `axum::serve` cannot do: closing a
//! connection without sending the answer a handler produced (an `answer_lost` fault).

use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::server::AnswerLost;

/// How long to wait before accepting again after `accept` failed (e.g. out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// A service error that makes hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("answer dropped on purpose (answer_lost fault)")]
struct AnswerDropped;

/// Serves `router` on `listener` until `stop` fires (or its sender is dropped), then lets
/// in-flight requests finish and closes every connection.
pub(crate) async fn serve(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let (closing, closing_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone(), closing_seen.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "feishu-sim cannot accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            },
        }
    }
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until the client closes it, an answer is dropped, or the server stops.
async fn serve_connection(stream: TcpStream, router: Router, mut closing: watch::Receiver<bool>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let router = router.clone();
        async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<AnswerLost>().is_some() {
                Err(AnswerDropped)
            } else {
                Ok(response)
            }
        }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "feishu-sim connection ended");
            }
        }
        _ = closing.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
