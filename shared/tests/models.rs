//! Wire-model tests: Feishu's documented JSON shapes parse, requests serialize exactly as Feishu
//! expects, and `ExternalInstance::validate` catches what Feishu rejects.

use feishu_bridge::ids::MessageId;
use feishu_bridge::models::{
    ActionCallback, ActionConfig, ActionType, CardStatus, CcItem, CheckInstancesRequest,
    CheckInstancesResponse, CreateApprovalResponse, DisplayMethod, ExternalApproval,
    ExternalInstance, ExternalSettings, GenerateType, I18nResource, InstanceError, InstanceStatus,
    Links, Locale, MessageAction, MessageActionConfig, MessageI18nResource, ReadStatus,
    SendMessageRequest, SendMessageResponse, SyncInstanceResponse, TaskStatus, TemplateId,
    UnixMillis, UpdateMessageRequest, UpdateMessageResponse, UpdateMode, ViewerType,
};
use serde_json::{Value, json};

/// A complete, valid instance in the shape of Feishu's sync example, with the doc's mix of
/// string and bare-number times.
fn instance_json() -> Value {
    json!({
        "approval_code": "81D31358-93AF-92D6-7425-01A5D67C4E71",
        "status": "PENDING",
        "extra": "{\"business_key\":\"PR-0001\"}",
        "instance_id": "24492654",
        "links": {
            "pc_link": "https://example.com/pc/24492654",
            "mobile_link": "https://example.com/m/24492654"
        },
        "title": "@i18n@1",
        "form": [{"name": "@i18n@2", "value": "@i18n@3"}],
        "user_id": "a987sf9s",
        "user_name": "@i18n@9",
        "open_id": "ou_be73cbc0ee35eb6ca54e9e7cc14998c1",
        "department_id": "od-8ec33278bc2",
        "department_name": "@i18n@10",
        "start_time": "1556468012678",
        "end_time": 0,
        "update_time": 1556468012678u64,
        "display_method": "BROWSER",
        "update_mode": "UPDATE",
        "task_list": [{
            "task_id": "step1",
            "user_id": "lwiu098wj",
            "open_id": "ou_be73cbc0ee35eb6ca54e9e7cc14998c1",
            "title": "@i18n@4",
            "links": {"pc_link": "https://example.com/pc/step1"},
            "status": "PENDING",
            "extra": "{\"complete_reason\":\"approved\"}",
            "create_time": "1556468012678",
            "end_time": "0",
            "update_time": "1556468012678",
            "action_context": "123456",
            "action_configs": [{
                "action_type": "APPROVE",
                "action_name": "@i18n@5",
                "is_need_reason": true,
                "is_reason_required": true,
                "is_need_attachment": false
            }],
            "display_method": "BROWSER",
            "exclude_statistics": false,
            "node_id": "node",
            "node_name": "@i18n@6",
            "generate_type": "EXTERNAL_CONSIGN"
        }],
        "cc_list": [{
            "cc_id": "cc1",
            "user_id": "eeasfu6k",
            "links": {"mobile_link": "https://example.com/m/cc1"},
            "read_status": "READ",
            "extra": "{}",
            "title": "xxx",
            "create_time": "1556468012678",
            "update_time": "1556468012678",
            "display_method": "BROWSER"
        }],
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": [
                {"key": "@i18n@1", "value": "people"},
                {"key": "@i18n@2", "value": "to"},
                {"key": "@i18n@3", "value": "department"},
                {"key": "@i18n@4", "value": "task"},
                {"key": "@i18n@5", "value": "approve"},
                {"key": "@i18n@6", "value": "node"},
                {"key": "@i18n@9", "value": "user"},
                {"key": "@i18n@10", "value": "dept"}
            ]
        }, {
            "locale": "en-US",
            "is_default": false,
            "texts": [{"key": "@i18n@1", "value": "people"}]
        }],
        "trusteeship_url_token": "788981c886b1c28ac29d1e68efd60683d6d90dfce80938ee9453e2a5f3e9e306",
        "trusteeship_user_id_type": "user_id",
        "trusteeship_urls": {
            "form_detail_url": "https://example.com/detail",
            "action_definition_url": "https://example.com/actions",
            "approval_node_url": "https://example.com/nodes",
            "action_callback_url": "https://example.com/callback",
            "pull_business_data_url": "https://example.com/data"
        },
        "trusteeship_cache_config": {
            "form_policy": "DISABLE",
            "form_vary_with_locale": false,
            "form_version": "1"
        },
        "resource_region": "cn"
    })
}

