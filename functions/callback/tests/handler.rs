//! The callback handler, driven in-process with real API Gateway HTTP API (payload v2) events.

use std::future::Future;
use std::time::Duration;

use approval_callback::event::handle_event;
use approval_callback::handler::{CallbackService, MAX_BODY_BYTES};
use approval_callback::handoff::{Handoff, HandoffError, InMemoryHandoff};
use approval_callback::lookup::lookup_budget;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::StatusCode;
use aws_lambda_events::http::header::{ALLOW, CONTENT_TYPE};
use feishu_bridge::callback::delivery_id;
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::handoff::HandoffKeys;
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::{DecisionJob, SyncJob};
use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::{ExternalInstance, InstanceStatus};
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::{
    CallbackCredentialSource, CallbackCredentials, CallbackPair, PairInUse, Secret,
};
use feishu_bridge::store::{
    AcceptedDecision, Base, CardRef, Commit, Head, InMemoryStore, InstanceReader, InstanceRecords,
    InstanceStore, StoreError,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use tokio::time::Instant;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Token of the plaintext fixtures and of test vector ok-0.
const TOKEN: &str = "aaaaa";
/// Key of test vector ok-0 (`/work/shared/test-vectors/callback-crypto.json`).
const KEY: &str = "kudryavtsev";
/// Key and token of test vector ok-1.
const REJECT_KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const REJECT_TOKEN: &str = "tok";

const PLAINTEXT_APPROVE: &str = include_str!("fixtures/plaintext-approve.json");
const PLAINTEXT_APPROVE_BASE64: &str = include_str!("fixtures/plaintext-approve-base64.json");
const ENCRYPTED_APPROVE: &str = include_str!("fixtures/encrypted-approve.json");
const ENCRYPTED_REJECT: &str = include_str!("fixtures/encrypted-reject.json");
const GET: &str = include_str!("fixtures/get.json");
const NOT_JSON: &str = include_str!("fixtures/not-json.json");

/// What the decision of the plaintext fixtures becomes in the hand-off payload.
fn plaintext_approve_job() -> Value {
    json!({
        "type": "decision",
        "approval_code": "A3895051-9B16-4ABA-B785-AD2986177BB1",
        "instance_id": "people_1234",
        "task_id": "step1",
        "message_id": "7690275278685244603",
        "action": "APPROVE",
        "user_id": "b85s39b",
        "reason": "ok",
        "action_context": "12345",
        "attachments": [{
            "file_type": "IMAGE",
            "file_size": 12345,
            "file_name": "1.png",
            "url": "https://example.invalid/attachment/413342ae.png"
        }]
    })
}

fn service(token: &str, key: Option<&str>) -> CallbackService<InMemoryHandoff> {
    service_with(token, key, InMemoryHandoff::new())
}

/// [`service`], for a test whose own variable is called `service`.
fn service_with_keys(token: &str, key: Option<&str>) -> CallbackService<InMemoryHandoff> {
    service(token, key)
}

fn service_with<H: Handoff>(token: &str, key: Option<&str>, handoff: H) -> CallbackService<H> {
    CallbackService::new(credentials(token, key), handoff, Duration::from_secs(3))
}

/// Fixed credentials with this callback token and key.
fn credentials(token: &str, key: Option<&str>) -> CallbackCredentialSource {
    CallbackCredentialSource::fixed(CallbackCredentials {
        callback_token: Secret::new(token),
        callback_key: key.map(Secret::new),
        previous_callback: None,
    })
}

/// The Lambda request id of every test invocation: the delivery id stamped on jobs.
const LAMBDA_REQUEST_ID: &str = "8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a";

/// An API Gateway v2 event as the Lambda runtime hands it over, with the invocation's context.
fn request(event: &str) -> LambdaEvent<ApiGatewayV2httpRequest> {
    let mut context = Context::default();
    context.request_id = LAMBDA_REQUEST_ID.to_owned();
    LambdaEvent::new(
        serde_json::from_str(event).expect("fixture is an API Gateway v2 event"),
        context,
    )
}

/// The POST fixture with its body replaced by `body`.
fn request_with_body(body: &str) -> LambdaEvent<ApiGatewayV2httpRequest> {
    let mut event: Value = serde_json::from_str(PLAINTEXT_APPROVE).unwrap();
    event["body"] = Value::from(body);
    request(&event.to_string())
}

fn encrypted_body(key: &str, plaintext: &str) -> String {
    json!({ "encrypt": CallbackCipher::new(key).encrypt(plaintext) }).to_string()
}

struct Answer {
    status: StatusCode,
    content_type: String,
    allow: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("answer is JSON")
    }
}

