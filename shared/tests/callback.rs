//! Parsing quick-approval callbacks (feishu-api.md §2.2) into decisions, and the token check;
//! property tests check the parser against a model of its rules on random JSON.

mod support;

use feishu_bridge::callback::{
    ApprovalDecision, Attachment, AttachmentType, CallbackBody, CallbackError, CallbackToken,
    RawCallback,
};
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::ids::MessageId;
use feishu_bridge::models::ActionType;
use feishu_bridge::secrets::Secret;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::CALLBACK_KEYS;

/// The documentation's example plaintext, with a concrete attachment.
const DOC_EXAMPLE: &str = r#"{"action_type":"APPROVE","action_context":"12345","user_id":"b85s39b","approval_code":"A3895051-9B16-4ABA-B785-AD2986177BB1","instance_id":"people_1234","task_id":"step1","reason":"ok","attachments":[{"file_type":"IMAGE","file_name":"1.png","file_size":12345,"url":"https://example.invalid/attachment/413342ae.png"}],"token":"aaaaa"}"#;

/// A minimal valid card callback; tests change one field at a time.
fn card_callback() -> Value {
    json!({
        "action_type": "REJECT",
        "user_id": "ou_1",
        "approval_code": "C0DE",
        "task_id": "t-1",
        "token": "tok",
    })
}

fn parse_plain(body: &str) -> RawCallback {
    match CallbackBody::parse(body.as_bytes()) {
        Ok(CallbackBody::Plain(raw)) => raw,
        other => panic!("expected a plain callback, got {other:?}"),
    }
}

fn decide(body: &Value) -> Result<ApprovalDecision, CallbackError> {
    RawCallback::parse(&body.to_string())?.into_decision()
}

fn with(field: &str, value: Value) -> Value {
    let mut body = card_callback();
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = card_callback();
    body.as_object_mut().unwrap().remove(field);
    body
}

#[test]
fn the_documented_example_becomes_a_decision() {
    let raw = parse_plain(DOC_EXAMPLE);
    assert_eq!(raw.token(), Some("aaaaa"));
    let decision = raw.into_decision().unwrap();
    assert_eq!(
        decision,
        ApprovalDecision {
            approval_code: "A3895051-9B16-4ABA-B785-AD2986177BB1".into(),
            instance_id: Some("people_1234".into()),
            task_id: Some("step1".into()),
            message_id: None,
            action: ActionType::Approve,
            user_id: "b85s39b".into(),
            reason: Some("ok".into()),
            action_context: Some("12345".into()),
            attachments: vec![Attachment {
                file_type: AttachmentType::Image,
                file_size: 12345,
                file_name: "1.png".into(),
                url: "https://example.invalid/attachment/413342ae.png".into(),
            }],
        }
    );
}