fn instance() -> ExternalInstance {
    serde_json::from_value(instance_json()).expect("the documented example parses")
}

fn validation_error(edit: impl FnOnce(&mut ExternalInstance)) -> InstanceError {
    let mut instance = instance();
    edit(&mut instance);
    instance
        .validate()
        .expect_err("the edited instance must be rejected")
}

// ---------------------------------------------------------------------------------------------
// Times

#[test]
fn times_are_read_from_strings_and_numbers_and_written_as_strings() {
    for json in [r#""1688022000000""#, "1688022000000"] {
        let time: UnixMillis = serde_json::from_str(json).unwrap();
        assert_eq!(time.as_millis(), 1_688_022_000_000);
        assert_eq!(serde_json::to_string(&time).unwrap(), r#""1688022000000""#);
    }
    for json in [r#""0""#, "0"] {
        let time: UnixMillis = serde_json::from_str(json).unwrap();
        assert_eq!(time, UnixMillis::ZERO);
        assert_eq!(serde_json::to_string(&time).unwrap(), r#""0""#);
    }
}

#[test]
fn times_reject_non_numbers_negatives_and_fractions() {
    for json in [
        r#""abc""#,
        r#""""#,
        r#""-1""#,
        r#""+1""#,
        r#"" 1""#,
        r#""1.5""#,
        r#""99999999999999999999""#,
        "-1",
        "1.5",
        "1e3",
        "true",
        "null",
    ] {
        assert!(
            serde_json::from_str::<UnixMillis>(json).is_err(),
            "{json} must not parse as a time"
        );
    }
}

#[test]
fn times_order_and_next_version_always_grows() {
    let far_future = UnixMillis::from_millis(u64::MAX - 10);
    assert_eq!(far_future.next_version().as_millis(), u64::MAX - 9);
    let past = UnixMillis::from_millis(1);
    assert!(past.next_version() > past);
    assert!(UnixMillis::now() >= UnixMillis::from_millis(1_700_000_000_000));
}

#[test]
fn instance_times_serialize_as_strings_whatever_they_were_read_as() {
    let json = serde_json::to_value(instance()).unwrap();
    assert_eq!(json["end_time"], "0");
    assert_eq!(json["update_time"], "1556468012678");
    assert_eq!(json["task_list"][0]["end_time"], "0");
    assert_eq!(json["cc_list"][0]["create_time"], "1556468012678");
}

// ---------------------------------------------------------------------------------------------
// Instances

#[test]
fn documented_instance_parses_with_every_field() {
    let instance = instance();
    assert_eq!(instance.status, InstanceStatus::Pending);
    assert_eq!(instance.update_mode, Some(UpdateMode::Update));
    assert_eq!(instance.display_method, Some(DisplayMethod::Browser));
    assert_eq!(instance.end_time, UnixMillis::ZERO);
    let task = instance.task("step1").expect("task step1");
    assert_eq!(task.status, TaskStatus::Pending);
    assert_eq!(task.generate_type, Some(GenerateType::ExternalConsign));
    assert_eq!(task.action_configs[0].action_type, ActionType::Approve);
    assert_eq!(task.action_context.as_deref(), Some("123456"));
    assert_eq!(instance.cc_list[0].read_status, ReadStatus::Read);
    assert_eq!(instance.i18n_resources[0].locale, Locale::ZhCn);
    assert_eq!(instance.i18n_resources[0].text("@i18n@4"), Some("task"));
    assert_eq!(
        instance
            .trusteeship_urls
            .as_ref()
            .and_then(|urls| urls.pull_business_data_url.as_deref()),
        Some("https://example.com/data")
    );
    assert_eq!(instance.resource_region.as_deref(), Some("cn"));
    assert_eq!(instance.validate(), Ok(()));
}

#[test]
fn instance_round_trips_field_for_field_and_ignores_unknown_fields() {
    let mut json = instance_json();
    json["assignees"] = json!(["ignored"]);
    json["task_list"][0]["unknown"] = json!(1);
    let parsed: ExternalInstance = serde_json::from_value(json).unwrap();
    let written = serde_json::to_value(&parsed).unwrap();
    assert!(written.get("assignees").is_none());
    assert_eq!(
        serde_json::from_value::<ExternalInstance>(written).unwrap(),
        parsed
    );
}

#[test]
fn task_mut_changes_the_task_in_place() {
    let mut instance = instance();
    let task = instance.task_mut("step1").expect("task step1");
    task.status = TaskStatus::Approved;
    assert_eq!(instance.task("step1").unwrap().status, TaskStatus::Approved);
    assert!(instance.task("missing").is_none());
    assert!(instance.task_mut("missing").is_none());
}

#[test]
fn sync_response_unwraps_the_double_data() {
    let response = json!({"data": instance_json()});
    let parsed: SyncInstanceResponse = serde_json::from_value(response).unwrap();
    assert_eq!(parsed.data.instance_id, "24492654");
    assert!(serde_json::from_value::<SyncInstanceResponse>(instance_json()).is_err());
}

#[test]
fn unknown_enum_values_survive_a_round_trip() {
    let mut json = instance_json();
    json["status"] = json!("SUSPENDED");
    json["task_list"][0]["status"] = json!("FROZEN");
    json["task_list"][0]["generate_type"] = json!("NEW_KIND");
    json["task_list"][0]["action_configs"][0]["action_type"] = json!("FORWARD");
    json["i18n_resources"][1]["locale"] = json!("zh_cn");
    let parsed: ExternalInstance = serde_json::from_value(json).unwrap();
    assert_eq!(parsed.status, InstanceStatus::Other("SUSPENDED".into()));
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(written["status"], "SUSPENDED");
    assert_eq!(written["task_list"][0]["status"], "FROZEN");
    assert_eq!(written["task_list"][0]["generate_type"], "NEW_KIND");
    assert_eq!(
        written["task_list"][0]["action_configs"][0]["action_type"],
        "FORWARD"
    );
    assert_eq!(written["i18n_resources"][1]["locale"], "zh_cn");

    let template: TemplateId = serde_json::from_str(r#""1099""#).unwrap();
    assert_eq!(template, TemplateId::Other("1099".into()));
    assert_eq!(serde_json::to_string(&template).unwrap(), r#""1099""#);
}

#[test]
fn absent_optional_fields_are_omitted() {
    let minimal = json!({
        "approval_code": "code",
        "status": "PENDING",
        "instance_id": "i1",
        "links": {"pc_link": "https://example.com/i1"},
        "user_id": "u1",
        "start_time": "1",
        "end_time": "0",
        "update_time": "1",
        "task_list": [{
            "task_id": "t1",
            "user_id": "u2",
            "links": {"mobile_link": "https://example.com/t1"},
            "status": "PENDING",
            "create_time": "1",
            "end_time": "0",
            "update_time": "1"
        }],
        "i18n_resources": [{"locale": "en-US", "is_default": true, "texts": []}]
    });
    let parsed: ExternalInstance = serde_json::from_value(minimal.clone()).unwrap();
    assert_eq!(parsed.validate(), Ok(()));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), minimal);
}

#[test]
fn empty_optional_enums_are_never_sent() {
    let mut json = instance_json();
    json["task_list"][0]["generate_type"] = json!("");
    json["display_method"] = json!("");
    let parsed: ExternalInstance = serde_json::from_value(json).unwrap();
    assert_eq!(parsed.task_list[0].generate_type, None);
    assert_eq!(parsed.display_method, None);

    let mut built = instance();
    built.task_list[0].generate_type = Some(GenerateType::Other(String::new()));
    built.update_mode = Some(UpdateMode::Other(String::new()));
    let written = serde_json::to_value(&built).unwrap();
    assert!(written["task_list"][0].get("generate_type").is_none());
    assert!(written.get("update_mode").is_none());
}

#[test]
fn instance_texts_are_an_array_and_a_map_is_rejected() {
    let written = serde_json::to_value(instance()).unwrap();
    assert_eq!(
        written["i18n_resources"][0]["texts"][0],
        json!({"key": "@i18n@1", "value": "people"})
    );
    let mut json = instance_json();
    json["i18n_resources"][0]["texts"] = json!({"@i18n@1": "people"});
    assert!(serde_json::from_value::<ExternalInstance>(json).is_err());
}

// ---------------------------------------------------------------------------------------------
// Validation

fn missing(field: &str) -> InstanceError {
    InstanceError::Missing {
        field: field.to_owned(),
    }
}

#[test]
fn validate_requires_the_required_fields() {
    assert_eq!(
        validation_error(|i| i.approval_code.clear()),
        missing("approval_code")
    );
    assert_eq!(
        validation_error(|i| i.instance_id.clear()),
        missing("instance_id")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].task_id.clear()),
        missing("task_list[0].task_id")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].update_time = None),
        missing("task_list[0].update_time")
    );
    assert_eq!(
        validation_error(|i| i.cc_list[0].cc_id.clear()),
        missing("cc_list[0].cc_id")
    );
    assert_eq!(
        validation_error(|i| i.i18n_resources.clear()),
        missing("i18n_resources")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].action_configs[0] = ActionConfig {
            action_type: ActionType::Other("FORWARD".into()),
            action_name: None,
            is_need_reason: None,
            is_reason_required: None,
            is_need_attachment: None,
        }),
        missing("task_list[0].action_configs[0].action_name")
    );
}

