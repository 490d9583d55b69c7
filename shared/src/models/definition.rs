//! External approval definition: `POST /open-apis/approval/v4/external_approvals` (create or
//! update; feishu-api.md §3) and its read-back with `GET …/external_approvals/:approval_code`.
//!
//! Feishu resets every omitted field on update, so always send the full definition. A new
//! definition gets a Feishu-generated code, returned in [`CreateApprovalResponse`]: instances must
//! be synced with that code, while updates keep matching on the custom `approval_code`.

use serde::{Deserialize, Serialize};

use super::i18n::I18nResource;
use super::{CallbackEndpoint, optional_enum};

string_enum! {
    /// `viewer_type`: who may see the definition on the "create" page
    /// (precedence `NONE` > `TENANT` > specific users and departments).
    pub enum ViewerType {
        /// Everyone in the tenant.
        Tenant => "TENANT",
        /// One department.
        Department => "DEPARTMENT",
        /// One user.
        User => "USER",
        /// Nobody.
        None => "NONE",
    }
}

/// An external approval definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalApproval {
    /// Name (i18n key starting with `@i18n@`).
    pub approval_name: String,
    /// The custom code, at most 128 characters; the upsert key.
    pub approval_code: String,
    /// Group code; send it together with `group_name`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group_code: Option<String>,
    /// Group name (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group_name: Option<String>,
    /// Description (i18n).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// Third-party settings.
    pub external: ExternalSettings,
    /// Who may see the definition on the "create" page (at most 200); nobody when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub viewers: Vec<Viewer>,
    /// Texts for every i18n key used above (array form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub i18n_resources: Vec<I18nResource>,
    /// Process administrators (at most 200), typed per the request's `user_id_type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<String>,
}

/// The `external` object of a definition. `Debug` redacts the callback token and key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalSettings {
    /// "来自 …" source label (i18n key, without the prefix).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub biz_name: Option<String>,
    /// Free-form category.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub biz_type: Option<String>,
    /// Mobile "create" link; not shown on mobile when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub create_link_mobile: Option<String>,
    /// PC "create" link; not shown on PC when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub create_link_pc: Option<String>,
    /// Shown on PC; `support_pc` and `support_mobile` cannot both be false.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub support_pc: Option<bool>,
    /// Shown on mobile.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub support_mobile: Option<bool>,
    /// Batch mark-as-read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub support_batch_read: Option<bool>,
    /// Documented as having no effect.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_mark_readed: Option<bool>,
    /// Documented as having no effect; stored and read back.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub enable_quick_operate: Option<bool>,
    /// Where Feishu posts quick-approval callbacks (`action_callback_url`, `_token`, `_key`).
    #[serde(flatten)]
    pub callback: CallbackEndpoint,
    /// Batch approval.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub allow_batch_operate: Option<bool>,
    /// Leave the definition out of efficiency statistics.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exclude_efficiency_statistics: Option<bool>,
}

/// One entry of `viewers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// What kind of viewer this is.
    #[serde(
        default,
        with = "optional_enum",
        skip_serializing_if = "optional_enum::is_absent"
    )]
    pub viewer_type: Option<ViewerType>,
    /// The user, when `USER`; typed per the request's `user_id_type`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub viewer_user_id: Option<String>,
    /// The department, when `DEPARTMENT`; typed per the request's `department_id_type`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub viewer_department_id: Option<String>,
}

/// `data` of a create/update: the Feishu-generated code to sync instances with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateApprovalResponse {
    /// The definition's code in Feishu.
    pub approval_code: String,
}
