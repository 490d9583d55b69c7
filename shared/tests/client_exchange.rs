//! `FeishuClient` over a scripted `HttpExchange`, on tokio's paused clock: no sockets, virtual
//! time only. Determinism (same seed, same requests at the same virtual times), pacing, backoff
//! lower bounds, request timeouts and call reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feishu_bridge::client::{
    CallCollector, ClientConfig, ExchangeFuture, FailureKind, FeishuClient, FeishuError,
    HttpExchange, HttpRequest, HttpResponse, Pacing, RetryPolicy, TransportError,
    TransportErrorKind,
};
use feishu_bridge::models::{CheckInstancesRequest, UpdateMessageRequest};
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
const CHECK_PATH: &str = "/open-apis/approval/v4/external_instances/check";
const UPDATE_PATH: &str = "/open-apis/approval/v1/message/update";

/// What the scripted Feishu does with one request.
enum Reply {
    /// Answers after `latency` with this status, headers and JSON body.
    Answer {
        latency: Duration,
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: Value,
    },
    /// Fails at once without an answer.
    Fail(TransportErrorKind),
    /// Never answers.
    Silence,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self::Answer {
            latency: Duration::ZERO,
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn success(data: Value) -> Self {
        Self::json(200, json!({"code": 0, "msg": "success", "data": data}))
    }

    fn token(token: &str) -> Self {
        Self::json(
            200,
            json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200}),
        )
    }

    fn rate_limited(status: u16, reset: Option<&'static str>) -> Self {
        Self::Answer {
            latency: Duration::ZERO,
            status,
            headers: reset
                .map(|reset| vec![("x-ogw-ratelimit-reset", reset)])
                .unwrap_or_default(),
            body: json!({"code": 99991400, "msg": "request trigger frequency limit"}),
        }
    }

    fn with_latency(self, latency: Duration) -> Self {
        match self {
            Self::Answer {
                status,
                headers,
                body,
                ..
            } => Self::Answer {
                latency,
                status,
                headers,
                body,
            },
            other => other,
        }
    }
}

/// A request as the scripted Feishu saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    /// Virtual time since the exchange was created.
    at: Duration,
    method: String,
    url: String,
    authorization: Option<String>,
    body: Value,
}

/// Decides the reply to the `nth` (0-based) request to `path`.
type Script = dyn Fn(&'static str, usize) -> Reply + Send + Sync;

/// An `HttpExchange` that answers from a script and logs every request with its virtual time.
struct ScriptedExchange {
    origin: Instant,
    script: Box<Script>,
    counts: Mutex<HashMap<&'static str, usize>>,
    log: Mutex<Vec<Sent>>,
}

impl ScriptedExchange {
    fn new(script: impl Fn(&'static str, usize) -> Reply + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            script: Box::new(script),
            counts: Mutex::default(),
            log: Mutex::default(),
        })
    }

    fn sent(&self) -> Vec<Sent> {
        self.log.lock().unwrap().clone()
    }

    /// Virtual times (in ms) of the requests to `path`.
    fn times_ms(&self, path: &str) -> Vec<u128> {
        self.sent()
            .iter()
            .filter(|sent| sent.url.ends_with(path))
            .map(|sent| sent.at.as_millis())
            .collect()
    }
}

impl HttpExchange for ScriptedExchange {
    fn send(&self, request: HttpRequest) -> ExchangeFuture<'_> {
        let nth = {
            let mut counts = self.counts.lock().unwrap();
            let count = counts.entry(request.path).or_default();
            *count += 1;
            *count - 1
        };
        self.log.lock().unwrap().push(Sent {
            at: self.origin.elapsed(),
            method: request.method.to_string(),
            url: request.url.clone(),
            authorization: request
                .headers
                .get("authorization")
                .map(|value| value.to_str().unwrap().to_owned()),
            body: serde_json::from_slice(&request.body).unwrap(),
        });
        let reply = (self.script)(request.path, nth);
        Box::pin(async move {
            match reply {
                Reply::Answer {
                    latency,
                    status,
                    headers,
                    body,
                } => {
                    tokio::time::sleep(latency).await;
                    let mut header_map = HeaderMap::new();
                    for (name, value) in headers {
                        header_map.insert(name, HeaderValue::from_static(value));
                    }
                    Ok(HttpResponse {
                        status: StatusCode::from_u16(status).unwrap(),
                        headers: header_map,
                        body: serde_json::to_vec(&body).unwrap(),
                    })
                }
                Reply::Fail(kind) => Err(TransportError::new(kind, None)),
                Reply::Silence => std::future::pending().await,
            }
        })
    }
}