#[test]
fn validate_requires_a_link_everywhere() {
    let link_error = |field: &str| InstanceError::MissingLink {
        field: field.to_owned(),
    };
    assert_eq!(
        validation_error(|i| i.links = Links::default()),
        link_error("links")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].links = Links::default()),
        link_error("task_list[0].links")
    );
    assert_eq!(
        validation_error(|i| i.cc_list[0].links.mobile_link = Some(String::new())),
        link_error("cc_list[0].links")
    );
}

#[test]
fn validate_requires_a_user_or_open_id() {
    let user_error = |field: &str| InstanceError::MissingUser {
        field: field.to_owned(),
    };
    assert_eq!(
        validation_error(|i| {
            i.user_id = None;
            i.open_id = None;
        }),
        user_error("user_id")
    );
    assert_eq!(
        validation_error(|i| {
            i.task_list[0].user_id = None;
            i.task_list[0].open_id = Some(String::new());
        }),
        user_error("task_list[0].user_id")
    );
    assert_eq!(
        validation_error(|i| i.cc_list[0].user_id = None),
        user_error("cc_list[0].user_id")
    );
    let mut open_id_only = instance();
    open_id_only.task_list[0].user_id = None;
    assert_eq!(open_id_only.validate(), Ok(()));
}

#[test]
fn validate_checks_i18n_keys_against_the_default_locale() {
    let undefined = |field: &str, key: &str| InstanceError::UndefinedI18nKey {
        field: field.to_owned(),
        key: key.to_owned(),
    };
    assert_eq!(
        validation_error(|i| i.title = Some("@i18n@missing".into())),
        undefined("title", "@i18n@missing")
    );
    assert_eq!(
        validation_error(|i| i.form[0].value = Some("plain text".into())),
        undefined("form[0].value", "plain text")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].node_name = Some("@i18n@7".into())),
        undefined("task_list[0].node_name", "@i18n@7")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].action_configs[0].action_name = Some("@i18n@8".into())),
        undefined("task_list[0].action_configs[0].action_name", "@i18n@8")
    );
    // Defined only in a non-default locale is not enough.
    assert_eq!(
        validation_error(|i| {
            i.i18n_resources[1] = I18nResource::new(Locale::EnUs, false).with_text("@i18n@x", "x");
            i.department_name = Some("@i18n@x".into());
        }),
        undefined("department_name", "@i18n@x")
    );
}

