//! [`InvocationRecord`]: what Lambda sends to an on-failure destination.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lambda's invocation record for a failed asynchronous invocation, as sent to an on-failure
/// destination (field names as Lambda writes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    /// The record format version, `1.0`.
    pub version: String,
    /// When the record was written (ISO 8601, UTC, milliseconds).
    pub timestamp: String,
    /// Which invocation failed, and why it was given up.
    pub request_context: RequestContext,
    /// The invocation's payload.
    pub request_payload: Value,
    /// How the last run ended; absent when the function never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_context: Option<ResponseContext>,
    /// What the last run returned (the error object); absent when the function never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_payload: Option<Value>,
}

/// The failed invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The invocation's request id (the one answered to the invoker, kept across retries).
    pub request_id: String,
    /// The function's ARN with the version that ran (`…:function:name:$LATEST`).
    pub function_arn: String,
    /// Why the invocation was given up.
    pub condition: FailureCondition,
    /// How many times the function ran.
    pub approximate_invoke_count: u32,
}

/// Why Lambda gave up an asynchronous invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureCondition {
    /// Every attempt (the first and the retries) failed.
    RetriesExhausted,
    /// The event got older than the maximum event age before it could run successfully.
    EventAgeExceeded,
}

/// How the last run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    /// The Invoke status (200: the function ran).
    pub status_code: u16,
    /// The version that ran (`$LATEST`).
    pub executed_version: String,
    /// The function error (`Unhandled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// The record format version Lambda writes.
pub(crate) const RECORD_VERSION: &str = "1.0";

/// Parses a payload for a record: JSON as JSON, anything else as a string.
pub(crate) fn payload_value(payload: &[u8]) -> Value {
    serde_json::from_slice(payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

/// `time` as Lambda writes record timestamps, e.g. `2019-11-14T18:16:05.568Z`.
pub(crate) fn iso8601_millis(time: SystemTime) -> String {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or(0);
    let seconds = i64::try_from(millis / 1000).unwrap_or(i64::MAX);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        millis % 1000
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = |millis: u64| iso8601_millis(UNIX_EPOCH + Duration::from_millis(millis));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_573_755_365_568), "2019-11-14T18:16:05.568Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn serializes_with_lambdas_field_names() {
        let record = InvocationRecord {
            version: RECORD_VERSION.to_owned(),
            timestamp: "2019-11-14T18:16:05.568Z".to_owned(),
            request_context: RequestContext {
                request_id: "e4b46cbf-b738-4a8e-8880-a18cdf61200e".to_owned(),
                function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST".to_owned(),
                condition: FailureCondition::RetriesExhausted,
                approximate_invoke_count: 3,
            },
            request_payload: json!({"type": "decision"}),
            response_context: Some(ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".to_owned(),
                function_error: Some("Unhandled".to_owned()),
            }),
            response_payload: Some(json!({"errorType": "X", "errorMessage": "y"})),
        };
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({
                "version": "1.0",
                "timestamp": "2019-11-14T18:16:05.568Z",
                "requestContext": {
                    "requestId": "e4b46cbf-b738-4a8e-8880-a18cdf61200e",
                    "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3
                },
                "requestPayload": {"type": "decision"},
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled"
                },
                "responsePayload": {"errorType": "X", "errorMessage": "y"}
            })
        );
    }

    #[test]
    fn keeps_non_json_payloads_as_strings() {
        assert_eq!(payload_value(b"{\"a\":1}"), json!({"a": 1}));
        assert_eq!(payload_value(b"oops"), json!("oops"));
    }
}
