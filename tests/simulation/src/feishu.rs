//! Feishu as the simulation serves it: feishu-sim in process (its state, validation and
//! `REPLACE` semantics) behind the client's [`HttpExchange`] seam, with seeded latency, faults —
//! 5xx, 429 with and without a reset, 99991663 with HTTP 200, 1395001, slow answers (past the
//! client's timeout too), applied-but-answer-lost — and crash points around every request.

use std::sync::Arc;

use feishu_bridge::client::{
    ExchangeFuture, HttpExchange, HttpRequest, HttpResponse, TransportError, TransportErrorKind,
};
use feishu_sim::{Fault, FaultKind, SimHandle};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::exec;
use crate::world::{Pushed, World};

/// The base URL the bridge's client is configured with; requests are routed to the simulator.
pub const BASE_URL: &str = "https://open.feishu.sim";

/// `external_instances`.
pub const PUSH_PATH: &str = "/open-apis/approval/v4/external_instances";
/// The token endpoint.
const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// `message/send`.
const SEND_PATH: &str = "/open-apis/approval/v1/message/send";

/// The simulated network to feishu-sim.
pub struct SimExchange {
    sim: SimHandle,
    world: Arc<World>,
}

impl SimExchange {
    /// Requests go to `sim`.
    pub fn new(sim: SimHandle, world: Arc<World>) -> Self {
        Self { sim, world }
    }

    /// The fault this request meets, drawn from the schedule's knobs.
    fn fault(&self, path: &str) -> Option<Fault> {
        if !self.world.chance(self.world.knobs.feishu_fault) {
            return None;
        }
        let kinds: &[FaultKind] = if path == TOKEN_PATH {
            &[FaultKind::Http500, FaultKind::Slow]
        } else {
            &[
                FaultKind::Http500,
                FaultKind::RateLimit,
                FaultKind::RateLimitWithoutReset,
                FaultKind::TokenInvalid,
                FaultKind::Code1395001,
                FaultKind::Slow,
                FaultKind::AnswerLost,
            ]
        };
        let kind = kinds[self.world.below(0, kinds.len() as u64) as usize];
        let mut fault = Fault::new(kind);
        fault.reset_secs = self.world.below(0, 3);
        // Mostly under the client's 10 s request timeout, sometimes past it (applied, no answer).
        fault.delay_ms = if self.world.chance(0.2) {
            self.world.below(10_000, 15_000)
        } else {
            self.world.below(300, 3_000)
        };
        Some(fault)
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let site = site(request.path);
        let fault = self.fault(request.path);
        if let Some(fault) = fault {
            let slow_past_timeout = fault.kind == FaultKind::Slow && fault.delay_ms >= 10_000;
            self.world.count(format!(
                "feishu fault: {}",
                if slow_past_timeout {
                    "slow past the client's timeout".to_owned()
                } else {
                    format!("{:?}", fault.kind)
                }
            ));
        }
        self.world.before_io(site, self.world.millis(10, 150)).await;
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let path_and_query = request.url.strip_prefix(BASE_URL).unwrap_or(&request.url);
        let response = self.sim.exchange_with_fault(
            fault,
            request.method.as_str(),
            path_and_query,
            &headers,
            &request.body,
        );
        let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let code = answer["code"].as_i64();
        if request.path == PUSH_PATH && code == Some(0) {
            self.observe_push(&request.body);
        }
        self.world.trace(|| {
            format!(
                "{site} {} → HTTP {} code {}{}{}",
                describe_request(request.path, &request.body),
                response.status,
                code.map_or_else(|| "-".to_owned(), |code| code.to_string()),
                fault.map_or_else(String::new, |fault| format!(" [fault {:?}]", fault.kind)),
                if response.answer_lost {
                    " (answer lost)"
                } else {
                    ""
                }
            )
        });
        self.world
            .after_io(site, self.world.millis(10, 150) + response.delay)
            .await;
        if response.answer_lost {
            return Err(TransportError::new(TransportErrorKind::Interrupted, None));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &response.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        Ok(HttpResponse {
            status: StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY),
            headers,
            body: response.body,
        })
    }

    /// Records an applied push, and counts a second, newer push of the same instance by the same
    /// execution: a re-push after being overtaken.
    fn observe_push(&self, body: &[u8]) {
        let Some(by) = exec::current().map(|exec| exec.at) else {
            return;
        };
        let instance: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let instance_id = instance["instance_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let update_time = millis(&instance["update_time"]);
        let mut repush = false;
        self.world.observe(|seen| {
            repush = seen.pushes.iter().any(|push| {
                push.by == by && push.instance_id == instance_id && push.update_time < update_time
            });
            seen.pushes.push(Pushed {
                by,
                instance_id,
                update_time,
            });
        });
        if repush {
            self.world.count("re-push after being overtaken");
        }
    }
}

impl HttpExchange for SimExchange {
    fn send(&self, request: HttpRequest) -> ExchangeFuture<'_> {
        Box::pin(self.exchange(request))
    }
}

/// The crash site of a request to `path`.
fn site(path: &str) -> &'static str {
    match path {
        TOKEN_PATH => "feishu token",
        PUSH_PATH => "feishu external_instances",
        SEND_PATH => "feishu message/send",
        _ => "feishu message/update",
    }
}

/// A Unix-ms field sent as a string (or a number).
pub fn millis(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.parse().unwrap_or_default(),
        other => other.as_u64().unwrap_or_default(),
    }
}

/// The gist of a request, for the trace.
fn describe_request(path: &str, body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match path {
        PUSH_PATH => {
            let tasks: Vec<String> = body["task_list"]
                .as_array()
                .map(|tasks| {
                    tasks
                        .iter()
                        .map(|task| {
                            format!(
                                "{}={}",
                                task["task_id"].as_str().unwrap_or("?"),
                                task["status"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} v{} {} [{}]",
                body["instance_id"].as_str().unwrap_or("?"),
                millis(&body["update_time"]),
                body["status"].as_str().unwrap_or("?"),
                tasks.join(" ")
            )
        }
        SEND_PATH => format!(
            "card for {} uuid {}",
            body["user_id"].as_str().unwrap_or("?"),
            body["uuid"]
                .as_str()
                .and_then(|uuid| uuid.get(..8))
                .unwrap_or("?")
        ),
        TOKEN_PATH => String::new(),
        _ => format!(
            "{} → {}",
            body["message_id"].as_str().unwrap_or("?"),
            body["status"].as_str().unwrap_or("?")
        ),
    }
}