#[test]
fn validate_requires_exactly_one_default_locale() {
    assert_eq!(
        validation_error(|i| i.i18n_resources[0].is_default = false),
        InstanceError::NoDefaultLocale
    );
    assert_eq!(
        validation_error(|i| i.i18n_resources[1].is_default = true),
        InstanceError::MultipleDefaultLocales { count: 2 }
    );
}

#[test]
fn validate_rejects_empty_optional_enums() {
    assert_eq!(
        validation_error(|i| i.task_list[0].generate_type = Some(GenerateType::Other("".into()))),
        InstanceError::EmptyEnum {
            field: "task_list[0].generate_type".to_owned()
        }
    );
    assert_eq!(
        validation_error(|i| i.cc_list[0].display_method = Some(DisplayMethod::Other("".into()))),
        InstanceError::EmptyEnum {
            field: "cc_list[0].display_method".to_owned()
        }
    );
}

#[test]
fn validate_limits_the_task_list_to_300() {
    let mut instance = instance();
    let template = instance.task_list[0].clone();
    instance.task_list = (0..300)
        .map(|index| {
            let mut task = template.clone();
            task.task_id = format!("task-{index}");
            task
        })
        .collect();
    assert_eq!(instance.validate(), Ok(()));
    let mut extra = template;
    extra.task_id = "task-300".into();
    instance.task_list.push(extra);
    assert_eq!(
        instance.validate(),
        Err(InstanceError::TooMany {
            field: "task_list".to_owned(),
            count: 301,
            max: 300
        })
    );
}