#[test]
fn a_bare_message_id_above_2_pow_53_keeps_every_digit() {
    let body =
        card_callback()
            .to_string()
            .replacen('{', r#"{"message_id":7690275278685244603,"#, 1);
    let decision = parse_plain(&body).into_decision().unwrap();
    assert_eq!(
        decision.message_id.as_ref().map(MessageId::as_str),
        Some("7690275278685244603")
    );
}

#[test]
fn a_string_message_id_is_kept() {
    let decision = decide(&with("message_id", json!("6968359519504171036"))).unwrap();
    assert_eq!(
        decision.message_id.as_ref().map(MessageId::as_str),
        Some("6968359519504171036")
    );
}

#[test]
fn an_empty_null_or_absent_message_id_is_none() {
    for body in [
        with("message_id", json!("")),
        with("message_id", Value::Null),
        card_callback(),
    ] {
        assert_eq!(decide(&body).unwrap().message_id, None, "{body}");
    }
}

#[test]
fn a_float_or_malformed_message_id_is_rejected_by_name() {
    for value in [json!(1.5), json!("12ab"), json!(-3), json!(true)] {
        assert_eq!(
            decide(&with("message_id", value.clone())),
            Err(CallbackError::InvalidField("message_id")),
            "{value}"
        );
    }
    let exponent =
        card_callback()
            .to_string()
            .replacen('{', r#"{"message_id":7.690275278685244e18,"#, 1);
    assert_eq!(
        RawCallback::parse(&exponent),
        Err(CallbackError::InvalidField("message_id"))
    );
}

#[test]
fn a_search_action_takes_its_task_id_from_id() {
    let mut body = without("task_id");
    body["id"] = json!("t-9");
    assert_eq!(decide(&body).unwrap().task_id.as_deref(), Some("t-9"));

    body["task_id"] = json!("");
    assert_eq!(decide(&body).unwrap().task_id.as_deref(), Some("t-9"));

    body["task_id"] = json!("t-1");
    assert_eq!(
        decide(&body).unwrap().task_id.as_deref(),
        Some("t-1"),
        "task_id wins over id"
    );
}

#[test]
fn a_card_action_may_name_its_task_by_message_id_only() {
    let mut body = without("task_id");
    body["message_id"] = json!(7690275278685244603_u64);
    let decision = decide(&body).unwrap();
    assert_eq!(decision.task_id, None);
    assert_eq!(
        decision.message_id.as_ref().map(MessageId::as_str),
        Some("7690275278685244603")
    );

    body["message_id"] = json!("");
    assert_eq!(decide(&body), Err(CallbackError::MissingField("task_id")));
}

#[test]
fn a_custom_action_key_is_kept_verbatim() {
    let decision = decide(&with("action_type", json!("ESCALATE"))).unwrap();
    assert_eq!(decision.action, ActionType::Other("ESCALATE".into()));
    assert_eq!(decide(&card_callback()).unwrap().action, ActionType::Reject);
}

#[test]
fn each_missing_required_field_is_named() {
    for field in [
        "action_type",
        "user_id",
        "approval_code",
        "task_id",
        "token",
    ] {
        let expected = Err(CallbackError::MissingField(field));
        assert_eq!(decide(&without(field)), expected, "{field} absent");
        assert_eq!(decide(&with(field, json!(""))), expected, "{field} empty");
        assert_eq!(decide(&with(field, Value::Null)), expected, "{field} null");
    }
}

#[test]
fn empty_optional_strings_are_none() {
    let mut body = card_callback();
    body["instance_id"] = json!("");
    body["reason"] = json!("");
    body["action_context"] = json!("");
    body["attachments"] = Value::Null;
    let decision = decide(&body).unwrap();
    assert_eq!(decision.instance_id, None);
    assert_eq!(decision.reason, None);
    assert_eq!(decision.action_context, None);
    assert!(decision.attachments.is_empty());
}

#[test]
fn unknown_fields_are_ignored() {
    let mut body = card_callback();
    body["open_id"] = json!("ou_x");
    body["extra"] = json!({"nested": [1, 2.5, {"deep": null}]});
    body["attachments"] = json!([{
        "file_type": "PDF", "file_size": 1, "file_name": "a.pdf", "url": "u", "md5": "x"
    }]);
    let decision = decide(&body).unwrap();
    assert_eq!(decision.task_id.as_deref(), Some("t-1"));
    assert_eq!(
        decision.attachments[0].file_type,
        AttachmentType::Other("PDF".into())
    );
}

#[test]
fn wrongly_typed_fields_are_named_without_their_values() {
    for field in [
        "action_type",
        "action_context",
        "user_id",
        "approval_code",
        "instance_id",
        "task_id",
        "id",
        "reason",
        "token",
        "attachments",
    ] {
        let result = decide(&with(field, json!(12345)));
        assert_eq!(result, Err(CallbackError::InvalidField(field)), "{field}");
    }
    let bad_attachment = with(
        "attachments",
        json!([{"file_type": "IMAGE", "file_size": 1.5}]),
    );
    assert_eq!(
        decide(&bad_attachment),
        Err(CallbackError::InvalidField("attachments"))
    );
    let shown = CallbackError::InvalidField("token").to_string();
    assert_eq!(shown, "callback field `token` is invalid");
}

#[test]
fn a_repeated_field_is_rejected() {
    let body = r#"{"token":"right","action_type":"APPROVE","token":"other"}"#;
    assert_eq!(
        RawCallback::parse(body),
        Err(CallbackError::InvalidField("token"))
    );
}

#[test]
fn bodies_that_are_not_json_objects_are_told_apart() {
    for body in [
        "",
        "{",
        "{\"token\":\"a\"} trailing",
        "not json",
        "\u{feff}{}",
    ] {
        assert_eq!(
            CallbackBody::parse(body.as_bytes()).unwrap_err(),
            CallbackError::NotJson,
            "{body:?}"
        );
    }
    for body in ["[]", "null", "\"encrypt\"", "42"] {
        assert_eq!(
            CallbackBody::parse(body.as_bytes()).unwrap_err(),
            CallbackError::NotAnObject,
            "{body:?}"
        );
    }
    assert_eq!(
        CallbackBody::parse(b"{\"token\":\"\xff\"}").unwrap_err(),
        CallbackError::NotJson
    );
}

#[test]
fn an_encrypted_body_is_detected_and_decrypts_to_a_decision() {
    let cipher = CallbackCipher::new("kudryavtsev");
    let ciphertext = cipher.encrypt(DOC_EXAMPLE);
    let body = json!({ "encrypt": ciphertext }).to_string();

    let CallbackBody::Encrypted(encrypt) = CallbackBody::parse(body.as_bytes()).unwrap() else {
        panic!("expected an encrypted body");
    };
    assert_eq!(encrypt, ciphertext);

    let raw = RawCallback::parse(&cipher.decrypt(&encrypt).unwrap()).unwrap();
    assert_eq!(raw.token(), Some("aaaaa"));
    assert_eq!(raw, cipher.decrypt_json::<RawCallback>(&encrypt).unwrap());
    assert_eq!(
        raw.into_decision().unwrap().task_id.as_deref(),
        Some("step1")
    );

    let shown = format!("{:?}", CallbackBody::Encrypted(encrypt));
    assert!(!shown.contains(&ciphertext[..8]), "{shown}");
}

#[test]
fn encrypt_wins_over_plaintext_fields_and_null_encrypt_is_plain() {
    let mixed = r#"{"encrypt":"abc","token":"t","action_type":"APPROVE"}"#;
    assert!(matches!(
        CallbackBody::parse(mixed.as_bytes()),
        Ok(CallbackBody::Encrypted(encrypt)) if encrypt == "abc"
    ));
    let raw = parse_plain(r#"{"encrypt":null,"token":"t"}"#);
    assert_eq!(raw.token(), Some("t"));
}

#[test]
fn debug_output_redacts_the_token() {
    let raw = parse_plain(r#"{"token":"s3cr3t","user_id":"u1"}"#);
    let shown = format!("{raw:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("u1"), "{shown}");
}

#[test]
fn the_token_matches_only_itself() {
    let token = CallbackToken::new("aaaaa");
    assert!(token.verify("aaaaa"));
    for wrong in ["aaaab", "aaaa", "aaaaaa", "AAAAA", "", "aaaaa "] {
        assert!(!token.verify(wrong), "{wrong:?}");
    }
    let from_secret = CallbackToken::from(&Secret::new("中文-token"));
    assert!(from_secret.verify("中文-token"));
    assert!(!from_secret.verify("中文"));
    assert_eq!(format!("{token:?}"), "CallbackToken(<redacted>)");
}

#[test]
fn an_empty_configured_token_never_matches() {
    assert!(!CallbackToken::new("").verify(""));
}

#[test]
fn a_decision_serializes_with_wire_names_and_round_trips() {
    let body = card_callback().to_string().replacen(
        '{',
        r#"{"message_id":7690275278685244603,"reason":"预算不足","#,
        1,
    );
    let decision = parse_plain(&body).into_decision().unwrap();
    let wire = serde_json::to_value(&decision).unwrap();
    assert_eq!(
        wire,
        json!({
            "approval_code": "C0DE",
            "task_id": "t-1",
            "message_id": "7690275278685244603",
            "action": "REJECT",
            "user_id": "ou_1",
            "reason": "预算不足",
        })
    );
    let back: ApprovalDecision = serde_json::from_value(wire).unwrap();
    assert_eq!(back, decision);

    let full = decide(&serde_json::from_str(DOC_EXAMPLE).unwrap()).unwrap();
    let back: ApprovalDecision =
        serde_json::from_str(&serde_json::to_string(&full).unwrap()).unwrap();
    assert_eq!(back, full);
}

// --- properties: the parser against a model of its rules --------------------------------------

/// Whether the parser accepts `value` for top-level field `key` (the model of its rules).
fn accepts(key: &str, value: &Value) -> bool {
    match key {
        "message_id" => match value {
            Value::Null => true,
            Value::Number(number) => number.is_u64(),
            // 1 to 20 ASCII digits (u64::MAX has 20), or empty for none.
            Value::String(digits) => {
                digits.len() <= 20 && digits.bytes().all(|byte| byte.is_ascii_digit())
            }
            _ => false,
        },
        "attachments" => match value {
            Value::Null => true,
            Value::Array(items) => items.iter().all(is_attachment),
            _ => false,
        },
        known if CALLBACK_KEYS.contains(&known) => matches!(value, Value::Null | Value::String(_)),
        _ => true,
    }
}

/// An attachment: an object with string `file_type`, `file_name`, `url` and an unsigned
/// `file_size` (other keys ignored), or — serde's sequence form of a struct — exactly those four
/// values in declaration order.
fn is_attachment(value: &Value) -> bool {
    match value {
        Value::Object(fields) => {
            let text = |key| fields.get(key).is_some_and(Value::is_string);
            text("file_type")
                && text("file_name")
                && text("url")
                && fields
                    .get("file_size")
                    .is_some_and(|size| size.as_u64().is_some())
        }
        Value::Array(values) => {
            matches!(values.as_slice(), [kind, size, name, url]
                if kind.is_string() && size.as_u64().is_some() && name.is_string() && url.is_string())
        }
        _ => false,
    }
}

/// The field's name as the parser reports it.
fn field_name(key: &str) -> &'static str {
    CALLBACK_KEYS
        .into_iter()
        .find(|known| *known == key)
        .expect("a known field")
}

/// What parsing `value` (serialized) must give: the first rejected field in document order,
/// `NotAnObject`, or the fields.
fn model_parse(value: &Value) -> Result<&Map<String, Value>, CallbackError> {
    let Value::Object(fields) = value else {
        return Err(CallbackError::NotAnObject);
    };
    match fields.iter().find(|(key, field)| !accepts(key, field)) {
        Some((key, _)) => Err(CallbackError::InvalidField(field_name(key))),
        None => Ok(fields),
    }
}

/// A string field as the parser keeps it (absent and `null` are `None`; `""` is kept).
fn text_field(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The message id the parser must read from `fields`.
fn message_id_field(fields: &Map<String, Value>) -> Option<MessageId> {
    match fields.get("message_id")? {
        Value::Number(number) => number.as_u64().map(MessageId::from),
        Value::String(digits) if !digits.is_empty() => MessageId::parse(digits).ok(),
        _ => None,
    }
}

/// Checks a successful parse against the JSON it came from.
fn assert_fields_kept(raw: &RawCallback, fields: &Map<String, Value>) -> Result<(), TestCaseError> {
    prop_assert_eq!(&raw.action_type, &text_field(fields, "action_type"));
    prop_assert_eq!(&raw.action_context, &text_field(fields, "action_context"));
    prop_assert_eq!(&raw.user_id, &text_field(fields, "user_id"));
    prop_assert_eq!(&raw.approval_code, &text_field(fields, "approval_code"));
    prop_assert_eq!(&raw.instance_id, &text_field(fields, "instance_id"));
    prop_assert_eq!(&raw.task_id, &text_field(fields, "task_id"));
    prop_assert_eq!(&raw.id, &text_field(fields, "id"));
    prop_assert_eq!(&raw.reason, &text_field(fields, "reason"));
    let token = text_field(fields, "token");
    prop_assert_eq!(raw.token(), token.as_deref());
    prop_assert_eq!(&raw.message_id, &message_id_field(fields));
    let attachments = fields
        .get("attachments")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    prop_assert_eq!(raw.attachments.len(), attachments);
    Ok(())
}

/// A text value, as a field may carry one: absent, `null`, empty or (most often, so that many
/// callbacks have every required field) not.
fn optional_text() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(json!(""))),
        3 => any::<String>().prop_map(|text| Some(Value::String(text))),
        6 => "[a-z0-9-]{1,12}".prop_map(|text| Some(Value::String(text))),
    ]
}

/// A well-typed message id value: absent, `null`, `""`, a number or a digit string.
fn optional_message_id() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        Just(Some(json!(""))),
        any::<u64>().prop_map(|id| Some(json!(id))),
        "[0-9]{1,20}".prop_map(|digits| Some(Value::String(digits))),
    ]
}

