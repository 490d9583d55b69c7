//! Turning one HTTP response from Feishu into a value or a [`FeishuError`].
//!
//! The body `code` decides, whatever the HTTP status: Feishu reports token and validation errors
//! with HTTP 200, and rate limits with 429 or (legacy APIs) 400.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::IgnoredAny;

use super::error::{ApiFailure, FeishuError, RATE_LIMITED_CODE};
use crate::models::envelope::ApiResponse;

/// Header carrying Feishu's log id.
const LOG_ID_HEADER: &str = "x-tt-logid";

/// Header carrying the seconds to wait after a rate limit.
const RATE_LIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";

/// What the headers of a response say, read before the body is consumed.
#[derive(Debug, Default)]
pub(super) struct ResponseHeaders {
    /// `X-Tt-Logid`.
    pub log_id: Option<String>,
    /// `x-ogw-ratelimit-reset`, as a wait.
    pub rate_limit_reset: Option<Duration>,
}

impl ResponseHeaders {
    /// Reads the headers that matter; unreadable values count as absent.
    pub fn read(headers: &HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        Self {
            log_id: text(LOG_ID_HEADER).map(str::to_owned),
            rate_limit_reset: text(RATE_LIMIT_RESET_HEADER)
                .and_then(|seconds| seconds.parse::<u64>().ok())
                .map(Duration::from_secs),
        }
    }
}

/// A successful answer: the value read from it and what identifies it.
#[derive(Debug)]
pub(super) struct Answer<T> {
    /// What `extract` read from the body.
    pub value: T,
    /// The HTTP status (2xx).
    pub status: u16,
    /// Feishu's log id, from the `X-Tt-Logid` header.
    pub log_id: Option<String>,
}