#[test]
fn validate_requires_unique_ids_across_instance_tasks_and_ccs() {
    let duplicate = |field: &str, first_field: &str, id: &str| InstanceError::DuplicateId {
        field: field.to_owned(),
        first_field: first_field.to_owned(),
        id: id.to_owned(),
    };
    assert_eq!(
        validation_error(|i| i.cc_list[0].cc_id = "step1".into()),
        duplicate("cc_list[0].cc_id", "task_list[0].task_id", "step1")
    );
    assert_eq!(
        validation_error(|i| i.task_list[0].task_id = "24492654".into()),
        duplicate("task_list[0].task_id", "instance_id", "24492654")
    );
    assert_eq!(
        validation_error(|i| {
            let mut second = i.task_list[0].clone();
            second.user_id = Some("other".into());
            i.task_list.push(second);
        }),
        duplicate("task_list[1].task_id", "task_list[0].task_id", "step1")
    );
}

#[test]
fn validation_errors_name_the_field() {
    let error = validation_error(|i| i.task_list[0].links = Links::default());
    assert_eq!(
        error.to_string(),
        "`task_list[0].links` needs a `pc_link` or a `mobile_link`"
    );
}

// ---------------------------------------------------------------------------------------------
// Check

#[test]
fn check_request_carries_instance_and_task_versions() {
    let mut without_tasks = instance();
    without_tasks.instance_id = "i2".into();
    without_tasks.task_list.clear();
    let request = CheckInstancesRequest::from_instances(&[instance(), without_tasks]);
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"instances": [
            {
                "instance_id": "24492654",
                "update_time": "1556468012678",
                "tasks": [{"task_id": "step1", "update_time": "1556468012678"}]
            },
            {"instance_id": "i2", "update_time": "1556468012678", "tasks": []}
        ]})
    );
}

