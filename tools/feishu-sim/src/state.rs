//! The simulator's in-memory state: clock, tokens, definitions, instances, cards, the request
//! log and pending faults, plus the request pipeline that runs over them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::SimConfig;
use crate::auth::{AppCredentials, TokenInfo, TokenStore};
use crate::definitions::{DefinitionRecord, DefinitionStore};
use crate::faults::{ChosenFault, FaultBoard, FaultCommand, FaultKind, FaultsSnapshot};
use crate::ids;
use crate::instances::{InstanceRecord, InstanceStore};
use crate::messages::{MessageRecord, MessageStore};
use crate::reply::{ApiError, Reply};
use crate::server::{ApiRoute, Route};

/// Shown instead of secrets in the request log.
const REDACTED: &str = "<redacted>";

/// One API request as the simulator saw and answered it (`GET /_sim/requests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Arrival time (simulator clock, Unix ms).
    pub at_ms: i64,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers with lower-case names, without `authorization`.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`app_secret` redacted); a non-JSON body as a string; `null` when empty.
    pub body: Value,
    /// HTTP status of the answer.
    pub http_status: u16,
    /// Body `code` of the answer.
    pub code: i64,
    /// The injected fault that shaped the answer, if any.
    pub fault: Option<FaultKind>,
    /// The `X-Tt-Logid` of the answer.
    pub log_id: String,
}

/// Everything the simulator holds (`GET /_sim/state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// The simulator clock (Unix ms), including any `advance_clock`.
    pub now_ms: i64,
    /// Issued tenant tokens, oldest first (lifetimes only, not the tokens).
    pub tokens: Vec<TokenInfo>,
    /// Approval definitions, by custom code.
    pub definitions: Vec<DefinitionRecord>,
    /// Approval instances, by instance id.
    pub instances: Vec<InstanceRecord>,
    /// Bot cards, in sending order.
    pub messages: Vec<MessageRecord>,
    /// Pending faults.
    pub faults: FaultsSnapshot,
}

/// The mutable simulator state, kept behind one mutex.
pub(crate) struct SimState {
    config: SimConfig,
    clock_offset_ms: i64,
    requests_seen: u64,
    tokens: TokenStore,
    definitions: DefinitionStore,
    instances: InstanceStore,
    messages: MessageStore,
    requests: Vec<RecordedRequest>,
    faults: FaultBoard,
}

fn millis_i64(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A JSON object body, or 9499.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ApiError::MalformedBody),
    }
}

/// The body as recorded: JSON with secrets redacted, else text, else null.
pub(crate) fn recorded_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            if let Some(secret) = value.get_mut("app_secret") {
                *secret = json!(REDACTED);
            }
            value
        }
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

/// The error an injected fault answers with (`None` for slow, which answers normally).
fn fault_error(fault: ChosenFault) -> Option<ApiError> {
    match fault.kind {
        FaultKind::Http500 => Some(ApiError::Internal),
        FaultKind::RateLimit => Some(ApiError::RateLimited {
            reset_secs: fault.reset_secs,
        }),
        FaultKind::TokenInvalid => Some(ApiError::InvalidToken { http_ok: true }),
        FaultKind::Code1395001 => Some(ApiError::ServerBusy),
        FaultKind::Slow => None,
    }
}

impl SimState {
    /// A fresh state for `config`.
    pub(crate) fn new(config: SimConfig) -> Self {
        Self {
            tokens: TokenStore::new(millis_i64(config.token_lifetime)),
            config,
            clock_offset_ms: 0,
            requests_seen: 0,
            definitions: DefinitionStore::default(),
            instances: InstanceStore::default(),
            messages: MessageStore::default(),
            requests: Vec::new(),
            faults: FaultBoard::default(),
        }
    }

