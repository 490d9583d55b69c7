//! Parsing quick-approval callbacks (feishu-api.md §2.2) into decisions, and the token check.

use feishu_bridge::callback::{
    ApprovalDecision, Attachment, AttachmentType, CallbackBody, CallbackError, CallbackToken,
    RawCallback,
};
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::ids::MessageId;
use feishu_bridge::models::ActionType;
use feishu_bridge::secrets::Secret;
use serde_json::{Value, json};

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