#[test]
fn check_response_lists_differences() {
    let in_sync: CheckInstancesResponse =
        serde_json::from_value(json!({"diff_instances": []})).unwrap();
    assert!(in_sync.is_in_sync());

    let diff: CheckInstancesResponse = serde_json::from_value(json!({"diff_instances": [
        {"instance_id": "unknown", "update_time": "0", "tasks": []},
        {"instance_id": "stale", "update_time": 1556468012679u64,
         "tasks": [{"task_id": "step1", "update_time": "0"}]}
    ]}))
    .unwrap();
    assert!(!diff.is_in_sync());
    assert!(diff.diff_instances[0].is_unknown_to_feishu());
    assert!(!diff.diff_instances[1].is_unknown_to_feishu());
    assert_eq!(
        diff.diff_instances[1].tasks[0].update_time,
        UnixMillis::ZERO
    );
}

// ---------------------------------------------------------------------------------------------
// Definitions

fn definition_json() -> Value {
    json!({
        "approval_name": "@i18n@1",
        "approval_code": "permission_test",
        "group_code": "work_group",
        "group_name": "@i18n@2",
        "description": "@i18n@2",
        "external": {
            "biz_name": "@i18n@3",
            "biz_type": "permission",
            "create_link_mobile": "https://applink.feishu.cn/client/mini_program/open?appId=cli_9c90fc38e07a9101",
            "create_link_pc": "https://applink.feishu.cn/client/mini_program/open?mode=appCenter",
            "support_pc": true,
            "support_mobile": true,
            "support_batch_read": false,
            "enable_mark_readed": true,
            "enable_quick_operate": true,
            "action_callback_url": "http://www.feishu.cn/approval/openapi/operate",
            "action_callback_token": "sdjkljkx9lsadf110",
            "action_callback_key": "gfdqedvsadfgfsd",
            "allow_batch_operate": true,
            "exclude_efficiency_statistics": true
        },
        "viewers": [{
            "viewer_type": "USER",
            "viewer_user_id": "19a294c2",
            "viewer_department_id": "od-ac9d697abfa990b715dcc33d58a62a9d"
        }],
        "i18n_resources": [{
            "locale": "zh-CN",
            "texts": [{"key": "@i18n@1", "value": "审批定义"}],
            "is_default": true
        }],
        "managers": ["19a294c2"]
    })
}

#[test]
fn documented_definition_round_trips() {
    let definition: ExternalApproval = serde_json::from_value(definition_json()).unwrap();
    assert_eq!(definition.viewers[0].viewer_type, Some(ViewerType::User));
    assert_eq!(definition.external.support_pc, Some(true));
    assert_eq!(definition.managers, ["19a294c2"]);
    assert_eq!(
        serde_json::to_value(&definition).unwrap(),
        definition_json()
    );

    let response: CreateApprovalResponse =
        serde_json::from_value(json!({"approval_code": "C30381C8-7A5F-4717-A9CF-C233BF0202D4"}))
            .unwrap();
    assert_eq!(
        response.approval_code,
        "C30381C8-7A5F-4717-A9CF-C233BF0202D4"
    );
}

#[test]
fn external_settings_debug_redacts_the_callback_secrets() {
    let definition: ExternalApproval = serde_json::from_value(definition_json()).unwrap();
    let debug = format!("{definition:?}");
    assert!(!debug.contains("sdjkljkx9lsadf110"), "{debug}");
    assert!(!debug.contains("gfdqedvsadfgfsd"), "{debug}");
    assert!(debug.contains("action_callback_token: Some(\"[redacted]\")"));
    assert!(debug.contains("http://www.feishu.cn/approval/openapi/operate"));
    let unset = format!("{:?}", ExternalSettings::default());
    assert!(unset.contains("action_callback_key: None"));
}

// ---------------------------------------------------------------------------------------------
// Bot messages