fn config(tweak: impl FnOnce(&mut ClientConfig)) -> ClientConfig {
    let mut config = ClientConfig::for_base_url("https://open.feishu.test");
    tweak(&mut config);
    config
}

fn credentials() -> Arc<CredentialSource> {
    Arc::new(CredentialSource::fixed(Credentials {
        app_id: "cli_sim".to_owned(),
        app_secret: Secret::new("sim-secret"),
        callback_token: Secret::new("callback-token"),
        callback_key: None,
        previous_callback: None,
    }))
}

fn client_over(exchange: Arc<ScriptedExchange>, config: ClientConfig, seed: u64) -> FeishuClient {
    FeishuClient::builder(config, credentials())
        .exchange(exchange)
        .jitter_seed(seed)
        .build()
        .unwrap()
}

fn check_request(instance_id: &str) -> CheckInstancesRequest {
    serde_json::from_value(json!({
        "instances": [{
            "instance_id": instance_id,
            "update_time": "1700000000000",
            "tasks": [{"task_id": "step-1", "update_time": "1700000000000"}]
        }]
    }))
    .unwrap()
}

fn update_request() -> UpdateMessageRequest {
    serde_json::from_value(json!({"message_id": "7", "status": "APPROVED"})).unwrap()
}

fn in_secs(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

fn no_diff() -> Reply {
    Reply::success(json!({"diff_instances": []}))
}

// --- determinism ----------------------------------------------------------------------------

/// A Feishu that fails in every way the client retries before it succeeds: a server error, a
/// rate limit without a reset, a rejected token, a rate limit with reset 0, "try again later".
fn troubled_feishu(path: &'static str, nth: usize) -> Reply {
    let latency = Duration::from_millis(15 + 10 * (nth as u64 % 3));
    let reply = match (path, nth) {
        (TOKEN_PATH, 0) => Reply::token("t-first"),
        (TOKEN_PATH, _) => Reply::token("t-second"),
        (_, 0) => Reply::json(500, json!({"code": 0, "msg": "internal"})),
        (_, 1) => Reply::rate_limited(429, None),
        (_, 2) => Reply::json(
            200,
            json!({"code": 99991663, "msg": "Invalid access token"}),
        ),
        (_, 3) => Reply::rate_limited(400, Some("0")),
        (_, 4) => Reply::json(
            400,
            json!({"code": 1395001, "msg": "There have been some errors. Please try again later"}),
        ),
        _ => no_diff(),
    };
    reply.with_latency(latency)
}

/// Three concurrent calls against the troubled Feishu; returns every request with its time.
async fn troubled_run(seed: u64) -> Vec<Sent> {
    let exchange = ScriptedExchange::new(troubled_feishu);
    let client = client_over(
        Arc::clone(&exchange),
        config(|config| config.retry.max_attempts = 8),
        seed,
    );
    let mut calls = JoinSet::new();
    for instance in ["PR-1", "PR-2", "PR-3"] {
        let client = client.clone();
        calls.spawn(async move {
            client
                .check_instances(&check_request(instance), in_secs(60))
                .await
        });
    }
    for result in calls.join_all().await {
        result.unwrap();
    }
    exchange.sent()
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_makes_the_same_requests_at_the_same_virtual_times() {
    let first = troubled_run(42).await;
    let second = troubled_run(42).await;
    assert_eq!(first, second);

    // The run went through retries, a token refresh and jittered waits.
    let checks = first.iter().filter(|sent| sent.url.ends_with(CHECK_PATH));
    assert!(checks.count() >= 8, "{first:#?}");
    let tokens: Vec<_> = first
        .iter()
        .filter(|sent| sent.url.ends_with(TOKEN_PATH))
        .collect();
    assert_eq!(tokens.len(), 2, "{first:#?}");
    // Answers take at most 35 ms; what lies beyond is backoff.
    assert!(
        first.last().unwrap().at >= Duration::from_millis(200),
        "{first:#?}"
    );

    // The seed is what decides the waits: another seed waits differently.
    let other = troubled_run(43).await;
    let times = |run: &[Sent]| run.iter().map(|sent| sent.at).collect::<Vec<_>>();
    assert_ne!(times(&first), times(&other));
}

// --- rate limits ----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_rate_limit_with_reset_0_or_none_still_backs_off() {
    let backoff = RetryPolicy::default().base_backoff;
    for (status, reset) in [(429, Some("0")), (429, None), (400, Some("0")), (400, None)] {
        let exchange = ScriptedExchange::new(move |path, nth| match (path, nth) {
            (TOKEN_PATH, _) => Reply::token("t-1"),
            (_, 0) => Reply::rate_limited(status, reset),
            _ => no_diff(),
        });
        let client = client_over(Arc::clone(&exchange), config(|_| {}), 7);
        client
            .check_instances(&check_request("PR-1"), in_secs(10))
            .await
            .unwrap();

        let times = exchange.times_ms(CHECK_PATH);
        assert_eq!(times.len(), 2, "{status} {reset:?}");
        let waited = Duration::from_millis(u64::try_from(times[1] - times[0]).unwrap());
        assert!(
            (backoff / 2..=backoff).contains(&waited),
            "HTTP {status}, reset {reset:?}: retried after {waited:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_reset_longer_than_the_backoff_is_waited_out() {
    let exchange = ScriptedExchange::new(|path, nth| match (path, nth) {
        (TOKEN_PATH, _) => Reply::token("t-1"),
        (_, 0) => Reply::rate_limited(429, Some("3")),
        _ => no_diff(),
    });
    let client = client_over(Arc::clone(&exchange), config(|_| {}), 7);
    client
        .check_instances(&check_request("PR-1"), in_secs(10))
        .await
        .unwrap();
    assert_eq!(exchange.times_ms(CHECK_PATH), [0, 3000]);
}

// --- pacing ---------------------------------------------------------------------------------

fn paced(requests_per_second: u32, burst: u32) -> ClientConfig {
    config(|config| {
        config.pacing = Pacing {
            requests_per_second,
            burst,
        };
    })
}

fn instant_feishu(path: &'static str, _nth: usize) -> Reply {
    match path {
        TOKEN_PATH => Reply::token("t-1"),
        UPDATE_PATH => Reply::success(json!({"message_id": "7"})),
        _ => no_diff(),
    }
}

#[tokio::test(start_paused = true)]
async fn calls_to_one_api_are_paced_and_other_apis_are_not_held_up() {
    let exchange = ScriptedExchange::new(instant_feishu);
    let client = client_over(Arc::clone(&exchange), paced(10, 5), 1);
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for index in 0..20 {
        let client = client.clone();
        calls.spawn(async move {
            client
                .check_instances(&check_request(&format!("PR-{index}")), in_secs(60))
                .await
                .map(|_| ())
        });
    }
    for _ in 0..5 {
        let client = client.clone();
        calls.spawn(async move {
            client
                .update_message(&update_request(), in_secs(60))
                .await
                .map(|_| ())
        });
    }
    for result in calls.join_all().await {
        result.unwrap();
    }

    // A burst of 5 at once, then one every 100 ms: 20 calls need at least 1.5 s.
    let mut expected = vec![0; 5];
    expected.extend((1..=15).map(|step| step * 100));
    assert_eq!(exchange.times_ms(CHECK_PATH), expected);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // The card updates went out at once, while the checks were still queued.
    assert_eq!(exchange.times_ms(UPDATE_PATH), [0; 5]);
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_pacing_slot_is_past_its_deadline_fails_at_once_without_a_request() {
    let exchange = ScriptedExchange::new(instant_feishu);
    let client = client_over(Arc::clone(&exchange), paced(10, 1), 1);
    let deadline = Instant::now() + Duration::from_millis(250);
    let mut calls = JoinSet::new();
    for index in 0..5 {
        let client = client.clone();
        calls.spawn(async move {
            let result = client
                .check_instances(&check_request(&format!("PR-{index}")), deadline)
                .await;
            (result.map(|_| ()), Instant::now())
        });
    }
    let results = calls.join_all().await;

    // Slots at 0, 100 and 200 ms fit; the callers for 300 and 400 ms give up at once.
    assert_eq!(exchange.times_ms(CHECK_PATH), [0, 100, 200]);
    let refused: Vec<_> = results
        .iter()
        .filter_map(|(result, at)| result.as_ref().err().map(|error| (error, at)))
        .collect();
    assert_eq!(refused.len(), 2);
    for (error, at) in refused {
        assert!(
            matches!(error, FeishuError::DeadlineExceeded { attempts: 0, .. }),
            "{error:?}"
        );
        assert!(*at < deadline, "gave up only at the deadline");
    }
}

// --- timeouts and transport failures --------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_silent_feishu_times_out_on_the_virtual_clock_and_is_retried() {
    let exchange = ScriptedExchange::new(|path, _| match path {
        TOKEN_PATH => Reply::token("t-1"),
        _ => Reply::Silence,
    });
    let client = client_over(
        Arc::clone(&exchange),
        config(|config| {
            config.request_timeout = Duration::from_secs(3);
            config.retry.max_attempts = 2;
        }),
        1,
    );
    let started = Instant::now();
    let error = client
        .check_instances(&check_request("PR-1"), in_secs(60))
        .await
        .unwrap_err();

    match &error {
        FeishuError::Transport { source, .. } => {
            assert_eq!(source.kind(), TransportErrorKind::Timeout);
        }
        other => panic!("expected a transport timeout, got {other:?}"),
    }
    assert!(error.is_retryable());
    let times = exchange.times_ms(CHECK_PATH);
    assert_eq!(times.len(), 2);
    // The second attempt starts after the first timed out and a backoff (100–200 ms).
    assert!((3100..=3200).contains(&times[1]), "{times:?}");
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(3000) + Duration::from_millis(u64::try_from(times[1]).unwrap())
    );
}

#[tokio::test(start_paused = true)]
async fn transport_failures_keep_their_kind_and_are_retried() {
    for kind in [TransportErrorKind::Connect, TransportErrorKind::Interrupted] {
        let exchange = ScriptedExchange::new(move |path, nth| match (path, nth) {
            (TOKEN_PATH, _) => Reply::token("t-1"),
            (_, 0) => Reply::Fail(kind),
            _ => no_diff(),
        });
        let collector = Arc::new(CallCollector::default());
        let client =
            client_over(Arc::clone(&exchange), config(|_| {}), 1).observed_by(collector.clone());
        client
            .check_instances(&check_request("PR-1"), in_secs(10))
            .await
            .unwrap();
        assert_eq!(exchange.times_ms(CHECK_PATH).len(), 2, "{kind:?}");
        assert_eq!(collector.take()[0].attempts, 2, "{kind:?}");
    }
}

// --- call reports ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn reports_count_attempts_rate_limits_token_refreshes_pacing_and_latency() {
    let exchange = ScriptedExchange::new(|path, nth| {
        let reply = match (path, nth) {
            (TOKEN_PATH, 0) => Reply::token("t-stale"),
            (TOKEN_PATH, _) => Reply::token("t-fresh"),
            (CHECK_PATH, 0) => Reply::rate_limited(429, Some("1")),
            (CHECK_PATH, 1) => Reply::json(
                200,
                json!({"code": 99991663, "msg": "Invalid access token"}),
            ),
            (CHECK_PATH, 2) => Reply::Answer {
                latency: Duration::ZERO,
                status: 200,
                headers: vec![("x-tt-logid", "LOG-OK")],
                body: json!({"code": 0, "msg": "success", "data": {"diff_instances": []}}),
            },
            (CHECK_PATH, _) => Reply::json(
                400,
                json!({"code": 1390001, "msg": "param is invalid", "error": {"log_id": "LOG-BAD"}}),
            ),
            _ => unreachable!("unexpected request to {path}"),
        };
        reply.with_latency(Duration::from_millis(20))
    });
    let collector = Arc::new(CallCollector::default());
    let base = client_over(Arc::clone(&exchange), paced(1, 1), 1);
    let client = base.observed_by(collector.clone());

    client
        .check_instances(&check_request("PR-1"), in_secs(60))
        .await
        .unwrap();
    let error = client
        .check_instances(&check_request("PR-2"), in_secs(60))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(1390001));
    // Calls through the unobserved handle are not reported.
    base.tenant_access_token(in_secs(60)).await.unwrap();

    let reports = collector.take();
    assert_eq!(reports.len(), 2);
    let first = &reports[0];
    assert_eq!(first.path, CHECK_PATH);
    assert!(first.succeeded());
    assert_eq!(first.code, Some(0));
    assert_eq!(first.http_status, Some(200));
    assert_eq!(first.log_id.as_deref(), Some("LOG-OK"));
    assert_eq!((first.attempts, first.retries()), (3, 2));
    assert_eq!(first.rate_limited, 1);
    assert_eq!(first.token_refreshes, 2);
    // One request a second. Attempt 1 at 0 ms: token (20 ms), rate limit with reset 1 s (20 ms).
    // Attempt 2 at 1040 ms, past its 1 s slot: rejected token (20 ms). Attempt 3 waits for its
    // slot at 2040 ms: new token (20 ms), success (20 ms).
    assert_eq!(first.paced, Duration::from_millis(980));
    assert_eq!(first.latency, Duration::from_millis(2080));

    let second = &reports[1];
    assert_eq!(second.failure, Some(FailureKind::Api));
    assert_eq!(second.code, Some(1390001));
    assert_eq!(second.http_status, Some(400));
    assert_eq!(second.log_id.as_deref(), Some("LOG-BAD"));
    assert_eq!((second.attempts, second.token_refreshes), (1, 0));
    assert!(collector.take().is_empty(), "take empties the collector");
}