/// A well-typed attachment list: absent, `null`, or objects of the documented shape.
fn optional_attachments() -> impl Strategy<Value = Option<Value>> {
    let attachment = (any::<String>(), any::<u64>(), any::<String>(), any::<String>()).prop_map(
        |(file_type, file_size, file_name, url)| {
            json!({"file_type": file_type, "file_size": file_size, "file_name": file_name, "url": url})
        },
    );
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        prop::collection::vec(attachment, 0..3).prop_map(|items| Some(Value::Array(items))),
    ]
}

/// A callback whose every field has an accepted type, with required fields often missing or
/// empty: exercises `into_decision`.
fn well_typed_callback() -> impl Strategy<Value = Value> {
    let texts = prop::collection::vec(optional_text(), 9);
    (texts, optional_message_id(), optional_attachments()).prop_map(
        |(texts, message_id, attachments)| {
            let keys = [
                "action_type",
                "action_context",
                "user_id",
                "approval_code",
                "instance_id",
                "task_id",
                "id",
                "reason",
                "token",
            ];
            let mut fields = Map::new();
            let entries = keys
                .into_iter()
                .zip(texts)
                .chain([("message_id", message_id), ("attachments", attachments)]);
            for (key, value) in entries {
                if let Some(value) = value {
                    fields.insert(key.to_owned(), value);
                }
            }
            Value::Object(fields)
        },
    )
}

