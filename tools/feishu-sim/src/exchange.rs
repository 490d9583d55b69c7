//! One API request's way through the simulator, shared by the HTTP server and the in-process
//! mode: numbered, let through or refused by its rate windows and given its fault
//! ([`Admission`]), then answered and recorded ([`Answer`]).
//! Only the transport differs: the server sleeps a slow fault's delay and drops the connection of
//! a lost answer; the in-process mode reports both in its [`SimResponse`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::faults::{Fault, FaultKind};
use crate::rate_limits::RateRefusal;
use crate::reply::Reply;
use crate::routes::Route;

/// A request to the simulated Feishu API, however it arrived.
#[derive(Debug)]
pub(crate) struct ApiCall<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// Raw query string, if any.
    pub query: Option<&'a str>,
    /// Headers as recorded: lower-case names, repeated headers joined, no `authorization`.
    pub headers: BTreeMap<String, String>,
    /// The `Authorization` header value.
    pub authorization: Option<String>,
    /// The raw body.
    pub body: &'a [u8],
}

impl<'a> ApiCall<'a> {
    /// A request without headers; `path_and_query` is split at the first `?`.
    pub(crate) fn new(method: &'a str, path_and_query: &'a str, body: &'a [u8]) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        Self {
            method,
            path,
            query,
            headers: BTreeMap::new(),
            authorization: None,
            body,
        }
    }

    /// Adds one header (names are case-insensitive; `authorization` is kept apart, unrecorded).
    pub(crate) fn add_header(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        if name == "authorization" {
            self.authorization = Some(value.to_owned());
            return;
        }
        self.headers
            .entry(name)
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }

    /// The known Feishu API this request calls (POST to an exact path), if any.
    pub(crate) fn route(&self) -> Option<Route> {
        Route::from_path(self.path).filter(|_| self.method == "POST")
    }
}

/// Where a request's fault comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FaultSource {
    /// The pending fault rules and random mode.
    Rules,
    /// The caller's own decision, bypassing (and not consuming) the rules.
    Caller(Option<Fault>),
}

/// A request numbered and given its fault, not yet answered.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Its `X-Tt-Logid`.
    pub log_id: String,
    /// The API it calls, if known.
    pub route: Option<Route>,
    /// The fault it gets.
    pub fault: Option<Fault>,
    /// Why its API's rate windows refused it, if they did (then it gets no fault).
    pub refusal: Option<RateRefusal>,
}

impl Admission {
    /// How long the answer is held back (a slow fault).
    pub(crate) fn delay(&self) -> Duration {
        match self.fault {
            Some(fault) if fault.kind == FaultKind::Slow => Duration::from_millis(fault.delay_ms),
            _ => Duration::ZERO,
        }
    }
}

/// A request's answer, already applied and recorded.
#[derive(Debug)]
pub(crate) struct Answer {
    /// What Feishu answers.
    pub reply: Reply,
    /// Its `X-Tt-Logid`.
    pub log_id: String,
    /// The answer never reaches the caller (`answer_lost`).
    pub lost: bool,
}

/// The simulator's answer to one in-process request ([`SimHandle::exchange`](crate::SimHandle::exchange)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers (lower-case names), e.g. `x-tt-logid`, `x-ogw-ratelimit-reset`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
    /// How long Feishu took to answer: a `slow` fault's delay (nothing sleeps in process; a
    /// caller whose timeout is shorter should treat the answer as lost — the request was
    /// applied either way).
    pub delay: Duration,
    /// The request was applied but its answer never reached the caller (an `answer_lost`
    /// fault): treat the call as a transport error. `status`, `headers` and `body` show what
    /// would have been sent.
    pub answer_lost: bool,
}

impl SimResponse {
    pub(crate) fn new(answer: Answer, delay: Duration) -> Self {
        let (status, headers, body) = answer.reply.into_parts(&answer.log_id);
        Self {
            status: status.as_u16(),
            headers: headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            body,
            delay,
            answer_lost: answer.lost,
        }
    }

    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON (the simulator always answers JSON).
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_split_the_query_and_keep_the_token_apart() {
        let mut call = ApiCall::new("POST", "/open-apis/x?user_id_type=user_id", b"{}");
        call.add_header("Authorization", "Bearer t-1");
        call.add_header("X-Trace", "a");
        call.add_header("x-trace", "b");
        assert_eq!(
            (call.path, call.query),
            ("/open-apis/x", Some("user_id_type=user_id"))
        );
        assert_eq!(call.authorization.as_deref(), Some("Bearer t-1"));
        assert_eq!(
            call.headers.get("x-trace").map(String::as_str),
            Some("a, b")
        );
        assert!(!call.headers.contains_key("authorization"));
    }
}
