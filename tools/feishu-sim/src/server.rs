//! The HTTP surface: Feishu's API paths (anything outside `/_sim/`) and the `/_sim/` admin API.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::faults::{FaultCommand, FaultKind};
use crate::handle::SimHandle;
use crate::reply::{ApiError, Reply};
use crate::state::{RecordedRequest, recorded_body};

/// `tenant_access_token` for self-built apps.
pub(crate) const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
const EXTERNAL_APPROVALS_PATH: &str = "/open-apis/approval/v4/external_approvals";
const EXTERNAL_INSTANCES_PATH: &str = "/open-apis/approval/v4/external_instances";
const CHECK_INSTANCES_PATH: &str = "/open-apis/approval/v4/external_instances/check";
const SEND_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/send";
const UPDATE_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/update";

/// Prefix of the test and admin API.
const ADMIN_PREFIX: &str = "/_sim/";

/// A known Feishu API (all POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The token endpoint (no bearer token needed).
    TenantToken,
    /// Every other API (bearer token required).
    Api(ApiRoute),
}

/// A known Feishu API that needs a tenant token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiRoute {
    /// Create/update a definition.
    ExternalApprovals,
    /// Sync an instance.
    ExternalInstances,
    /// Check instance versions.
    CheckInstances,
    /// Send a bot card.
    SendMessage,
    /// Update a bot card's status.
    UpdateMessage,
}

impl Route {
    fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            TOKEN_PATH => Self::TenantToken,
            EXTERNAL_APPROVALS_PATH => Self::Api(ApiRoute::ExternalApprovals),
            EXTERNAL_INSTANCES_PATH => Self::Api(ApiRoute::ExternalInstances),
            CHECK_INSTANCES_PATH => Self::Api(ApiRoute::CheckInstances),
            SEND_MESSAGE_PATH => Self::Api(ApiRoute::SendMessage),
            UPDATE_MESSAGE_PATH => Self::Api(ApiRoute::UpdateMessage),
            _ => return None,
        })
    }
}

/// The simulator's router over `handle`.
pub(crate) fn router(handle: SimHandle) -> Router {
    Router::new()
        .route("/_sim/requests", get(admin_requests))
        .route("/_sim/state", get(admin_state))
        .route(
            "/_sim/faults",
            get(admin_faults)
                .post(admin_add_fault)
                .delete(admin_clear_faults),
        )
        .route("/_sim/reset", post(admin_reset))
        .route("/_sim/expire-tokens", post(admin_expire_tokens))
        .route("/_sim/clock", post(admin_advance_clock))
        .fallback(feishu_api)
        .with_state(handle)
}

/// Header names and values, lower-case, without `authorization`.
fn recorded_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut recorded = BTreeMap::new();
    for (name, value) in headers {
        if name == header::AUTHORIZATION {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded
            .entry(name.as_str().to_owned())
            .and_modify(|existing: &mut String| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    recorded
}

/// Every request outside the admin routes: Feishu's APIs, or a Feishu-style 404.
async fn feishu_api(
    State(sim): State<SimHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if path.starts_with(ADMIN_PREFIX) {
        return admin_error(StatusCode::NOT_FOUND, "no such admin endpoint");
    }
    let route = Route::from_path(path).filter(|_| method == Method::POST);
    let (seq, log_id, fault) = {
        let mut state = sim.lock();
        let (seq, log_id) = state.begin_request();
        let fault = route.and_then(|_| state.take_fault(path));
        (seq, log_id, fault)
    };
    if let Some(slow) = fault.filter(|fault| fault.kind == FaultKind::Slow) {
        tokio::time::sleep(Duration::from_millis(slow.delay_ms)).await;
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let reply = {
        let mut state = sim.lock();
        let reply = match route {
            Some(route) => state.handle(route, fault, authorization, &body),
            None => Reply::error(&ApiError::NotFound),
        };
        let at_ms = state.now_ms();
        state.record(RecordedRequest {
            seq,
            at_ms,
            method: method.to_string(),
            path: path.to_owned(),
            query: uri.query().map(str::to_owned),
            headers: recorded_headers(&headers),
            body: recorded_body(&body),
            http_status: reply.status().as_u16(),
            code: reply.code(),
            fault: fault.map(|fault| fault.kind),
            log_id: log_id.clone(),
        });
        reply
    };
    tracing::info!(
        %method,
        path,
        status = reply.status().as_u16(),
        code = reply.code(),
        fault = ?fault.map(|fault| fault.kind),
        "feishu-sim request"
    );
    reply.into_response(&log_id)
}

fn admin_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

fn admin_ok() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

/// `GET /_sim/requests?path=…`
#[derive(Debug, Deserialize)]
struct RequestFilter {
    path: Option<String>,
}

async fn admin_requests(
    State(sim): State<SimHandle>,
    Query(filter): Query<RequestFilter>,
) -> Response {
    let requests = match filter.path.as_deref() {
        Some(path) => sim.requests_to(path),
        None => sim.requests(),
    };
    axum::Json(requests).into_response()
}

async fn admin_state(State(sim): State<SimHandle>) -> Response {
    axum::Json(sim.state()).into_response()
}

async fn admin_faults(State(sim): State<SimHandle>) -> Response {
    axum::Json(sim.faults()).into_response()
}

async fn admin_add_fault(State(sim): State<SimHandle>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultCommand>(&body) {
        Ok(command) => {
            sim.inject_fault(command);
            axum::Json(sim.faults()).into_response()
        }
        Err(error) => admin_error(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

async fn admin_clear_faults(State(sim): State<SimHandle>) -> Response {
    sim.clear_faults();
    admin_ok()
}

async fn admin_reset(State(sim): State<SimHandle>) -> Response {
    sim.reset();
    admin_ok()
}

async fn admin_expire_tokens(State(sim): State<SimHandle>) -> Response {
    sim.expire_tokens();
    admin_ok()
}

/// `POST /_sim/clock` body.
#[derive(Debug, Deserialize)]
struct ClockAdvance {
    advance_secs: u64,
}

async fn admin_advance_clock(State(sim): State<SimHandle>, body: Bytes) -> Response {
    match serde_json::from_slice::<ClockAdvance>(&body) {
        Ok(advance) => {
            sim.advance_clock(Duration::from_secs(advance.advance_secs));
            axum::Json(json!({"now_ms": sim.state().now_ms})).into_response()
        }
        Err(_) => admin_error(
            StatusCode::BAD_REQUEST,
            "expected {\"advance_secs\": <non-negative integer>}",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_exact_paths_only() {
        assert_eq!(Route::from_path(TOKEN_PATH), Some(Route::TenantToken));
        assert_eq!(
            Route::from_path(CHECK_INSTANCES_PATH),
            Some(Route::Api(ApiRoute::CheckInstances))
        );
        assert_eq!(
            Route::from_path("/open-apis/approval/v4/external_instances/"),
            None
        );
        assert_eq!(Route::from_path("/approval/openapi/v1/message/send"), None);
    }
}