/// A non-empty string field.
fn non_empty(fields: &Map<String, Value>, key: &str) -> Option<String> {
    text_field(fields, key).filter(|text| !text.is_empty())
}

/// What `into_decision` must give for a parsed, well-typed callback.
fn model_decision(fields: &Map<String, Value>) -> Result<ApprovalDecision, CallbackError> {
    let required = |key| non_empty(fields, key).ok_or(CallbackError::MissingField(key));
    let action = required("action_type")?;
    let user_id = required("user_id")?;
    let approval_code = required("approval_code")?;
    let task_id = non_empty(fields, "task_id").or_else(|| non_empty(fields, "id"));
    let message_id = message_id_field(fields);
    if task_id.is_none() && message_id.is_none() {
        return Err(CallbackError::MissingField("task_id"));
    }
    required("token")?;
    let attachments = match fields.get("attachments") {
        Some(Value::Array(items)) => serde_json::from_value(Value::Array(items.clone()))
            .expect("the generator makes valid attachments"),
        _ => Vec::new(),
    };
    Ok(ApprovalDecision {
        approval_code,
        instance_id: non_empty(fields, "instance_id"),
        task_id,
        message_id,
        action: ActionType::from(action),
        user_id,
        reason: non_empty(fields, "reason"),
        action_context: non_empty(fields, "action_context"),
        attachments,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random JSON (callback field names, values of any type): the parser rejects exactly the
    /// first field the model rejects, by name, and otherwise keeps every field as sent.
    #[test]
    fn random_json_parses_as_the_model_says(value in prop_oneof![support::callback_object(), support::json()]) {
        let text = value.to_string();
        let parsed = RawCallback::parse(&text);
        match model_parse(&value) {
            Ok(fields) => {
                let raw = parsed.map_err(|error| TestCaseError::fail(format!("{error:?} for {text}")))?;
                assert_fields_kept(&raw, fields)?;
            }
            Err(expected) => prop_assert_eq!(parsed, Err(expected), "{}", text),
        }
    }

    /// The request body goes through the same rules, and a string `encrypt` makes it encrypted.
    #[test]
    fn random_bodies_are_told_apart_as_the_model_says(value in support::callback_object()) {
        let text = value.to_string();
        let body = CallbackBody::parse(text.as_bytes());
        match model_parse(&value) {
            Ok(fields) => match (body, fields.get("encrypt").and_then(Value::as_str)) {
                (Ok(CallbackBody::Encrypted(ciphertext)), Some(expected)) => {
                    prop_assert_eq!(ciphertext, expected);
                }
                (Ok(CallbackBody::Plain(raw)), None) => assert_fields_kept(&raw, fields)?,
                (other, _) => prop_assert!(false, "{other:?} for {text}"),
            },
            Err(expected) => prop_assert_eq!(body.err(), Some(expected), "{}", text),
        }
    }

    /// A well-typed callback becomes the decision the model derives, or fails naming the first
    /// required field that is missing or empty.
    #[test]
    fn well_typed_callbacks_decide_as_the_model_says(value in well_typed_callback()) {
        let fields = value.as_object().expect("an object");
        let decision = RawCallback::parse(&value.to_string())
            .map_err(|error| TestCaseError::fail(format!("{error:?} for {value}")))?
            .into_decision();
        prop_assert_eq!(decision, model_decision(fields));
    }

    /// A message id is kept exactly when it is a `u64` or 1 to 20 digits; `""` and `null` are
    /// none; anything else is rejected by name.
    #[test]
    fn message_ids_follow_the_rules(value in prop_oneof![
        "[0-9]{0,3}".prop_map(Value::String),
        "[0-9]{18,23}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |float| serde_json::Number::from_f64(float).map(Value::Number)),
        Just(Value::Null),
    ]) {
        let body = with("message_id", value.clone());
        let parsed = RawCallback::parse(&body.to_string());
        if accepts("message_id", &value) {
            let fields = body.as_object().expect("an object");
            prop_assert_eq!(parsed.map(|raw| raw.message_id), Ok(message_id_field(fields)));
        } else {
            prop_assert_eq!(parsed, Err(CallbackError::InvalidField("message_id")));
        }
    }

    /// A callback cut short anywhere is not JSON, whatever it held.
    #[test]
    fn a_truncated_callback_is_not_json(value in well_typed_callback(), cut in any::<prop::sample::Index>()) {
        let text = value.to_string();
        let boundaries: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        let end = boundaries[cut.index(boundaries.len())];
        prop_assert_eq!(RawCallback::parse(&text[..end]), Err(CallbackError::NotJson));
    }

    /// Arbitrary bytes as a request body: a typed answer, never a panic.
    #[test]
    fn arbitrary_bytes_are_a_typed_error_or_a_body(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match CallbackBody::parse(&bytes) {
            Ok(_) => prop_assert!(serde_json::from_slice::<Map<String, Value>>(&bytes).is_ok()),
            Err(error) => prop_assert!(matches!(
                error,
                CallbackError::NotJson | CallbackError::NotAnObject | CallbackError::InvalidField(_)
            )),
        }
    }
}
