//! The simulator's in-memory state: clock, tokens, definitions, instances, cards, the request
//! log and pending faults, plus the request pipeline that runs over them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::{AppCredentials, TokenInfo, TokenStore};
use crate::cards::{CardCallback, MessageRecord, Tap, TapError, TapOutcome};
use crate::clock::{Clock, millis_i64};
use crate::config::SimConfig;
use crate::definitions::{DefinitionRecord, DefinitionStore};
use crate::exchange::{Admission, Answer, ApiCall, FaultSource};
use crate::faults::{Fault, FaultBoard, FaultCommand, FaultKind, FaultsSnapshot};
use crate::ids;
use crate::instances::{InstanceRecord, InstanceStore, InstanceVersion, RollbackError};
use crate::messages::MessageStore;
use crate::rate_limits::{ApiRateCounters, FEISHU_PER_SECOND, RateWindows};
use crate::reply::{ApiError, Reply};
use crate::routes::{FeishuApi, Route};
use crate::settings::SimSettings;

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
    settings: SimSettings,
    clock: Arc<dyn Clock>,
    clock_offset_ms: i64,
    requests_seen: u64,
    tokens: TokenStore,
    definitions: DefinitionStore,
    instances: InstanceStore,
    messages: MessageStore,
    requests: Vec<RecordedRequest>,
    faults: FaultBoard,
    rate_windows: RateWindows,
}

/// A JSON object body, or 9499.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ApiError::MalformedBody),
    }
}

