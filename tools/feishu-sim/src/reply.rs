//! Feishu's answers: the `{"code","msg","data"}` envelope, the `error` block with `log_id` and
//! `field_violations`, the HTTP status each error code comes with, and the `X-Tt-Logid` header.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::schema::Violation;

/// Where Feishu's error messages point for the token errors.
const TOKEN_TROUBLESHOOTING: &str =
    "https://open.feishu.cn/document/faq/trouble-shooting/how-to-fix-99991663-error";

/// Every way a simulated Feishu API call fails; each variant is one Feishu error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ApiError {
    /// 99991661: no `Authorization: Bearer …` header.
    #[error("Missing access token for authorization. Please make a request with token attached.")]
    MissingToken,
    /// 99991671: a bearer token without the `t-`/`u-` prefix.
    #[error("Invalid token: must start with t-/u-")]
    MalformedToken,
    /// 99991663: unknown, expired or revoked token (HTTP 400, or 200 when injected as a fault).
    #[error("Invalid access token for authorization. Please make a request with token attached.")]
    InvalidToken {
        /// Answer with HTTP 200, as Feishu has been seen to do.
        http_ok: bool,
    },
    /// 10003: the token request lacks `app_id`/`app_secret` or names an unknown app.
    #[error("invalid param")]
    InvalidAppParam,
    /// 10014: the app secret does not match the app.
    #[error("app secret invalid")]
    WrongAppSecret,
    /// 9499: the body is not a JSON object.
    #[error("Bad Request")]
    MalformedBody,
    /// 9499: a field has the wrong JSON type.
    #[error("Invalid parameter type in json: {0}")]
    ParameterType(&'static str),
    /// 99992402: required fields missing or values out of range, one nesting layer at a time.
    #[error("field validation failed")]
    FieldValidation(Vec<Violation>),
    /// 1390001: a semantically invalid parameter.
    #[error("{0}")]
    InvalidParam(String),
    /// 1390002: the approval code is not a system-generated definition code.
    #[error("approval code not found")]
    ApprovalCodeNotFound,
    /// 60001: a bot-message API rejected the request (always with HTTP 200).
    #[error("{0}")]
    BotMessage(String),
    /// 99991400: rate limited (HTTP 429 with `x-ogw-ratelimit-*` headers).
    #[error("request trigger frequency limit")]
    RateLimited {
        /// The limit met (`x-ogw-ratelimit-limit`).
        limit: u32,
        /// Seconds until the limit resets (`x-ogw-ratelimit-reset`); `None` leaves the header out.
        reset_secs: Option<u64>,
    },
    /// 1395001: Feishu's transient server error.
    #[error("There have been some errors. Please try again later")]
    ServerBusy,
    /// HTTP 500 from the gateway.
    #[error("Internal Server Error")]
    Internal,
    /// No such API (HTTP 404), including a wrong method on a known path.
    #[error("404 page not found")]
    NotFound,
}

impl ApiError {
    /// The body `code`.
    pub(crate) fn code(&self) -> i64 {
        match self {
            Self::MissingToken => 99_991_661,
            Self::MalformedToken => 99_991_671,
            Self::InvalidToken { .. } => 99_991_663,
            Self::InvalidAppParam => 10_003,
            Self::WrongAppSecret => 10_014,
            Self::MalformedBody | Self::ParameterType(_) => 9_499,
            Self::FieldValidation(_) => 99_992_402,
            Self::InvalidParam(_) => 1_390_001,
            Self::ApprovalCodeNotFound => 1_390_002,
            Self::BotMessage(_) => 60_001,
            Self::RateLimited { .. } => 99_991_400,
            Self::ServerBusy => 1_395_001,
            Self::Internal => 1,
            Self::NotFound => 404,
        }
    }

