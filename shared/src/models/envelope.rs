//! The response envelope every Feishu OpenAPI call answers with (`feishu-api.md` §0):
//! `{"code": int, "msg": string, "data": {...}}`, plus an optional `error` block on failure.

use serde::{Deserialize, Deserializer, Serialize};

/// A Feishu OpenAPI response: `code == 0` means success and `data` holds the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    /// `0` on success; any other value is a Feishu error code.
    pub code: i64,
    /// Feishu's human-readable message (`"success"` on success).
    #[serde(default)]
    pub msg: String,
    /// The payload; usually absent on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Extra error details some failures carry. A malformed block is dropped rather than making
    /// the whole response unreadable, so the `code` is never lost.
    #[serde(
        default,
        deserialize_with = "lenient_error_detail",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<ApiErrorDetail>,
}

impl<T> ApiResponse<T> {
    /// A successful response carrying `data`.
    pub fn success(data: T) -> Self {
        Self {
            code: 0,
            msg: "success".to_owned(),
            data: Some(data),
            error: None,
        }
    }

    /// A failed response with this `code` and `msg` and no details.
    pub fn failure(code: i64, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            data: None,
            error: None,
        }
    }

    /// Whether Feishu reported success (`code == 0`).
    pub fn is_success(&self) -> bool {
        self.code == 0
    }
}

/// The `error` block of a failed response (`feishu-api.md` §0). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiErrorDetail {
    /// Feishu's log id for this request; give it to Feishu support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
    /// A longer explanation, often with a troubleshooting link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Free-form key/value details.
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub details: Vec<ErrorDetailEntry>,
    /// Missing permissions (scopes) behind the failure.
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub permission_violations: Vec<PermissionViolation>,
    /// Request fields that failed validation (e.g. code 99992402).
    #[serde(
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub field_violations: Vec<FieldViolation>,
}

/// One `error.details[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetailEntry {
    /// The detail's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The detail's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One `error.permission_violations[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PermissionViolation {
    /// The kind of violation (wire name `type`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub violation_type: Option<String>,
    /// What is missing, e.g. a scope name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Feishu's explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One `error.field_violations[]` entry, e.g.
/// `{"field": "task_list[*].links", "description": "… is required"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldViolation {
    /// Path of the offending request field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The offending value, as Feishu echoes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Why the field was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Reads `error` as an [`ApiErrorDetail`] when it has that shape, and as `None` otherwise.
fn lenient_error_detail<'de, D>(deserializer: D) -> Result<Option<ApiErrorDetail>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// Reads an explicit JSON `null` as an empty list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_failure_with_every_error_extra() {
        let body = json!({
            "code": 99992402,
            "msg": "field validation failed",
            "error": {
                "log_id": "20251121ABCDEF",
                "message": "see https://open.feishu.cn/…",
                "details": [{"key": "k", "value": "v"}],
                "permission_violations": [
                    {"type": "action_scope_required", "subject": "approval:approval", "description": "d"}
                ],
                "field_violations": [
                    {"field": "task_list[*].links", "description": "task_list[*].links is required"}
                ]
            }
        });
        let response: ApiResponse<serde_json::Value> = serde_json::from_value(body).unwrap();
        assert!(!response.is_success());
        assert_eq!(response.data, None);
        let error = response.error.unwrap();
        assert_eq!(error.log_id.as_deref(), Some("20251121ABCDEF"));
        assert_eq!(error.details[0].value.as_deref(), Some("v"));
        assert_eq!(
            error.permission_violations[0].violation_type.as_deref(),
            Some("action_scope_required")
        );
        assert_eq!(
            error.field_violations[0].field.as_deref(),
            Some("task_list[*].links")
        );
        assert_eq!(error.field_violations[0].value, None);
    }

    #[test]
    fn a_malformed_error_block_keeps_the_code() {
        let body =
            json!({"code": 1390001, "msg": "param is invalid", "error": {"details": "oops"}});
        let response: ApiResponse<serde_json::Value> = serde_json::from_value(body).unwrap();
        assert_eq!(response.code, 1390001);
        assert_eq!(response.error, None);
    }

    #[test]
    fn null_lists_and_missing_msg_are_accepted() {
        let body = json!({"code": 1, "error": {"field_violations": null, "log_id": "x"}});
        let response: ApiResponse<serde_json::Value> = serde_json::from_value(body).unwrap();
        assert_eq!(response.msg, "");
        assert_eq!(response.error.unwrap().log_id.as_deref(), Some("x"));
    }

    #[test]
    fn success_round_trips_with_data() {
        let response = ApiResponse::success(json!({"approval_code": "C30381C8"}));
        let wire = serde_json::to_value(&response).unwrap();
        assert_eq!(
            wire,
            json!({"code": 0, "msg": "success", "data": {"approval_code": "C30381C8"}})
        );
        let back: ApiResponse<serde_json::Value> = serde_json::from_value(wire).unwrap();
        assert_eq!(back, response);
    }
}