    /// The simulator clock: wall-clock Unix ms plus every `advance_clock`.
    pub(crate) fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(millis_i64)
            .unwrap_or_default();
        wall.saturating_add(self.clock_offset_ms)
    }

    /// Numbers a new request: its sequence number and log id.
    pub(crate) fn begin_request(&mut self) -> (u64, String) {
        self.requests_seen += 1;
        let seq = self.requests_seen;
        (seq, ids::log_id(self.now_ms(), seq))
    }

    /// The fault for this request to a known API `path`, if one is pending. A token fault also
    /// invalidates every issued token, as a real revocation would.
    pub(crate) fn take_fault(&mut self, path: &str) -> Option<ChosenFault> {
        let fault = self.faults.take(path)?;
        if fault.kind == FaultKind::TokenInvalid {
            let now_ms = self.now_ms();
            self.tokens.expire_all(now_ms);
        }
        Some(fault)
    }

    /// Answers one POST to a known API route (after any fault turned out to be just a delay).
    pub(crate) fn handle(
        &mut self,
        route: Route,
        fault: Option<ChosenFault>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Reply {
        if let Some(error) = fault.and_then(fault_error) {
            return Reply::error(&error);
        }
        let now_ms = self.now_ms();
        let parsed = parse_object(body);
        let result = match route {
            Route::TenantToken => {
                let app = AppCredentials {
                    app_id: self.config.app_id.clone(),
                    app_secret: self.config.app_secret.clone(),
                };
                self.tokens.issue(parsed.as_ref().ok(), &app, now_ms)
            }
            Route::Api(api) => self
                .tokens
                .authorize(authorization, now_ms)
                .and(parsed)
                .and_then(|body| self.call(api, &body, now_ms))
                .map(Reply::success),
        };
        result.unwrap_or_else(|error| Reply::error(&error))
    }

    fn call(
        &mut self,
        api: ApiRoute,
        body: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        match api {
            ApiRoute::ExternalApprovals => self.definitions.upsert(body),
            ApiRoute::ExternalInstances => self.instances.sync(body, &self.definitions, now_ms),
            ApiRoute::CheckInstances => self.instances.check(body),
            ApiRoute::SendMessage => self.messages.send(body, now_ms),
            ApiRoute::UpdateMessage => self.messages.update(body, now_ms),
        }
    }

    /// Appends to the request log.
    pub(crate) fn record(&mut self, request: RecordedRequest) {
        self.requests.push(request);
    }

    /// The request log in arrival order, optionally only requests to `path`.
    pub(crate) fn requests(&self, path: Option<&str>) -> Vec<RecordedRequest> {
        let mut requests: Vec<RecordedRequest> = self
            .requests
            .iter()
            .filter(|request| path.is_none_or(|path| request.path == path))
            .cloned()
            .collect();
        requests.sort_by_key(|request| request.seq);
        requests
    }

    /// Everything stored.
    pub(crate) fn snapshot(&self) -> StateSnapshot {
        let now_ms = self.now_ms();
        StateSnapshot {
            now_ms,
            tokens: self.tokens.snapshot(now_ms),
            definitions: self.definitions.records(),
            instances: self.instances.records(),
            messages: self.messages.records(),
            faults: self.faults.snapshot(),
        }
    }

    /// Adds a fault rule or sets the random mode.
    pub(crate) fn apply_fault(&mut self, command: FaultCommand) {
        self.faults.apply(command);
    }

    /// Removes every pending fault.
    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Pending faults.
    pub(crate) fn faults(&self) -> FaultsSnapshot {
        self.faults.snapshot()
    }

    /// Ends every issued token now.
    pub(crate) fn expire_tokens(&mut self) {
        let now_ms = self.now_ms();
        self.tokens.expire_all(now_ms);
    }

    /// Moves the simulator clock forward.
    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset_ms = self.clock_offset_ms.saturating_add(millis_i64(by));
    }

    /// Back to a fresh state with the same configuration (ids restart too).
    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.config.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_bodies_hide_the_app_secret() {
        let body = recorded_body(br#"{"app_id":"cli_a","app_secret":"hunter2"}"#);
        assert_eq!(body, json!({"app_id": "cli_a", "app_secret": REDACTED}));
        assert_eq!(recorded_body(b""), Value::Null);
        assert_eq!(recorded_body(b"not json"), json!("not json"));
    }
}