fn send_json() -> Value {
    json!({
        "template_id": "1008",
        "user_id": "b85s39b",
        "uuid": "d1b3c1f7-0001",
        "approval_name": "@i18n@1",
        "title_user_id": "b85s39b",
        "title_user_id_type": "user_id",
        "content": {
            "user_id": "b85s39b",
            "user_id_type": "user_id",
            "summaries": [{"summary": "@i18n@2"}, {"summary": "@i18n@3"}]
        },
        "note": "@i18n@4",
        "actions": [{
            "action_name": "DETAIL",
            "url": "https://www.example.com/",
            "android_url": "https://www.example.com/android",
            "ios_url": "https://www.example.com/ios",
            "pc_url": "https://www.example.com/pc"
        }],
        "action_callback": {
            "action_callback_url": "https://www.example.com/callback",
            "action_callback_token": "callback-token-secret",
            "action_callback_key": "callback-key-secret",
            "action_context": "{\"instance_id\":\"24492654\"}"
        },
        "action_configs": [{
            "action_type": "APPROVE",
            "action_name": "@i18n@5",
            "is_need_reason": true,
            "is_reason_required": false,
            "is_need_attachment": false,
            "next_status": "APPROVED"
        }, {
            "action_type": "REJECT",
            "action_name": "@i18n@6"
        }],
        "i18n_resources": [{
            "locale": "zh-CN",
            "is_default": true,
            "texts": {
                "@i18n@1": "采购申请",
                "@i18n@2": "金额: 5000",
                "@i18n@3": "事由: 办公",
                "@i18n@4": "来自采购系统",
                "@i18n@5": "同意",
                "@i18n@6": "拒绝"
            }
        }]
    })
}

#[test]
fn documented_send_request_round_trips_with_map_texts() {
    let request: SendMessageRequest = serde_json::from_value(send_json()).unwrap();
    assert_eq!(request.template_id, TemplateId::TodoReceived);
    assert!(request.template_id.supports_quick_approval());
    assert_eq!(
        request.action_configs[0].next_status,
        Some(CardStatus::Approved)
    );
    assert_eq!(request.action_configs[1].next_status, None);
    assert_eq!(
        request.i18n_resources[0]
            .texts
            .get("@i18n@5")
            .map(String::as_str),
        Some("同意")
    );
    let written = serde_json::to_value(&request).unwrap();
    assert!(written["i18n_resources"][0]["texts"].is_object());
    assert_eq!(written, send_json());

    let mut array_texts = send_json();
    array_texts["i18n_resources"][0]["texts"] = json!([{"key": "@i18n@1", "value": "x"}]);
    assert!(serde_json::from_value::<SendMessageRequest>(array_texts).is_err());
}

#[test]
fn custom_template_uses_custom_title_and_content() {
    let request = SendMessageRequest {
        template_id: TemplateId::Custom,
        user_id: None,
        open_id: Some("ou_1".into()),
        uuid: None,
        approval_name: None,
        title_user_id: None,
        title_user_id_type: None,
        comment: None,
        content: None,
        note: None,
        sender_user_id: None,
        text: None,
        actions: vec![MessageAction::with_url("@i18n@3", "https://example.com/x")],
        action_callback: None,
        action_configs: Vec::new(),
        i18n_resources: vec![
            MessageI18nResource::new(Locale::EnUs, true)
                .with_text("@i18n@1", "Title")
                .with_text("@i18n@2", "**Body**")
                .with_text("@i18n@3", "Open"),
        ],
        custom_title: Some("@i18n@1".into()),
        custom_content: Some("@i18n@2".into()),
    };
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({
            "template_id": "1021",
            "open_id": "ou_1",
            "actions": [{
                "action_name": "@i18n@3",
                "url": "https://example.com/x",
                "android_url": "https://example.com/x",
                "ios_url": "https://example.com/x",
                "pc_url": "https://example.com/x"
            }],
            "i18n_resources": [{
                "locale": "en-US",
                "is_default": true,
                "texts": {"@i18n@1": "Title", "@i18n@2": "**Body**", "@i18n@3": "Open"}
            }],
            "custom_title": "@i18n@1",
            "custom_content": "@i18n@2"
        })
    );
    assert!(!TemplateId::Custom.supports_quick_approval());
}