    /// The HTTP status Feishu pairs with this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::InvalidToken { http_ok: true } | Self::BotMessage(_) => StatusCode::OK,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The long-form `error.message`.
    fn detail_message(&self) -> String {
        match self {
            Self::MissingToken | Self::MalformedToken | Self::InvalidToken { .. } => format!(
                "Please check whether the token is valid and attached. Refer to the documentation: {TOKEN_TROUBLESHOOTING}"
            ),
            other => other.to_string(),
        }
    }
}

/// One answer of the simulated API, before the log id is attached.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Map<String, Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// `{"code":0,"msg":"success","data":data}`.
    pub(crate) fn success(data: Value) -> Self {
        let mut body = Map::new();
        body.insert("code".into(), json!(0));
        body.insert("msg".into(), json!("success"));
        body.insert("data".into(), data);
        Self::with_body(StatusCode::OK, body)
    }

    /// A success whose fields sit next to `code` instead of inside `data` (the token endpoint).
    pub(crate) fn flat_success(msg: &str, fields: Map<String, Value>) -> Self {
        let mut body = Map::new();
        body.insert("code".into(), json!(0));
        body.insert("msg".into(), json!(msg));
        body.extend(fields);
        Self::with_body(StatusCode::OK, body)
    }

    /// The envelope for `error` (`error.log_id` is added by [`Reply::into_response`]).
    pub(crate) fn error(error: &ApiError) -> Self {
        let mut detail = Map::new();
        detail.insert("message".into(), json!(error.detail_message()));
        if let ApiError::FieldValidation(violations) = error {
            let list: Vec<Value> = violations.iter().map(Violation::to_json).collect();
            detail.insert("field_violations".into(), Value::Array(list));
        }
        let mut body = Map::new();
        body.insert("code".into(), json!(error.code()));
        body.insert("msg".into(), json!(error.to_string()));
        body.insert("error".into(), Value::Object(detail));
        let mut reply = Self::with_body(error.status(), body);
        if let ApiError::RateLimited { limit, reset_secs } = error {
            reply
                .headers
                .push(("x-ogw-ratelimit-limit", limit.to_string()));
            if let Some(reset_secs) = reset_secs {
                reply
                    .headers
                    .push(("x-ogw-ratelimit-reset", reset_secs.to_string()));
            }
        }
        reply
    }

    fn with_body(status: StatusCode, body: Map<String, Value>) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The body `code`.
    pub(crate) fn code(&self) -> i64 {
        self.body.get("code").and_then(Value::as_i64).unwrap_or(0)
    }

    /// Status, headers and JSON body: `error.log_id` on failures, `content-type`,
    /// `X-Tt-Logid` and `X-Request-Id`.
    pub(crate) fn into_parts(
        mut self,
        log_id: &str,
    ) -> (StatusCode, Vec<(&'static str, String)>, Vec<u8>) {
        if let Some(Value::Object(detail)) = self.body.get_mut("error") {
            detail.insert("log_id".into(), json!(log_id));
        }
        let body = Value::Object(self.body).to_string().into_bytes();
        let mut headers = vec![("content-type", "application/json".to_owned())];
        headers.extend(self.headers);
        headers.push(("x-tt-logid", log_id.to_owned()));
        headers.push(("x-request-id", log_id.to_owned()));
        (self.status, headers, body)
    }

    /// The HTTP response of [`Reply::into_parts`].
    pub(crate) fn into_response(self, log_id: &str) -> Response {
        let (status, headers, body) = self.into_parts(log_id);
        let mut response = (status, body).into_response();
        let response_headers = response.headers_mut();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response_headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_message_errors_come_with_http_200() {
        let error = ApiError::BotMessage("no Status error".into());
        assert_eq!(error.status(), StatusCode::OK);
        assert_eq!(error.code(), 60_001);
    }

    #[test]
    fn injected_token_errors_can_carry_http_200() {
        assert_eq!(
            ApiError::InvalidToken { http_ok: true }.status(),
            StatusCode::OK
        );
        assert_eq!(
            ApiError::InvalidToken { http_ok: false }.status(),
            StatusCode::BAD_REQUEST
        );
    }
}
