//! The HTTP surface: Feishu's API paths (anything outside `/_sim/`) and the `/_sim/` admin API.
//! Feishu's APIs run through the same pipeline as [`SimHandle::exchange`](crate::SimHandle::exchange);
//! only the transport is added here (sleeping a slow fault, dropping a lost answer).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::cards::{Tap, TapError, TapOutcome};
use crate::exchange::{ApiCall, FaultSource};
use crate::faults::FaultCommand;
use crate::handle::SimHandle;
use crate::instances::RollbackError;

/// Prefix of the test and admin API.
const ADMIN_PREFIX: &str = "/_sim/";

/// Marks a response whose answer is lost: the connection is closed instead of sending it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerLost;

/// The simulator's router over `handle`.
pub(crate) fn router(handle: SimHandle) -> Router {
    Router::new()
        .route("/_sim/requests", get(admin_requests))
        .route("/_sim/state", get(admin_state))
        .route("/_sim/cards", get(admin_cards))
        .route("/_sim/cards/{message_id}", get(admin_card))
        .route("/_sim/cards/{message_id}/tap", post(admin_tap))
        .route(
            "/_sim/cards/{message_id}/taps/{tap}",
            post(admin_settle_tap),
        )
        .route(
            "/_sim/instances/{instance_id}",
            get(admin_instance).delete(admin_forget_instance),
        )
        .route(
            "/_sim/instances/{instance_id}/versions",
            get(admin_instance_versions),
        )
        .route(
            "/_sim/instances/{instance_id}/rollback",
            post(admin_roll_back_instance),
        )
        .route(
            "/_sim/settings",
            get(admin_settings).post(admin_change_settings),
        )
        .route(
            "/_sim/faults",
            get(admin_faults)
                .post(admin_add_fault)
                .delete(admin_clear_faults),
        )
        .route("/_sim/rate-counters", get(admin_rate_counters))
        .route("/_sim/reset", post(admin_reset))
        .route("/_sim/expire-tokens", post(admin_expire_tokens))
        .route("/_sim/clock", post(admin_advance_clock))
        .fallback(feishu_api)
        .with_state(handle)
}

/// Every request outside the admin routes: Feishu's APIs, or a Feishu-style 404.
async fn feishu_api(
    State(sim): State<SimHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with(ADMIN_PREFIX) {
        return admin_error(StatusCode::NOT_FOUND, "no such admin endpoint");
    }
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |path_and_query| path_and_query.as_str());
    let mut call = ApiCall::new(method.as_str(), path_and_query, &body);
    for (name, value) in &headers {
        call.add_header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    let admission = sim.lock().admit(&call, FaultSource::Rules);
    let delay = admission.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let answer = sim.lock().answer(&call, admission);
    let lost = answer.lost;
    let mut response = answer.reply.into_response(&answer.log_id);
    if lost {
        response.extensions_mut().insert(AnswerLost);
    }
    response
}

fn admin_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

fn admin_ok() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

fn admin_json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// A 400 naming what is wrong with an admin request body.
fn bad_request(error: &serde_json::Error) -> Response {
    admin_error(StatusCode::BAD_REQUEST, &error.to_string())
}

fn tap_error(error: &TapError) -> Response {
    let status = match error {
        TapError::UnknownCard(_) | TapError::UnknownTap(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    };
    admin_error(status, &error.to_string())
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

async fn admin_cards(State(sim): State<SimHandle>) -> Response {
    admin_json(&sim.cards())
}

async fn admin_card(State(sim): State<SimHandle>, Path(message_id): Path<String>) -> Response {
    match sim.card(&message_id) {
        Some(card) => admin_json(&card),
        None => tap_error(&TapError::UnknownCard(message_id)),
    }
}

async fn admin_tap(
    State(sim): State<SimHandle>,
    Path(message_id): Path<String>,
    body: Bytes,
) -> Response {
    let tap: Tap = match serde_json::from_slice(&body) {
        Ok(tap) => tap,
        Err(error) => return bad_request(&error),
    };
    match sim.tap(&message_id, &tap) {
        Ok(callback) => admin_json(&callback),
        Err(error) => tap_error(&error),
    }
}

/// `POST /_sim/cards/{message_id}/taps/{tap}` body: the outcome, or the callback's HTTP status.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TapSettlement {
    outcome: Option<TapOutcome>,
    http_status: Option<u16>,
}

async fn admin_settle_tap(
    State(sim): State<SimHandle>,
    Path((message_id, tap)): Path<(String, u32)>,
    body: Bytes,
) -> Response {
    let settlement: TapSettlement = match serde_json::from_slice(&body) {
        Ok(settlement) => settlement,
        Err(error) => return bad_request(&error),
    };
    let outcome = match (settlement.outcome, settlement.http_status) {
        (Some(outcome), None) => outcome,
        (None, Some(status)) => TapOutcome::from_http_status(status),
        _ => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "expected {\"outcome\": \"succeeded\"|\"failed\"} or {\"http_status\": <status>}",
            );
        }
    };
    match sim.settle_tap(&message_id, tap, outcome) {
        Ok(card) => admin_json(&card),
        Err(error) => tap_error(&error),
    }
}

fn rollback_error(error: &RollbackError) -> Response {
    admin_error(StatusCode::NOT_FOUND, &error.to_string())
}

async fn admin_instance(State(sim): State<SimHandle>, Path(instance_id): Path<String>) -> Response {
    match sim.instance(&instance_id) {
        Some(instance) => admin_json(&instance),
        None => rollback_error(&RollbackError::UnknownInstance(instance_id)),
    }
}

async fn admin_forget_instance(
    State(sim): State<SimHandle>,
    Path(instance_id): Path<String>,
) -> Response {
    match sim.forget_instance(&instance_id) {
        Some(forgotten) => admin_json(&forgotten),
        None => rollback_error(&RollbackError::UnknownInstance(instance_id)),
    }
}

async fn admin_instance_versions(
    State(sim): State<SimHandle>,
    Path(instance_id): Path<String>,
) -> Response {
    admin_json(&sim.instance_versions(&instance_id))
}

/// `POST /_sim/instances/{instance_id}/rollback` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: u32,
}

async fn admin_roll_back_instance(
    State(sim): State<SimHandle>,
    Path(instance_id): Path<String>,
    body: Bytes,
) -> Response {
    let rollback: Rollback = match serde_json::from_slice(&body) {
        Ok(rollback) => rollback,
        Err(error) => return bad_request(&error),
    };
    match sim.roll_back_instance(&instance_id, rollback.version) {
        Ok(instance) => admin_json(&instance),
        Err(error) => rollback_error(&error),
    }
}

async fn admin_settings(State(sim): State<SimHandle>) -> Response {
    admin_json(&sim.settings())
}

async fn admin_change_settings(State(sim): State<SimHandle>, body: Bytes) -> Response {
    let changes: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(changes) => changes,
        Err(error) => return bad_request(&error),
    };
    let mut state = sim.lock();
    match state.settings().merged(changes) {
        Ok(settings) => {
            state.set_settings(settings);
            admin_json(&settings)
        }
        Err(error) => admin_error(StatusCode::BAD_REQUEST, &error.to_string()),
    }
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

async fn admin_rate_counters(State(sim): State<SimHandle>) -> Response {
    admin_json(&sim.rate_counters())
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