/// Interprets a response of `path`. On success (`code == 0` and a 2xx status), `extract` reads
/// the value from the body, or names what the body lacks.
pub(super) fn interpret<T>(
    path: &'static str,
    status: StatusCode,
    headers: ResponseHeaders,
    body: &[u8],
    extract: impl FnOnce(&[u8]) -> Result<T, &'static str>,
) -> Result<Answer<T>, FeishuError> {
    let rate_limited = |code, log_id| FeishuError::RateLimited {
        path,
        status: status.as_u16(),
        code,
        retry_after: headers.rate_limit_reset,
        log_id,
    };
    let Ok(envelope) = serde_json::from_slice::<ApiResponse<IgnoredAny>>(body) else {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(rate_limited(None, headers.log_id.clone()));
        }
        return Err(FeishuError::UnexpectedResponse {
            path,
            status: status.as_u16(),
            problem: "a body that is not a Feishu response envelope",
            log_id: headers.log_id,
        });
    };
    let ApiResponse {
        code, msg, error, ..
    } = envelope;
    let error = error.unwrap_or_default();
    let log_id = error.log_id.or_else(|| headers.log_id.clone());

    if code == 0 && status.is_success() {
        return match extract(body) {
            Ok(value) => Ok(Answer {
                value,
                status: status.as_u16(),
                log_id,
            }),
            Err(problem) => Err(FeishuError::UnexpectedResponse {
                path,
                status: status.as_u16(),
                problem,
                log_id,
            }),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS || code == RATE_LIMITED_CODE {
        return Err(rate_limited(Some(code), log_id));
    }
    Err(ApiFailure {
        path,
        status: status.as_u16(),
        code,
        msg,
        log_id,
        field_violations: error.field_violations,
        permission_violations: error.permission_violations,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const PATH: &str = "/open-apis/approval/v4/external_instances";

    fn read_data(body: &[u8]) -> Result<String, &'static str> {
        serde_json::from_slice::<ApiResponse<String>>(body)
            .ok()
            .and_then(|response| response.data)
            .ok_or("no data")
    }

    fn run(status: u16, headers: ResponseHeaders, body: &str) -> Result<String, FeishuError> {
        let status = StatusCode::from_u16(status).unwrap();
        interpret(PATH, status, headers, body.as_bytes(), read_data).map(|answer| answer.value)
    }

    #[test]
    fn a_success_keeps_its_status_and_log_id() {
        let headers = ResponseHeaders {
            log_id: Some("LOG-OK".to_owned()),
            rate_limit_reset: None,
        };
        let body = br#"{"code":0,"msg":"success","data":"x"}"#;
        let answer = interpret(PATH, StatusCode::OK, headers, body, read_data).unwrap();
        assert_eq!(answer.value, "x");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.log_id.as_deref(), Some("LOG-OK"));
    }

    #[test]
    fn reads_the_headers_that_matter() {
        let mut map = HeaderMap::new();
        map.insert("X-Tt-Logid", HeaderValue::from_static("LOG-H"));
        map.insert("x-ogw-ratelimit-reset", HeaderValue::from_static(" 3 "));
        let headers = ResponseHeaders::read(&map);
        assert_eq!(headers.log_id.as_deref(), Some("LOG-H"));
        assert_eq!(headers.rate_limit_reset, Some(Duration::from_secs(3)));

        map.insert("x-ogw-ratelimit-reset", HeaderValue::from_static("soon"));
        assert_eq!(ResponseHeaders::read(&map).rate_limit_reset, None);
    }

    #[test]
    fn success_needs_code_zero_and_a_2xx_status() {
        assert_eq!(
            run(
                200,
                ResponseHeaders::default(),
                r#"{"code":0,"msg":"ok","data":"x"}"#
            )
            .unwrap(),
            "x"
        );
        let error = run(
            404,
            ResponseHeaders::default(),
            r#"{"code":0,"msg":"","data":"x"}"#,
        )
        .unwrap_err();
        assert_eq!(error.http_status(), Some(404));
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_failure_code_with_http_200_is_a_failure() {
        let body = r#"{"code":99991663,"msg":"Invalid access token","error":{"log_id":"LOG-B"}}"#;
        let error = run(200, ResponseHeaders::default(), body).unwrap_err();
        assert!(error.is_token_rejected());
        assert_eq!(error.log_id(), Some("LOG-B"));
    }

    #[test]
    fn the_body_log_id_wins_over_the_header() {
        let headers = || ResponseHeaders {
            log_id: Some("LOG-H".to_owned()),
            rate_limit_reset: None,
        };
        let with_body_id =
            r#"{"code":1390001,"msg":"param is invalid","error":{"log_id":"LOG-B"}}"#;
        assert_eq!(
            run(400, headers(), with_body_id).unwrap_err().log_id(),
            Some("LOG-B")
        );
        let without = r#"{"code":1390001,"msg":"param is invalid"}"#;
        assert_eq!(
            run(400, headers(), without).unwrap_err().log_id(),
            Some("LOG-H")
        );
    }

    #[test]
    fn rate_limits_are_recognised_by_status_or_code() {
        let headers = || ResponseHeaders {
            log_id: None,
            rate_limit_reset: Some(Duration::from_secs(2)),
        };
        for (status, body) in [
            (429, "Too Many Requests"),
            (
                429,
                r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
            ),
            (
                400,
                r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
            ),
        ] {
            let error = run(status, headers(), body).unwrap_err();
            assert!(
                matches!(error, FeishuError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(2)),
                "{status} {body}: {error:?}"
            );
        }
    }

    #[test]
    fn unreadable_bodies_are_retryable_only_on_server_errors() {
        let gateway = run(502, ResponseHeaders::default(), "<html>Bad Gateway</html>").unwrap_err();
        assert!(matches!(gateway, FeishuError::UnexpectedResponse { .. }));
        assert!(gateway.is_retryable());
        let proxy = run(200, ResponseHeaders::default(), "<html>login</html>").unwrap_err();
        assert!(!proxy.is_retryable());
    }

    #[test]
    fn a_success_without_the_expected_payload_names_the_problem() {
        let error = run(200, ResponseHeaders::default(), r#"{"code":0,"msg":"ok"}"#).unwrap_err();
        assert!(matches!(
            error,
            FeishuError::UnexpectedResponse {
                problem: "no data",
                ..
            }
        ));
    }
}
