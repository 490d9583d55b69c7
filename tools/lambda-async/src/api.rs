//! Lambda Invoke API wire details: function names, invocation types, request ids and the
//! error answers clients (the AWS SDKs) understand.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The header naming the invocation type.
pub(crate) const INVOCATION_TYPE_HEADER: &str = "x-amz-invocation-type";
/// The header carrying the request id of an invocation.
pub(crate) const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// The header telling a client that the function failed.
pub(crate) const FUNCTION_ERROR_HEADER: &str = "x-amz-function-error";
/// The header naming the version that ran.
pub(crate) const EXECUTED_VERSION_HEADER: &str = "x-amz-executed-version";
/// The header carrying the client context of a synchronous invocation.
pub(crate) const CLIENT_CONTEXT_HEADER: &str = "x-amz-client-context";
/// The header naming the error type of an API error.
const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";
/// The version every invocation runs: the emulator has no versions or aliases.
pub(crate) const LATEST: &str = "$LATEST";

/// Lambda's payload limit for `Event` invocations (1 MB since October 2025).
pub(crate) const EVENT_PAYLOAD_LIMIT: usize = 1024 * 1024;
/// Lambda's payload limit for `RequestResponse` invocations.
pub(crate) const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// How the caller wants the function invoked (`X-Amz-Invocation-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvocationType {
    /// Queue the event and answer `202` at once.
    Event,
    /// Run the function and answer its result (the default).
    RequestResponse,
    /// Only check that the invoke would be accepted: `204`.
    DryRun,
}

impl InvocationType {
    /// The invocation type named by the request's headers.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        match headers.get(INVOCATION_TYPE_HEADER).map(HeaderValue::to_str) {
            None => Ok(Self::RequestResponse),
            Some(Ok("Event")) => Ok(Self::Event),
            Some(Ok("RequestResponse")) => Ok(Self::RequestResponse),
            Some(Ok("DryRun")) => Ok(Self::DryRun),
            Some(_) => Err(ApiError::InvalidInvocationType),
        }
    }
}

/// Extracts the function name from the `FunctionName` path parameter: a name, a name with a
/// qualifier (`name:alias`), a partial ARN (`123456789012:function:name`) or a full ARN
/// (`arn:aws:lambda:region:account:function:name[:qualifier]`).
pub(crate) fn function_name(reference: &str) -> Result<&str, ApiError> {
    let parts: Vec<&str> = reference.split(':').collect();
    let name = match parts.as_slice() {
        [name] | [name, _] => *name,
        [_, "function", name] | [_, "function", name, _] => *name,
        ["arn", _, "lambda", _, _, "function", name]
        | ["arn", _, "lambda", _, _, "function", name, _] => *name,
        _ => return Err(ApiError::InvalidFunctionName),
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(name)
    } else {
        Err(ApiError::InvalidFunctionName)
    }
}

/// A fresh request id in Lambda's format (a random UUID, version 4).
pub(crate) fn new_request_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An invoke the emulator refuses, answered as Lambda's API answers it: the error type in
/// `x-amzn-ErrorType` and a JSON body `{"Type", "message"}`. Messages never quote the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// The `FunctionName` path parameter is not a valid name or ARN.
    #[error("the function name is not a valid function name or ARN")]
    InvalidFunctionName,
    /// `X-Amz-Invocation-Type` is not `Event`, `RequestResponse` or `DryRun`.
    #[error(
        "1 validation error detected: Value at 'invocationType' failed to satisfy constraint: \
         Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
    )]
    InvalidInvocationType,
    /// The function is not one the emulator knows.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    /// The payload is over the invocation type's limit.
    #[error("Request must be smaller than {limit} bytes for the {invocation} invocation type")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// The invocation type's name.
        invocation: &'static str,
    },
    /// The payload is not JSON.
    #[error("Could not parse request body into json")]
    PayloadNotJson,
    /// The function runner could not be reached or answered something unusable.
    #[error("The function runner is unavailable: {0}")]
    RunnerUnavailable(String),
}

impl ApiError {
    fn status_and_type(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::InvalidFunctionName | Self::InvalidInvocationType => {
                (StatusCode::BAD_REQUEST, "ValidationException", "User")
            }
            Self::FunctionNotFound(_) => {
                (StatusCode::NOT_FOUND, "ResourceNotFoundException", "User")
            }
            Self::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                "User",
            ),
            Self::PayloadNotJson => (
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "User",
            ),
            Self::RunnerUnavailable(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "Service",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type, fault) = self.status_and_type();
        let body = json!({"Type": fault, "message": self.to_string()}).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(ERROR_TYPE_HEADER, HeaderValue::from_static(error_type));
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_function_name_form() {
        for reference in [
            "approval-sync",
            "approval-sync:live",
            "123456789012:function:approval-sync",
            "123456789012:function:approval-sync:7",
            "arn:aws:lambda:us-east-1:123456789012:function:approval-sync",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:approval-sync:$LATEST",
        ] {
            assert_eq!(function_name(reference), Ok("approval-sync"), "{reference}");
        }
    }

    #[test]
    fn refuses_malformed_function_names() {
        for reference in [
            "",
            "approval sync",
            "a:b:c:d:e",
            "arn:aws:s3:us-east-1:123456789012:function:x",
            &"x".repeat(65),
        ] {
            assert_eq!(
                function_name(reference),
                Err(ApiError::InvalidFunctionName),
                "{reference}"
            );
        }
    }

    #[test]
    fn reads_the_invocation_type_defaulting_to_request_response() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            InvocationType::from_headers(&headers),
            Ok(InvocationType::RequestResponse)
        );
        for (value, expected) in [
            ("Event", Ok(InvocationType::Event)),
            ("DryRun", Ok(InvocationType::DryRun)),
            ("event", Err(ApiError::InvalidInvocationType)),
        ] {
            headers.insert(INVOCATION_TYPE_HEADER, HeaderValue::from_static(value));
            assert_eq!(InvocationType::from_headers(&headers), expected);
        }
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn errors_carry_lambdas_error_type_header() {
        let response = ApiError::FunctionNotFound("arn:x".to_owned()).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[ERROR_TYPE_HEADER],
            "ResourceNotFoundException"
        );
    }
}
