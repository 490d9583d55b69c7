//! One run of a function on the function runner (`cargo lambda watch`), classified as Lambda
//! classifies it.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

use crate::api::{CLIENT_CONTEXT_HEADER, FUNCTION_ERROR_HEADER, INVOCATION_TYPE_HEADER};
use crate::config::AsyncConfig;

/// How long connecting to the runner may take; a refused or slow connection is a runner
/// problem, not a function failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The function error Lambda reports for errors raised by the runtime and for timeouts.
const UNHANDLED: &str = "Unhandled";

/// What one run of the function came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RunOutcome {
    /// The function returned `payload`.
    Succeeded {
        /// The function's result.
        payload: Bytes,
    },
    /// The function ran and failed, or timed out: this counts as an attempt.
    FunctionFailed {
        /// The `X-Amz-Function-Error` value (`Unhandled`).
        function_error: String,
        /// The error object (`{"errorType", "errorMessage"}`).
        payload: Bytes,
    },
    /// The runner does not know the function.
    FunctionNotFound,
    /// The runner could not run the function (unreachable, throttled, or an answer that is
    /// neither a result nor a function error). Lambda retries such failures until the event is
    /// too old, without counting them as attempts.
    RunnerUnavailable {
        /// Why, without any payload text.
        reason: String,
    },
}

/// Runs functions on the runner's Invoke API, synchronously.
#[derive(Debug, Clone)]
pub(crate) struct FunctionRunner {
    client: reqwest::Client,
}

impl FunctionRunner {
    /// A runner client whose runs time out after `config.function_timeout`.
    pub(crate) fn new(config: &AsyncConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.function_timeout)
            .build()?;
        Ok(Self { client })
    }

    /// Runs `function` once with `payload`; `request_id` names the invocation in a timeout error.
    pub(crate) async fn run(
        &self,
        config: &AsyncConfig,
        function: &str,
        request_id: &str,
        payload: Bytes,
        client_context: Option<&HeaderValue>,
    ) -> RunOutcome {
        let mut request = self
            .client
            .post(config.invoke_url(function))
            .header(INVOCATION_TYPE_HEADER, "RequestResponse")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload);
        if let Some(context) = client_context {
            request = request.header(CLIENT_CONTEXT_HEADER, context);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return classify_transport_error(&error, request_id, config),
        };
        let status = response.status();
        let function_error = response
            .headers()
            .get(FUNCTION_ERROR_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return classify_transport_error(&error, request_id, config),
        };
        classify_answer(status, function_error, body)
    }
}

/// Classifies the runner's answer. Lambda answers a function error with `200` and
/// `X-Amz-Function-Error`; `cargo lambda watch` answers it with `500` and the runtime's error
/// object (`{"errorType", "errorMessage"}`) and no header. Both count as function errors.
fn classify_answer(status: StatusCode, function_error: Option<String>, body: Bytes) -> RunOutcome {
    if status.is_success() {
        return match function_error {
            Some(function_error) => RunOutcome::FunctionFailed {
                function_error,
                payload: body,
            },
            None => RunOutcome::Succeeded { payload: body },
        };
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR && is_runtime_error_object(&body) {
        return RunOutcome::FunctionFailed {
            function_error: function_error.unwrap_or_else(|| UNHANDLED.to_owned()),
            payload: body,
        };
    }
    if status == StatusCode::NOT_FOUND {
        return RunOutcome::FunctionNotFound;
    }
    RunOutcome::RunnerUnavailable {
        reason: format!("the runner answered HTTP {}", status.as_u16()),
    }
}

/// Whether `body` is a runtime's error object: a JSON object with a string `errorType`.
fn is_runtime_error_object(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|value| value.get("errorType").is_some_and(Value::is_string))
}

/// A failed request: a timeout is the function's (Lambda reports `Sandbox.Timedout`), anything
/// else is the runner's.
fn classify_transport_error(
    error: &reqwest::Error,
    request_id: &str,
    config: &AsyncConfig,
) -> RunOutcome {
    if error.is_timeout() && !error.is_connect() {
        let seconds = config.function_timeout.as_secs_f64();
        let payload = json!({
            "errorType": "Sandbox.Timedout",
            "errorMessage": format!(
                "RequestId: {request_id} Error: Task timed out after {seconds:.2} seconds"
            ),
        });
        return RunOutcome::FunctionFailed {
            function_error: UNHANDLED.to_owned(),
            payload: Bytes::from(payload.to_string()),
        };
    }
    let reason = if error.is_connect() {
        "the runner is unreachable"
    } else {
        "the request to the runner failed"
    };
    RunOutcome::RunnerUnavailable {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERROR_OBJECT: &str = r#"{"errorType":"FeishuUnavailable","errorMessage":"HTTP 500"}"#;

    #[test]
    fn a_plain_200_is_a_result() {
        assert_eq!(
            classify_answer(StatusCode::OK, None, Bytes::from_static(b"{\"ok\":1}")),
            RunOutcome::Succeeded {
                payload: Bytes::from_static(b"{\"ok\":1}")
            }
        );
    }

    #[test]
    fn lambdas_function_error_header_and_watchs_500_are_function_errors() {
        let lambda_style = classify_answer(
            StatusCode::OK,
            Some("Unhandled".to_owned()),
            Bytes::from_static(ERROR_OBJECT.as_bytes()),
        );
        let watch_style = classify_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            Bytes::from_static(ERROR_OBJECT.as_bytes()),
        );
        let expected = RunOutcome::FunctionFailed {
            function_error: "Unhandled".to_owned(),
            payload: Bytes::from_static(ERROR_OBJECT.as_bytes()),
        };
        assert_eq!(lambda_style, expected);
        assert_eq!(watch_style, expected);
    }

    #[test]
    fn other_failures_are_the_runners() {
        assert_eq!(
            classify_answer(StatusCode::NOT_FOUND, None, Bytes::new()),
            RunOutcome::FunctionNotFound
        );
        for (status, body) in [
            (StatusCode::INTERNAL_SERVER_ERROR, "{\"title\":\"oops\"}"),
            (StatusCode::INTERNAL_SERVER_ERROR, "not json"),
            (StatusCode::TOO_MANY_REQUESTS, ""),
            (StatusCode::BAD_GATEWAY, ERROR_OBJECT),
        ] {
            assert!(
                matches!(
                    classify_answer(status, None, Bytes::from(body)),
                    RunOutcome::RunnerUnavailable { .. }
                ),
                "{status} {body}"
            );
        }
    }
}