/// The body as recorded: JSON with secrets redacted, else text, else null.
fn recorded_body(body: &[u8]) -> Value {
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

/// The error an injected fault answers with (`None` for slow and answer-lost, which apply the
/// request normally).
fn fault_error(fault: Fault) -> Option<ApiError> {
    match fault.kind {
        FaultKind::Http500 => Some(ApiError::Internal),
        FaultKind::RateLimit => Some(ApiError::RateLimited {
            limit: FEISHU_PER_SECOND.get(),
            reset_secs: Some(fault.reset_secs),
        }),
        FaultKind::RateLimitWithoutReset => Some(ApiError::RateLimited {
            limit: FEISHU_PER_SECOND.get(),
            reset_secs: None,
        }),
        FaultKind::TokenInvalid => Some(ApiError::InvalidToken { http_ok: true }),
        FaultKind::Code1395001 => Some(ApiError::ServerBusy),
        FaultKind::Slow | FaultKind::AnswerLost => None,
    }
}

impl SimState {
    /// A fresh state for `config`, on `clock`.
    pub(crate) fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            tokens: TokenStore::new(millis_i64(config.token_lifetime)),
            settings: config.settings,
            config,
            clock,
            clock_offset_ms: 0,
            requests_seen: 0,
            definitions: DefinitionStore::default(),
            instances: InstanceStore::default(),
            messages: MessageStore::default(),
            requests: Vec::new(),
            faults: FaultBoard::default(),
            rate_windows: RateWindows::default(),
        }
    }

    /// The simulator clock: the injected clock plus every `advance_clock`.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms().saturating_add(self.clock_offset_ms)
    }

    /// Numbers a request, passes it through its API's rate windows (when rate limits are on)
    /// and picks its fault (only requests to a known API get one; a request the windows refuse
    /// never reaches the API, so it gets none and consumes no fault rule). A token fault also
    /// invalidates every issued token, as a real revocation would.
    pub(crate) fn admit(&mut self, call: &ApiCall<'_>, source: FaultSource) -> Admission {
        self.requests_seen += 1;
        let seq = self.requests_seen;
        let now_ms = self.now_ms();
        let log_id = ids::log_id(now_ms, seq);
        let route = call.route();
        let refusal = match (route, self.settings.rate_limits) {
            (Some(Route::Api(api)), Some(limits)) => {
                self.rate_windows.admit(api, &limits, now_ms).err()
            }
            _ => None,
        };
        let fault = match (route, source) {
            (None, _) => None,
            _ if refusal.is_some() => None,
            (Some(_), FaultSource::Rules) => self.faults.take(call.path),
            (Some(_), FaultSource::Caller(fault)) => fault,
        };
        if fault.is_some_and(|fault| fault.kind == FaultKind::TokenInvalid) {
            let now_ms = self.now_ms();
            self.tokens.expire_all(now_ms);
        }
        Admission {
            seq,
            log_id,
            route,
            fault,
            refusal,
        }
    }

    /// Answers an admitted request (after any slow fault's delay) and records it.
    pub(crate) fn answer(&mut self, call: &ApiCall<'_>, admission: Admission) -> Answer {
        let Admission {
            seq,
            log_id,
            route,
            fault,
            refusal,
        } = admission;
        let reply = match (route, refusal) {
            (_, Some(refusal)) => Reply::error(&ApiError::RateLimited {
                limit: refusal.limit,
                reset_secs: Some(refusal.reset_secs),
            }),
            (Some(route), None) => {
                self.handle(route, fault, call.authorization.as_deref(), call.body)
            }
            (None, None) => Reply::error(&ApiError::NotFound),
        };
        let fault_kind = fault.map(|fault| fault.kind);
        let at_ms = self.now_ms();
        self.requests.push(RecordedRequest {
            seq,
            at_ms,
            method: call.method.to_owned(),
            path: call.path.to_owned(),
            query: call.query.map(str::to_owned),
            headers: call.headers.clone(),
            body: recorded_body(call.body),
            http_status: reply.status().as_u16(),
            code: reply.code(),
            fault: fault_kind,
            log_id: log_id.clone(),
        });
        tracing::info!(
            method = call.method,
            path = call.path,
            status = reply.status().as_u16(),
            code = reply.code(),
            fault = ?fault_kind,
            "feishu-sim request"
        );
        Answer {
            reply,
            log_id,
            lost: fault_kind == Some(FaultKind::AnswerLost),
        }
    }

    /// Answers one POST to a known API route.
    fn handle(
        &mut self,
        route: Route,
        fault: Option<Fault>,
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
        api: FeishuApi,
        body: &Map<String, Value>,
        now_ms: i64,
    ) -> Result<Value, ApiError> {
        match api {
            FeishuApi::ExternalApprovals => self.definitions.upsert(body),
            FeishuApi::ExternalInstances => self.instances.sync(body, &self.definitions, now_ms),
            FeishuApi::ExternalInstancesCheck => {
                self.instances.check(body, self.settings.check_batch_limit)
            }
            FeishuApi::MessageSend => {
                self.messages
                    .send(body, now_ms, self.settings.duplicate_uuid)
            }
            FeishuApi::MessageUpdate => self.messages.update(body, now_ms),
        }
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
            messages: self.messages.records(now_ms),
            faults: self.faults.snapshot(),
        }
    }

    /// Every bot card, in sending order.
    pub(crate) fn cards(&self) -> Vec<MessageRecord> {
        self.messages.records(self.now_ms())
    }

    /// One bot card.
    pub(crate) fn card(&self, message_id: &str) -> Option<MessageRecord> {
        self.messages.record(message_id, self.now_ms())
    }

    /// The callback Feishu would post for `tap` on a card.
    pub(crate) fn tap(&mut self, message_id: &str, tap: &Tap) -> Result<CardCallback, TapError> {
        let now_ms = self.now_ms();
        self.messages.tap(message_id, tap, now_ms)
    }

    /// Applies what Feishu does to a card once a tap's callback answered.
    pub(crate) fn settle_tap(
        &mut self,
        message_id: &str,
        tap: u32,
        outcome: TapOutcome,
    ) -> Result<MessageRecord, TapError> {
        let now_ms = self.now_ms();
        self.messages.settle_tap(message_id, tap, outcome, now_ms)
    }

    /// One stored instance.
    pub(crate) fn instance(&self, instance_id: &str) -> Option<InstanceRecord> {
        self.instances.record(instance_id)
    }

    /// Every stored version of an instance, oldest first.
    pub(crate) fn instance_versions(&self, instance_id: &str) -> Vec<InstanceVersion> {
        self.instances.versions(instance_id)
    }

    /// Drops an instance, as if Feishu lost it.
    pub(crate) fn forget_instance(&mut self, instance_id: &str) -> Option<InstanceRecord> {
        self.instances.forget(instance_id)
    }

    /// Puts an instance back to one of its stored versions.
    pub(crate) fn roll_back_instance(
        &mut self,
        instance_id: &str,
        version: u32,
    ) -> Result<InstanceRecord, RollbackError> {
        self.instances.roll_back(instance_id, version)
    }

    /// The run-time behaviour choices.
    pub(crate) fn settings(&self) -> SimSettings {
        self.settings
    }

    /// Replaces the run-time behaviour choices.
    pub(crate) fn set_settings(&mut self, settings: SimSettings) {
        self.settings = settings;
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

    /// The rate windows' counters of every API that met them.
    pub(crate) fn rate_counters(&self) -> BTreeMap<FeishuApi, ApiRateCounters> {
        self.rate_windows.counters()
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

    /// Back to a fresh state with the same configuration, clock and settings (ids restart, the
    /// `advance_clock` offset is dropped).
    pub(crate) fn reset(&mut self) {
        let settings = self.settings;
        *self = Self::new(self.config.clone(), Arc::clone(&self.clock));
        self.settings = settings;
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