async fn call<H: Handoff, R: InstanceReader>(
    service: &CallbackService<H, R>,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Answer {
    let response = handle_event(service, event).await;
    let header = |name| {
        response
            .headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let Some(Body::Text(text)) = &response.body else {
        panic!("a text body: {:?}", response.body);
    };
    assert!(!response.is_base64_encoded);
    Answer {
        status: StatusCode::from_u16(u16::try_from(response.status_code).unwrap()).unwrap(),
        content_type: header(CONTENT_TYPE).expect("a content type"),
        allow: header(ALLOW),
        text: text.clone(),
    }
}

fn assert_success(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.text, r#"{"code":0,"msg":"success"}"#);
}

fn assert_failure(answer: &Answer, status: StatusCode, message: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        answer.json(),
        json!({ "message": message, "without_prefix": "true" })
    );
}

const UNAUTHORIZED: &str = "Callback verification failed. Please contact the administrator.";

/// The one payload handed off, with `received_at` checked against the call window, and the
/// delivery id (a body digest) and the proof checked for their form; all three removed.
fn single_job(handoff: &InMemoryHandoff, before: UnixMillis, after: UnixMillis) -> (String, Value) {
    let payloads = handoff.take_payloads();
    assert_eq!(payloads.len(), 1, "exactly one job is handed off");
    let text = String::from_utf8(payloads.into_iter().next().unwrap()).expect("payload is UTF-8");
    let mut job: Value = serde_json::from_str(&text).unwrap();
    let received_at: UnixMillis =
        serde_json::from_value(job["received_at"].take()).expect("received_at is a timestamp");
    assert!(before <= received_at && received_at <= after);
    assert!(
        job["delivery_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("b:")),
        "{job}"
    );
    assert!(
        job["proof"]
            .as_str()
            .is_some_and(|proof| proof.starts_with("v1:")),
        "{job}"
    );
    let object = job.as_object_mut().unwrap();
    object.remove("received_at");
    object.remove("delivery_id");
    object.remove("proof");
    serde_json::from_str::<SyncJob>(&text).expect("payload is a SyncJob");
    (text, job)
}

/// Answers `request`, expects success, and returns the one job handed off (see [`single_job`]).
async fn accepted_job(
    service: &CallbackService<InMemoryHandoff>,
    request: LambdaEvent<ApiGatewayV2httpRequest>,
) -> (String, Value) {
    let before = UnixMillis::now();
    let answer = call(service, request).await;
    let after = UnixMillis::now();
    assert_success(&answer);
    single_job(service.handoff(), before, after)
}

/// Answers `request`, expects the failure `status` with `message`, and that nothing was handed off.
async fn assert_refused(
    service: &CallbackService<InMemoryHandoff>,
    request: LambdaEvent<ApiGatewayV2httpRequest>,
    status: StatusCode,
    message: &str,
) -> Answer {
    let answer = call(service, request).await;
    assert_failure(&answer, status, message);
    assert!(
        service.handoff().take_payloads().is_empty(),
        "nothing is handed off"
    );
    answer
}

#[tokio::test]
async fn plaintext_approve_is_handed_off_then_answered_with_success() {
    let service = service(TOKEN, None);
    let (text, job) = accepted_job(&service, request(PLAINTEXT_APPROVE)).await;
    assert_eq!(job, plaintext_approve_job());
    // The bare 19-digit number (above 2^53) arrives digit for digit.
    assert!(
        text.contains(r#""message_id":"7690275278685244603""#),
        "{text}"
    );
}

#[tokio::test]
async fn base64_encoded_event_body_is_decoded_before_handling() {
    let service = service(TOKEN, None);
    let (_, job) = accepted_job(&service, request(PLAINTEXT_APPROVE_BASE64)).await;
    assert_eq!(job, plaintext_approve_job());
}

#[tokio::test]
async fn encrypted_approve_is_decrypted_and_handed_off() {
    let service = service(TOKEN, Some(KEY));
    let (_, job) = accepted_job(&service, request(ENCRYPTED_APPROVE)).await;
    let mut expected = plaintext_approve_job();
    expected.as_object_mut().unwrap().remove("message_id");
    assert_eq!(job, expected);
}

#[tokio::test]
async fn encrypted_reject_keeps_the_big_message_id_digit_for_digit() {
    let service = service(REJECT_TOKEN, Some(REJECT_KEY));
    let (text, job) = accepted_job(&service, request(ENCRYPTED_REJECT)).await;
    assert!(
        text.contains(r#""message_id":"7250020197497765889""#),
        "{text}"
    );
    assert_eq!(
        job,
        json!({
            "type": "decision",
            "approval_code": "C0DE",
            "instance_id": "i-1",
            "task_id": "t-1",
            "message_id": "7250020197497765889",
            "action": "REJECT",
            "user_id": "ou_1",
            "reason": "预算不足"
        })
    );
}

#[tokio::test]
async fn wrong_token_is_unauthorized_in_plaintext_and_encrypted() {
    let plaintext = PLAINTEXT_APPROVE.replace(r#"\"token\":\"aaaaa\""#, r#"\"token\":\"aaaab\""#);
    assert_ne!(plaintext, PLAINTEXT_APPROVE, "fixture carries the token");
    let service = service(TOKEN, None);
    assert_refused(
        &service,
        request(&plaintext),
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;

    let service = service_with(TOKEN, Some(KEY), InMemoryHandoff::new());
    let body = encrypted_body(
        KEY,
        r#"{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"aaaab"}"#,
    );
    assert_refused(
        &service,
        request_with_body(&body),
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn callback_without_token_is_unauthorized_not_incomplete() {
    let service = service(TOKEN, None);
    let body = r#"{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t"}"#;
    assert_refused(
        &service,
        request_with_body(body),
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;
}

/// Tampered ciphertexts (bad padding, garbage plaintext), bad base64, a wrong key and a
/// plaintext downgrade all get the one unauthorized answer: no padding or parsing oracle.
#[tokio::test]
async fn every_decryption_failure_gets_the_same_unauthorized_answer() {
    let encrypt = |event: &str| -> String {
        let event: Value = serde_json::from_str(event).unwrap();
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["encrypt"].as_str().unwrap().to_owned()
    };
    let original = encrypt(ENCRYPTED_APPROVE);
    let tamper = |position: usize| {
        let mut bytes = original.clone().into_bytes();
        bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
        json!({ "encrypt": String::from_utf8(bytes).unwrap() }).to_string()
    };
    let cases = [
        ("tampered last block (padding)", tamper(original.len() - 10)),
        ("tampered first block (garbage JSON)", tamper(30)),
        ("tampered IV (garbage JSON)", tamper(2)),
        ("bad base64", r#"{"encrypt":"@@not base64@@"}"#.to_owned()),
        ("not whole blocks", r#"{"encrypt":"8IYsR1nKmxVWEgH1LilcWQ=="}"#.to_owned()),
        // Vector "not-json": decrypts with valid padding to text that is not JSON.
        (
            "valid padding, not JSON",
            r#"{"encrypt":"kL0derp+m+i2zK1OrN3+v2wg2oBk7Oy78cIDdW91LcU="}"#.to_owned(),
        ),
        (
            "wrong key",
            encrypted_body(
                "another-key",
                r#"{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"aaaaa"}"#,
            ),
        ),
        (
            "plaintext downgrade",
            r#"{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"aaaaa"}"#
                .to_owned(),
        ),
    ];
    let service = service(TOKEN, Some(KEY));
    for (case, body) in cases {
        let answer = call(&service, request_with_body(&body)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            answer.json(),
            json!({ "message": UNAUTHORIZED, "without_prefix": "true" }),
            "{case}"
        );
        assert!(service.handoff().take_payloads().is_empty(), "{case}");
    }
}

#[tokio::test]
async fn plaintext_is_refused_when_a_key_is_configured() {
    let service = service(TOKEN, Some(KEY));
    assert_refused(
        &service,
        request(PLAINTEXT_APPROVE),
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;
}

/// Without a callback key nothing encrypted can be authenticated: 401 like any such callback
/// (not a 5xx, which three times over would page for what is a misconfiguration or a prober);
/// its own outcome in the log and the metrics tells the operator to set `callback_key`.
#[tokio::test]
async fn encrypted_is_unauthorized_when_no_key_is_configured() {
    let service = service(TOKEN, None);
    assert_refused(
        &service,
        request(ENCRYPTED_APPROVE),
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;
    assert_refused(
        &service,
        request_with_body(r#"{"encrypt":"x"}"#),
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn body_over_64_kib_is_refused_unparsed_and_64_kib_is_accepted() {
    let callback = |reason_len: usize| {
        format!(
            r#"{{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"aaaaa","reason":"{}"}}"#,
            "r".repeat(reason_len)
        )
    };
    let overhead = callback(0).len();
    let service = service(TOKEN, None);

    let at_limit = callback(MAX_BODY_BYTES - overhead);
    assert_eq!(at_limit.len(), MAX_BODY_BYTES);
    assert_success(&call(&service, request_with_body(&at_limit)).await);
    assert_eq!(service.handoff().take_payloads().len(), 1);

    let over_limit = callback(MAX_BODY_BYTES - overhead + 1);
    assert_refused(
        &service,
        request_with_body(&over_limit),
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request too large.",
    )
    .await;
}

#[tokio::test]
async fn get_is_method_not_allowed() {
    let service = service(TOKEN, None);
    let answer = assert_refused(
        &service,
        request(GET),
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed.",
    )
    .await;
    assert_eq!(answer.allow.as_deref(), Some("POST"));
}

#[tokio::test]
async fn non_json_body_is_unprocessable() {
    let service = service(TOKEN, None);
    assert_refused(
        &service,
        request(NOT_JSON),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid callback: callback body is not JSON. Please contact the administrator.",
    )
    .await;

    assert_refused(
        &service,
        request_with_body("[1,2]"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid callback: callback body is not a JSON object. Please contact the administrator.",
    )
    .await;

    // A malformed envelope is no callback field: nothing secret decides it.
    let service = service_with(TOKEN, Some(KEY), InMemoryHandoff::new());
    assert_refused(
        &service,
        request_with_body(r#"{"encrypt":42}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid callback: callback field `encrypt` is invalid. Please contact the administrator.",
    )
    .await;
}

#[tokio::test]
async fn missing_fields_are_named_once_the_token_matches() {
    let service = service(TOKEN, None);
    let cases = [
        (
            r#"{"action_type":"APPROVE","user_id":"u","task_id":"t","token":"aaaaa"}"#,
            "approval_code",
        ),
        (
            r#"{"user_id":"u","approval_code":"c","task_id":"t","token":"aaaaa"}"#,
            "action_type",
        ),
        (
            r#"{"action_type":"REJECT","user_id":"","approval_code":"c","task_id":"t","token":"aaaaa"}"#,
            "user_id",
        ),
    ];
    for (body, field) in cases {
        assert_refused(
            &service,
            request_with_body(body),
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "Invalid callback: callback field `{field}` is missing. Please contact the administrator."
            ),
        )
        .await;
    }

    // Encrypted too: the field is named only after decryption and the token check.
    let service = service_with(TOKEN, Some(KEY), InMemoryHandoff::new());
    let body = encrypted_body(
        KEY,
        r#"{"action_type":"APPROVE","user_id":"u","task_id":"t","token":"aaaaa"}"#,
    );
    assert_refused(
        &service,
        request_with_body(&body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid callback: callback field `approval_code` is missing. Please contact the administrator.",
    )
    .await;
}

#[tokio::test]
async fn failed_hand_off_answers_try_again_and_never_success() {
    let handoff = InMemoryHandoff::new();
    handoff.set_failing(true);
    let service = service_with(TOKEN, None, handoff);
    assert_refused(
        &service,
        request(PLAINTEXT_APPROVE),
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable. Please try again.",
    )
    .await;

    // The approver's retry succeeds once the hand-off recovers.
    service.handoff().set_failing(false);
    assert_success(&call(&service, request(PLAINTEXT_APPROVE)).await);
    assert_eq!(service.handoff().take_payloads().len(), 1);
}

/// A hand-off that never answers.
struct Unresponsive;

impl Handoff for Unresponsive {
    fn hand_off(
        &self,
        _job: &SyncJob,
        _deadline: Instant,
    ) -> impl Future<Output = Result<(), HandoffError>> + Send {
        std::future::pending()
    }
}

#[tokio::test]
async fn hand_off_past_the_deadline_answers_timeout() {
    let service = CallbackService::new(
        credentials(TOKEN, None),
        Unresponsive,
        Duration::from_millis(20),
    );
    let answer = call(&service, request(PLAINTEXT_APPROVE)).await;
    assert_failure(
        &answer,
        StatusCode::GATEWAY_TIMEOUT,
        "Timed out. Please try again.",
    );
}

/// A Secrets Manager stand-in answering `GetSecretValue` with each of `secrets` once, in order
/// (the last one from then on), or with `AccessDeniedException` when `secrets` is empty.
async fn secrets_manager(secrets: &[Value]) -> (MockServer, CallbackCredentialSource) {
    let server = MockServer::start().await;
    let get_secret_value =
        || Mock::given(method("POST")).and(header("x-amz-target", "secretsmanager.GetSecretValue"));
    match secrets.split_last() {
        None => {
            get_secret_value()
                .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                    "__type": "AccessDeniedException",
                    "message": "not authorized"
                })))
                .mount(&server)
                .await;
        }
        Some((last, first)) => {
            for secret in first {
                get_secret_value()
                    .respond_with(secret_value(secret))
                    .up_to_n_times(1)
                    .mount(&server)
                    .await;
            }
            get_secret_value()
                .respond_with(secret_value(last))
                .mount(&server)
                .await;
        }
    }
    let source = secrets_manager_at(&server).await;
    (server, source)
}

/// A Secrets Manager source for the secret `feishu` at `server`, read again at every callback
/// (TTL zero, as after each TTL in production).
async fn secrets_manager_at(server: &MockServer) -> CallbackCredentialSource {
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config);
    CallbackCredentialSource::secrets_manager(client, "feishu", Duration::ZERO)
}

fn secret_value(secret: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:feishu-AbCdEf",
        "Name": "feishu",
        "VersionId": "00000000-0000-0000-0000-000000000001",
        "SecretString": secret.to_string(),
        "CreatedDate": 1795248000.0
    }))
}

/// The callback secret: the token and key alone.
fn callback_secret(key: &str) -> Value {
    json!({
        "callback_token": TOKEN,
        "callback_key": key
    })
}

#[tokio::test]
async fn rotated_callback_key_is_used_from_the_next_callback_on() {
    let (_server, source) =
        secrets_manager(&[callback_secret("old-key"), callback_secret("new-key")]).await;
    let service = CallbackService::new(source, InMemoryHandoff::new(), Duration::from_secs(3));
    let plaintext = r#"{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"aaaaa"}"#;

    let before_rotation = request_with_body(&encrypted_body("old-key", plaintext));
    assert_success(&call(&service, before_rotation).await);
    let after_rotation = request_with_body(&encrypted_body("new-key", plaintext));
    assert_success(&call(&service, after_rotation).await);
    let old_key = request_with_body(&encrypted_body("old-key", plaintext));
    assert_failure(
        &call(&service, old_key).await,
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    );
    assert_eq!(service.handoff().take_payloads().len(), 2);
}

/// A rotation that keeps the previous token and key beside the new ones: cards sent before it
/// still post under the previous pair, and verify until the operator drops it from the secret.
#[tokio::test]
async fn during_a_rotation_callbacks_under_the_previous_pair_verify_until_it_is_dropped() {
    let rotating = json!({
        "callback_token": "new-token",
        "callback_key": "new-key",
        "previous_callback_token": TOKEN,
        "previous_callback_key": "old-key"
    });
    let rotated = json!({"callback_token": "new-token", "callback_key": "new-key"});
    let (_server, source) = secrets_manager(&[rotating.clone(), rotating, rotated]).await;
    let service = CallbackService::new(source, InMemoryHandoff::new(), Duration::from_secs(3));
    let callback = |token: &str| {
        format!(
            r#"{{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"{token}"}}"#
        )
    };

    let on_an_old_card = request_with_body(&encrypted_body("old-key", &callback(TOKEN)));
    assert_success(&call(&service, on_an_old_card).await);
    let on_a_new_card = request_with_body(&encrypted_body("new-key", &callback("new-token")));
    assert_success(&call(&service, on_a_new_card).await);
    assert_eq!(service.handoff().take_payloads().len(), 2);

    let once_dropped = request_with_body(&encrypted_body("old-key", &callback(TOKEN)));
    assert_refused(
        &service,
        once_dropped,
        StatusCode::UNAUTHORIZED,
        UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn unavailable_credentials_answer_try_again() {
    let (_server, source) = secrets_manager(&[]).await;
    let service = CallbackService::new(source, InMemoryHandoff::new(), Duration::from_secs(3));
    assert_refused(
        &service,
        request(PLAINTEXT_APPROVE),
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable. Please try again.",
    )
    .await;
}

/// A callback whose fields, every one but `field`, make a complete decision; `field` holds a value
/// of the wrong shape.
fn callback_with_malformed(field: &str, token: &str) -> String {
    let mut callback = json!({
        "action_type": "APPROVE",
        "user_id": "u",
        "approval_code": "c",
        "task_id": "t",
        "token": token
    });
    callback[field] = match field {
        "message_id" => json!("om_abc"),
        "attachments" => json!([{"file_type": "IMAGE", "file_size": 1, "file_name": "1.png"}]),
        other => panic!("no malformed value for {other}"),
    };
    callback.to_string()
}

#[tokio::test]
async fn authenticated_callback_with_a_malformed_field_is_unprocessable_naming_it() {
    for field in ["message_id", "attachments"] {
        let message = format!(
            "Invalid callback: callback field `{field}` is invalid. Please contact the administrator."
        );
        let plaintext = callback_with_malformed(field, TOKEN);

        let service = service(TOKEN, Some(KEY));
        let body = encrypted_body(KEY, &plaintext);
        let answer = assert_refused(
            &service,
            request_with_body(&body),
            StatusCode::UNPROCESSABLE_ENTITY,
            &message,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");

        let service = service_with(TOKEN, None, InMemoryHandoff::new());
        assert_refused(
            &service,
            request_with_body(&plaintext),
            StatusCode::UNPROCESSABLE_ENTITY,
            &message,
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_field_without_the_right_token_is_unauthorized_like_any_other_failure() {
    for field in ["message_id", "attachments"] {
        for token in ["aaaab", ""] {
            let plaintext = callback_with_malformed(field, token);

            let service = service(TOKEN, Some(KEY));
            let body = encrypted_body(KEY, &plaintext);
            assert_refused(
                &service,
                request_with_body(&body),
                StatusCode::UNAUTHORIZED,
                UNAUTHORIZED,
            )
            .await;

            let service = service_with(TOKEN, None, InMemoryHandoff::new());
            assert_refused(
                &service,
                request_with_body(&plaintext),
                StatusCode::UNAUTHORIZED,
                UNAUTHORIZED,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn event_flagged_base64_with_a_body_that_is_not_is_a_bad_request() {
    let mut event: Value = serde_json::from_str(PLAINTEXT_APPROVE_BASE64).unwrap();
    event["body"] = Value::from("@@not base64@@");
    let service = service(TOKEN, None);
    assert_refused(
        &service,
        request(&event.to_string()),
        StatusCode::BAD_REQUEST,
        "Bad request: the body is not valid base64.",
    )
    .await;
}

#[tokio::test]
async fn base64_body_over_64_kib_is_refused_before_decoding() {
    let mut event: Value = serde_json::from_str(PLAINTEXT_APPROVE_BASE64).unwrap();
    event["body"] = Value::from("A".repeat(MAX_BODY_BYTES / 3 * 4 + 8));
    let service = service(TOKEN, None);
    assert_refused(
        &service,
        request(&event.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request too large.",
    )
    .await;
}

/// The job's delivery id is the digest of what Feishu sent (decrypted), not the invocation's
/// request id: the same body posted again — a replayed capture — is the same delivery, which the
/// sync step finishes once. And the job carries the proof that this function made it, under the
/// current pair's key.
#[tokio::test]
async fn the_delivery_id_is_the_bodys_digest_and_the_job_is_proven() {
    let delivered = |service: &CallbackService<InMemoryHandoff>| -> DecisionJob {
        let payloads = service.handoff().take_payloads();
        assert_eq!(payloads.len(), 1);
        match serde_json::from_slice(&payloads[0]).unwrap() {
            SyncJob::Decision(job) => job,
            other => panic!("not a decision: {other:?}"),
        }
    };
    let service = service(TOKEN, None);
    assert_success(&call(&service, request(PLAINTEXT_APPROVE)).await);
    let first = delivered(&service);
    let body: Value = serde_json::from_str(PLAINTEXT_APPROVE).unwrap();
    let body = body["body"].as_str().unwrap();
    assert_eq!(
        first.delivery_id.as_deref(),
        Some(delivery_id(body.as_bytes()).as_str())
    );
    // Another invocation (no Lambda request id: API Gateway's), the same body: the same delivery.
    let again = LambdaEvent::new(
        serde_json::from_str(PLAINTEXT_APPROVE).unwrap(),
        Context::default(),
    );
    assert_success(&call(&service, again).await);
    assert_eq!(delivered(&service).delivery_id, first.delivery_id);
    let keys = HandoffKeys::new(&CallbackCredentials {
        callback_token: Secret::new(TOKEN),
        callback_key: None,
        previous_callback: None,
    });
    assert_eq!(keys.verify(&first), Ok(PairInUse::Current));

    // Encrypted: the digest of the plaintext, so a new encryption of it (another IV) is the
    // same delivery too.
    let service = service_with_keys(TOKEN, Some(KEY));
    let plaintext = r#"{"action_type":"APPROVE","user_id":"u","approval_code":"c","task_id":"t","token":"aaaaa"}"#;
    for _ in 0..2 {
        let body = encrypted_body(KEY, plaintext);
        assert_success(&call(&service, request_with_body(&body)).await);
        let job = delivered(&service);
        assert_eq!(
            job.delivery_id.as_deref(),
            Some(delivery_id(plaintext.as_bytes()).as_str())
        );
    }
}

/// While a rotation keeps the previous pair, a callback made under it is accepted and its job
/// proven under the current pair's key (the sync function checks against both).
#[tokio::test]
async fn a_callback_under_the_previous_pair_is_proven_under_the_current_one() {
    let credentials = CallbackCredentials {
        callback_token: Secret::new("new-token"),
        callback_key: Some(Secret::new("new-key")),
        previous_callback: Some(CallbackPair {
            token: Secret::new(TOKEN),
            key: Some(Secret::new(KEY)),
        }),
    };
    let service = CallbackService::new(
        CallbackCredentialSource::fixed(credentials.clone()),
        InMemoryHandoff::new(),
        Duration::from_secs(3),
    );
    assert_success(&call(&service, request(ENCRYPTED_APPROVE)).await);
    let payloads = service.handoff().take_payloads();
    let SyncJob::Decision(job) = serde_json::from_slice(&payloads[0]).unwrap() else {
        panic!("a decision job");
    };
    let current_only = HandoffKeys::new(&CallbackCredentials {
        previous_callback: None,
        ..credentials
    });
    assert_eq!(current_only.verify(&job), Ok(PairInUse::Current));
}

#[tokio::test]
async fn credentials_still_loading_at_the_deadline_answer_try_again_by_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
        .respond_with(secret_value(&callback_secret(KEY)).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let source = secrets_manager_at(&server).await;
    let deadline = Duration::from_millis(300);
    let service = CallbackService::new(source, InMemoryHandoff::new(), deadline);

    let started = Instant::now();
    assert_refused(
        &service,
        request(ENCRYPTED_APPROVE),
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable. Please try again.",
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        deadline <= elapsed && elapsed < deadline + Duration::from_millis(250),
        "answered after {elapsed:?}"
    );
}

// ---------------------------------------------------------------- the early look-up (409)

/// The instance, task, approver and card of the plaintext fixture's decision.
const INSTANCE: &str = "people_1234";
const TASK: &str = "step1";
const APPROVER: &str = "b85s39b";
const CARD: u64 = 7_690_275_278_685_244_603;

const ALREADY_HANDLED: &str = "该审批已处理，无需重复操作 / This task has already been handled";
const WITHDRAWN: &str = "该审批已撤回 / This request was withdrawn";
const NOT_THE_APPROVER: &str = "你不是该审批任务的审批人 / You are not the approver of this task";

/// A store holding what the sync step keeps of the fixture's instance: the company's instance
/// (`instance_status`, its one task `task_status` for `approver`), decision `accepted` on the task
/// when given, and the card index entry of the fixture's card.
async fn store_with(
    instance_status: &str,
    task_status: &str,
    approver: &str,
    accepted: Option<ActionType>,
) -> InMemoryStore {
    let instance: ExternalInstance = serde_json::from_value(json!({
        "approval_code": "A3895051-9B16-4ABA-B785-AD2986177BB1", "status": instance_status,
        "instance_id": INSTANCE, "links": {"pc_link": "https://example.com"},
        "user_id": "initiator", "start_time": "1700000000000", "end_time": "0",
        "update_time": "1700000000000",
        "task_list": [{
            "task_id": TASK, "user_id": approver, "links": {"pc_link": "https://example.com"},
            "status": task_status, "create_time": "1700000000000", "end_time": "0",
            "update_time": "1700000000000"
        }]
    }))
    .expect("an external instance");
    let head = |seq, status: &str| Head {
        seq,
        company_version: UnixMillis::from_millis(1_700_000_000_000),
        push_version: UnixMillis::from_millis(1_700_000_000_000 + seq),
        pushed_seq: seq,
        push_lease: None,
        status: InstanceStatus::from(status),
        touched_at: 1_700_000_000_000,
        touched_hour: 472_222,
        expires_at: None,
    };
    let store = InMemoryStore::new();
    store
        .commit(&Commit {
            instance_id: INSTANCE.to_owned(),
            at_seq: 0,
            head: Some(head(1, instance_status)),
            base: Some(Base {
                position: 1,
                instance,
                task_versions: Default::default(),
                expires_at: None,
            }),
            decision: None,
            delivery: None,
        })
        .await
        .unwrap();
    if let Some(action) = accepted {
        let status = if action == ActionType::Approve {
            "APPROVED"
        } else {
            "REJECTED"
        };
        store
            .commit(&Commit {
                instance_id: INSTANCE.to_owned(),
                at_seq: 1,
                head: Some(head(2, status)),
                base: None,
                decision: Some(AcceptedDecision {
                    task_id: TASK.to_owned(),
                    task_version: UnixMillis::ZERO,
                    action,
                    position: 2,
                    push_version: UnixMillis::from_millis(1_700_000_000_002),
                    decided_at: UnixMillis::from_millis(1_700_000_000_002),
                    user_id: APPROVER.to_owned(),
                    delivery_id: "earlier-delivery".to_owned(),
                    expires_at: None,
                }),
                delivery: None,
            })
            .await
            .unwrap();
    }
    store
        .index_card(
            &MessageId::from(CARD),
            &CardRef {
                instance_id: INSTANCE.to_owned(),
                task_id: TASK.to_owned(),
            },
        )
        .await
        .unwrap();
    store
}

/// A service over the plaintext fixture's token that looks taps up in `records`.
fn looking_up<R: InstanceReader>(records: R) -> CallbackService<InMemoryHandoff, R> {
    service(TOKEN, None).with_records(Some(records))
}

/// A tap from the fixture's card that carries only the card's `message_id` (no instance or task
/// id, no bridge card context): resolved through the card index.
fn card_only_tap(action: &str) -> LambdaEvent<ApiGatewayV2httpRequest> {
    request_with_body(
        &json!({
            "action_type": action, "user_id": APPROVER,
            "approval_code": "A3895051-9B16-4ABA-B785-AD2986177BB1",
            "message_id": CARD, "token": TOKEN
        })
        .to_string(),
    )
}

/// Answers `event`, expects `status` (with `message` when not 200), and that the decision was
/// handed off all the same.
async fn assert_answered_and_handed_off<R: InstanceReader>(
    service: &CallbackService<InMemoryHandoff, R>,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
    status: StatusCode,
    message: Option<&str>,
) {
    let answer = call(service, event).await;
    match message {
        Some(message) => assert_failure(&answer, status, message),
        None => assert_success(&answer),
    }
    assert_eq!(
        service.handoff().take_payloads().len(),
        1,
        "the decision is handed off whatever the answer"
    );
}

#[tokio::test]
async fn a_tap_on_a_task_already_decided_is_answered_409_and_still_handed_off() {
    // Rejected by an earlier tap: approving it now is refused.
    let service =
        looking_up(store_with("PENDING", "PENDING", APPROVER, Some(ActionType::Reject)).await);
    assert_answered_and_handed_off(
        &service,
        request(PLAINTEXT_APPROVE),
        StatusCode::CONFLICT,
        Some(ALREADY_HANDLED),
    )
    .await;
    // The same from the card, resolved through the card index.
    assert_answered_and_handed_off(
        &service,
        card_only_tap("APPROVE"),
        StatusCode::CONFLICT,
        Some(ALREADY_HANDLED),
    )
    .await;

    // Approved in the company's system.
    let service = looking_up(store_with("PENDING", "APPROVED", APPROVER, None).await);
    assert_answered_and_handed_off(
        &service,
        request(PLAINTEXT_APPROVE),
        StatusCode::CONFLICT,
        Some(ALREADY_HANDLED),
    )
    .await;
}

#[tokio::test]
async fn a_tap_on_a_withdrawn_instance_is_answered_409_and_still_handed_off() {
    let service = looking_up(store_with("CANCELED", "PENDING", APPROVER, None).await);
    assert_answered_and_handed_off(
        &service,
        request(PLAINTEXT_APPROVE),
        StatusCode::CONFLICT,
        Some(WITHDRAWN),
    )
    .await;
    // Withdrawn with its task closed too: still told it was withdrawn.
    let service = looking_up(store_with("CANCELED", "DONE", APPROVER, None).await);
    assert_answered_and_handed_off(
        &service,
        card_only_tap("REJECT"),
        StatusCode::CONFLICT,
        Some(WITHDRAWN),
    )
    .await;
}

#[tokio::test]
async fn a_duplicate_and_a_pending_task_are_answered_200() {
    // Feishu's retry or a double tap: the same action as the task's accepted decision.
    let service =
        looking_up(store_with("PENDING", "PENDING", APPROVER, Some(ActionType::Approve)).await);
    assert_answered_and_handed_off(&service, request(PLAINTEXT_APPROVE), StatusCode::OK, None)
        .await;
    // A pending task of a pending instance.
    let service = looking_up(store_with("PENDING", "PENDING", APPROVER, None).await);
    assert_answered_and_handed_off(&service, request(PLAINTEXT_APPROVE), StatusCode::OK, None)
        .await;
}

/// Someone who is not the task's approver gets one answer (409, the same text) whatever the
/// task's state: they learn neither that it was handled or withdrawn, nor — by a success — that
/// they repeated its decision. (Until issue 16 the look-up answered them by the task's state,
/// and 200 for another approver's pending task.)
#[tokio::test]
async fn a_non_approvers_tap_gets_one_answer_whatever_the_tasks_state() {
    let states = [
        ("PENDING", "PENDING", None),
        ("PENDING", "PENDING", Some(ActionType::Approve)),
        ("PENDING", "PENDING", Some(ActionType::Reject)),
        ("CANCELED", "PENDING", None),
        ("APPROVED", "APPROVED", None),
    ];
    for (instance_status, task_status, accepted) in states {
        let service =
            looking_up(store_with(instance_status, task_status, "the-approver", accepted).await);
        assert_answered_and_handed_off(
            &service,
            request(PLAINTEXT_APPROVE),
            StatusCode::CONFLICT,
            Some(NOT_THE_APPROVER),
        )
        .await;
    }
}

#[tokio::test]
async fn an_instance_the_bridge_never_saw_is_answered_as_without_the_look_up() {
    let service = looking_up(InMemoryStore::new());
    assert_answered_and_handed_off(&service, request(PLAINTEXT_APPROVE), StatusCode::OK, None)
        .await;
    // A card the bridge does not know.
    assert_answered_and_handed_off(&service, card_only_tap("APPROVE"), StatusCode::OK, None).await;
}

#[tokio::test]
async fn a_refused_tap_whose_hand_off_fails_is_a_failure_the_approver_retries() {
    let service = looking_up(store_with("CANCELED", "PENDING", APPROVER, None).await);
    service.handoff().set_failing(true);
    let answer = call(&service, request(PLAINTEXT_APPROVE)).await;
    assert_failure(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable. Please try again.",
    );
}

/// Records that fail (`slow: None`) or answer after `slow`.
struct BrokenRecords {
    slow: Option<Duration>,
}

impl InstanceReader for BrokenRecords {
    async fn load(&self, instance_id: &str) -> Result<InstanceRecords, StoreError> {
        self.broken(instance_id).await
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        self.broken(&message_id.to_string()).await
    }
}

impl BrokenRecords {
    async fn broken<T>(&self, id: &str) -> Result<T, StoreError> {
        if let Some(delay) = self.slow {
            tokio::time::sleep(delay).await;
        }
        Err(StoreError::Corrupt {
            instance_id: id.to_owned(),
            reason: "the test's records are broken".to_owned(),
        })
    }
}

#[tokio::test]
async fn a_failing_or_slow_look_up_answers_as_without_it_within_its_budget() {
    let deadline = Duration::from_secs(3);
    let budget = lookup_budget(deadline);
    for (records, tap) in [
        (BrokenRecords { slow: None }, request(PLAINTEXT_APPROVE)),
        (BrokenRecords { slow: None }, card_only_tap("APPROVE")),
        (
            BrokenRecords {
                slow: Some(Duration::from_secs(60)),
            },
            request(PLAINTEXT_APPROVE),
        ),
    ] {
        let slow = records.slow.is_some();
        let service =
            CallbackService::new(credentials(TOKEN, None), InMemoryHandoff::new(), deadline)
                .with_records(Some(records));
        let started = std::time::Instant::now();
        assert_answered_and_handed_off(&service, tap, StatusCode::OK, None).await;
        let took = started.elapsed();
        assert!(took < deadline, "answered within the deadline: {took:?}");
        if slow {
            assert!(took >= budget, "waited for the look-up's budget: {took:?}");
        }
    }
}
