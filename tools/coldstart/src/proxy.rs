//! The delay proxy: an HTTP/1.1 reverse proxy in front of one local endpoint that makes it look
//! distant. A new connection waits `connect_delay` before its first byte is read (the handshake);
//! every request waits `request_delay` before it is forwarded (the round trip). Serial waits
//! therefore add up, and waits done at the same time overlap, as they do against a real endpoint.
//!
//! With `idle_close`, a connection idle that long is closed by the proxy, as a real endpoint closes
//! idle keep-alive connections: a client that kept it (while frozen, say) finds it gone.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How a proxy delays.
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    /// Added once per new connection, before its first request is read.
    pub connect: Duration,
    /// Added to every request, before it is forwarded.
    pub request: Duration,
    /// Close a connection idle for this long, if set.
    pub idle_close: Option<Duration>,
}

/// A running proxy; stops when dropped.
pub struct DelayProxy {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl DelayProxy {
    /// Proxies `127.0.0.1:<any port>` to `upstream` (an `http://host:port` base URL).
    pub async fn start(upstream: &str, delays: Delays) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let connections = Arc::new(AtomicUsize::new(0));
        let forwarder = Arc::new(Forwarder {
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(std::io::Error::other)?,
            upstream: upstream.trim_end_matches('/').to_owned(),
            delays,
        });
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                let forwarder = Arc::clone(&forwarder);
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    tokio::time::sleep(forwarder.delays.connect).await;
                    serve_connection(TokioIo::new(stream), forwarder).await;
                });
            }
        });
        Ok(Self {
            address,
            connections,
            task,
        })
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many connections clients have opened so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Forwarder {
    client: reqwest::Client,
    upstream: String,
    delays: Delays,
}

/// When a connection last finished a request, and whether one is in flight.
#[derive(Default)]
struct Activity {
    in_flight: usize,
    last: Option<Instant>,
}

async fn serve_connection(io: TokioIo<tokio::net::TcpStream>, forwarder: Arc<Forwarder>) {
    let activity = Arc::new(Mutex::new(Activity {
        in_flight: 0,
        last: Some(Instant::now()),
    }));
    let idle_close = forwarder.delays.idle_close;
    let service = {
        let activity = Arc::clone(&activity);
        service_fn(move |request| {
            let forwarder = Arc::clone(&forwarder);
            let activity = Arc::clone(&activity);
            async move {
                lock(&activity).in_flight += 1;
                let response = forwarder.forward(request).await;
                let mut activity = lock(&activity);
                activity.in_flight -= 1;
                activity.last = Some(Instant::now());
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = http1::Builder::new().serve_connection(io, service);
    let Some(idle_close) = idle_close else {
        let _ = connection.await;
        return;
    };
    let idle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let activity = lock(&activity);
            let idle_since = activity.last.filter(|_| activity.in_flight == 0);
            if idle_since.is_some_and(|since| since.elapsed() >= idle_close) {
                return;
            }
        }
    };
    // Dropping the connection future closes the socket.
    tokio::select! {
        _ = connection => {}
        () = idle => {}
    }
}

fn lock(activity: &Mutex<Activity>) -> std::sync::MutexGuard<'_, Activity> {
    activity.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Forwarder {
    async fn forward(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        tokio::time::sleep(self.delays.request).await;
        match self.try_forward(request).await {
            Ok(response) => response,
            Err(error) => {
                let mut response = Response::new(Full::new(Bytes::from(error)));
                *response.status_mut() = StatusCode::BAD_GATEWAY;
                response
            }
        }
    }

    async fn try_forward(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, String> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| format!("reading the request: {error}"))?
            .to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        let mut upstream = self
            .client
            .request(parts.method, format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
            if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
                upstream = upstream.header(name, value);
            }
        }
        let answer = upstream
            .send()
            .await
            .map_err(|error| format!("upstream: {error}"))?;
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = answer.status();
        for (name, value) in answer.headers() {
            if name != hyper::header::CONTENT_LENGTH
                && name != hyper::header::TRANSFER_ENCODING
                && name != hyper::header::CONNECTION
            {
                response.headers_mut().append(name, value.clone());
            }
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|error| format!("upstream body: {error}"))?;
        *response.body_mut() = Full::new(bytes);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every request `ok`.
    async fn upstream() -> (String, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(|| async { "ok" });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, task)
    }

    #[tokio::test]
    async fn a_new_connection_waits_the_handshake_and_every_request_the_round_trip() {
        let (url, _upstream) = upstream().await;
        let delays = Delays {
            connect: Duration::from_millis(80),
            request: Duration::from_millis(40),
            idle_close: None,
        };
        let proxy = DelayProxy::start(&url, delays).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();

        let started = Instant::now();
        let first = client.get(proxy.url()).send().await.unwrap();
        assert_eq!(first.text().await.unwrap(), "ok");
        assert!(started.elapsed() >= delays.connect + delays.request);

        let started = Instant::now();
        let second = client
            .get(format!("{}/again", proxy.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(second.text().await.unwrap(), "ok");
        assert!(started.elapsed() >= delays.request);
        assert_eq!(
            proxy.connections(),
            1,
            "the second request reused the connection"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_the_next_request_opens_another() {
        let (url, _upstream) = upstream().await;
        let delays = Delays {
            connect: Duration::ZERO,
            request: Duration::ZERO,
            idle_close: Some(Duration::from_millis(100)),
        };
        let proxy = DelayProxy::start(&url, delays).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();

        client
            .get(proxy.url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        client
            .get(proxy.url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(proxy.connections(), 2);
    }
}