#[test]
fn template_ids_cover_the_documented_table() {
    for (id, template) in [
        ("1001", TemplateId::CommentReceived),
        ("1008", TemplateId::TodoReceived),
        ("1021", TemplateId::Custom),
        ("1028", TemplateId::TodoReceivedWithoutInitiator),
    ] {
        assert_eq!(TemplateId::from(id), template);
        assert_eq!(template.as_str(), id);
    }
}

#[test]
fn action_callback_debug_redacts_the_secrets() {
    let request: SendMessageRequest = serde_json::from_value(send_json()).unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains("callback-token-secret"), "{debug}");
    assert!(!debug.contains("callback-key-secret"), "{debug}");
    assert!(debug.contains("https://www.example.com/callback"));
    let callback = ActionCallback::default();
    assert!(format!("{callback:?}").contains("action_callback_token: None"));
}

#[test]
fn message_ids_are_lossless_in_send_and_update() {
    let sent: SendMessageResponse =
        serde_json::from_value(json!({"message_id": "6968359519504171036"})).unwrap();
    let sent = sent.message_id.expect("an id");
    assert_eq!(sent.as_str(), "6968359519504171036");
    // A repeated uuid may be answered without an id (feishu-api.md §5.1).
    let repeated: SendMessageResponse = serde_json::from_value(json!({})).unwrap();
    assert_eq!(repeated.message_id, None);

    let update = UpdateMessageRequest {
        message_id: sent,
        status: CardStatus::Approved,
        status_name: None,
        detail_action_name: None,
        i18n_resources: Vec::new(),
    };
    assert_eq!(
        serde_json::to_value(&update).unwrap(),
        json!({"message_id": "6968359519504171036", "status": "APPROVED"})
    );

    let updated: UpdateMessageResponse =
        serde_json::from_value(json!({"message_id": 7690275278685244603u64})).unwrap();
    assert_eq!(
        updated.message_id,
        MessageId::parse("7690275278685244603").unwrap()
    );
}

#[test]
fn custom_card_update_carries_its_texts() {
    let update: UpdateMessageRequest = serde_json::from_value(json!({
        "message_id": "6968359519504171036",
        "status": "CUSTOM",
        "status_name": "@i18n@1",
        "detail_action_name": "@i18n@2",
        "i18n_resources": [{"locale": "zh-CN", "is_default": true,
                            "texts": {"@i18n@1": "已处理", "@i18n@2": "查看"}}]
    }))
    .unwrap();
    assert_eq!(update.status, CardStatus::Custom);
    assert_eq!(
        serde_json::from_str::<CardStatus>(r#""CANCELLED""#).unwrap(),
        CardStatus::Cancelled
    );
}

#[test]
fn message_action_config_without_next_status_omits_it() {
    let config = MessageActionConfig {
        action: ActionConfig {
            action_type: ActionType::Reject,
            action_name: None,
            is_need_reason: None,
            is_reason_required: None,
            is_need_attachment: None,
        },
        next_status: Some(CardStatus::Other(String::new())),
    };
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        json!({"action_type": "REJECT"})
    );
}

#[test]
fn cc_items_parse_with_unread_status() {
    let cc: CcItem = serde_json::from_value(json!({
        "cc_id": "cc2",
        "open_id": "ou_2",
        "links": {"pc_link": "https://example.com"},
        "read_status": "UNREAD",
        "create_time": 1,
        "update_time": "2"
    }))
    .unwrap();
    assert_eq!(cc.read_status, ReadStatus::Unread);
    assert_eq!(cc.update_time, UnixMillis::from_millis(2));
}
