//! `EventBridgePublisher` against moto: a rule on the bus routes decision events to an SQS queue,
//! where the test reads what a consumer would receive.

use approval_sync::EventPublisher;
use approval_sync::events::eventbridge::EventBridgePublisher;
use approval_sync::events::{
    BridgeEvent, DECISION_DETAIL_TYPE, DecisionEvent, EVENT_SOURCE, REFUSED_DETAIL_TYPE, Refusal,
    RefusedEvent, SCHEMA_VERSION,
};
use feishu_bridge::callback::{ApprovalDecision, Attachment, AttachmentType};
use feishu_bridge::ids::MessageId;
use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::{InstanceStatus, TaskStatus};
use feishu_bridge::models::time::UnixMillis;
use serde_json::Value;
use testkit::MotoServer;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BUS: &str = "approval-decisions";

/// A bot message id above 2^53: an f64 on the way would change its last digits.
const MESSAGE_ID: &str = "7234567890123456789";

fn decision_event() -> DecisionEvent {
    DecisionEvent {
        schema_version: SCHEMA_VERSION,
        decision_id: "inst-1/task-1/0/APPROVE".to_owned(),
        delivery_id: "req-1".to_owned(),
        instance_known: true,
        task_version: UnixMillis::ZERO,
        decision: ApprovalDecision {
            approval_code: "8A3F2C4E-1B2D-4C5E-9F60-7A8B9C0D1E2F".to_owned(),
            instance_id: Some("inst-1".to_owned()),
            task_id: Some("task-1".to_owned()),
            message_id: Some(MessageId::parse(MESSAGE_ID).expect("valid message id")),
            action: ActionType::Approve,
            user_id: "approver-1".to_owned(),
            reason: Some("预算内，同意".to_owned()),
            action_context: Some("ctx-1".to_owned()),
            attachments: vec![Attachment {
                file_type: AttachmentType::Image,
                file_size: 2048,
                file_name: "quote.png".to_owned(),
                url: "https://example.feishu.cn/file/quote.png".to_owned(),
            }],
        },
        instance_status: Some(InstanceStatus::Approved),
        received_at: UnixMillis::from_millis(1_700_000_000_000),
        applied_at: UnixMillis::from_millis(1_700_000_000_450),
    }
}

/// Creates the bus, a queue, and a rule matching decision events that targets the queue;
/// returns the queue URL.
async fn route_decisions_to_a_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
) -> String {
    events
        .create_event_bus()
        .name(BUS)
        .send()
        .await
        .expect("create the bus");
    let queue_url = sqs
        .create_queue()
        .queue_name("decision-consumer")
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("queue url");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut attributes| {
            attributes.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        })
        .expect("queue arn");
    let pattern = serde_json::json!({
        "source": ["feishu-approval-bridge"],
        "detail-type": ["Approval Decision", "Approval Decision Refused"],
    });
    events
        .put_rule()
        .name("decisions-to-consumer")
        .event_bus_name(BUS)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("create the rule");
    events
        .put_targets()
        .rule("decisions-to-consumer")
        .event_bus_name(BUS)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("consumer-queue")
                .arn(queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("add the target");
    queue_url
}

#[tokio::test]
async fn a_published_decision_reaches_a_rule_target_intact() {
    let moto = MotoServer::start().await;
    let config = moto.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = route_decisions_to_a_queue(&events, &sqs).await;
    let publisher = EventBridgePublisher::new(events, BUS);
    let event = decision_event();

    publisher
        .publish(&BridgeEvent::Decision(event.clone()))
        .await
        .expect("publish");

    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 1, "exactly one event delivered");
    let body = messages[0].body().expect("message body");
    let envelope: Value = serde_json::from_str(body).expect("event JSON");
    assert_eq!(envelope["source"], EVENT_SOURCE);
    assert_eq!(envelope["detail-type"], DECISION_DETAIL_TYPE);
    let detail = &envelope["detail"];
    assert_eq!(detail["decision_id"], "inst-1/task-1/0/APPROVE");
    assert_eq!(detail["schema_version"], 2);
    assert_eq!(
        detail["message_id"], MESSAGE_ID,
        "message id digits changed"
    );
    assert_eq!(detail["action"], "APPROVE");
    assert_eq!(detail["instance_status"], "APPROVED");
    let received: DecisionEvent =
        serde_json::from_value(detail.clone()).expect("detail is a DecisionEvent");
    assert_eq!(received, event);
}

#[tokio::test]
async fn publishing_to_a_missing_bus_fails_naming_the_cause() {
    let moto = MotoServer::start().await;
    let events = aws_sdk_eventbridge::Client::new(&moto.sdk_config().await);
    let publisher = EventBridgePublisher::new(events, "no-such-bus");

    let result = publisher
        .publish(&BridgeEvent::Decision(decision_event()))
        .await;

    let error = result.expect_err("a missing bus must be an error");
    let message = error.to_string();
    assert!(message.contains("no-such-bus"), "bus not named: {message}");
    assert!(
        message.contains("ResourceNotFound"),
        "EventBridge's error code missing: {message}"
    );
}

/// moto never rejects a single entry, so this one answers like EventBridge does when it accepts
/// the request but not the entry (HTTP 200, `FailedEntryCount` 1).
#[tokio::test]
async fn an_entry_eventbridge_rejects_is_an_error_naming_its_code_and_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "AWSEvents.PutEvents"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(serde_json::json!({
                    "FailedEntryCount": 1,
                    "Entries": [{
                        "ErrorCode": "InternalFailure",
                        "ErrorMessage": "Internal service failure."
                    }]
                })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let config = testkit::aws_sdk_config(&server.uri()).await;
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&config), BUS);
    let event = decision_event();

    let result = publisher
        .publish(&BridgeEvent::Decision(event.clone()))
        .await;

    let message = result
        .expect_err("a rejected entry must be an error")
        .to_string();
    assert!(
        message.contains("InternalFailure"),
        "code missing: {message}"
    );
    assert!(
        message.contains("Internal service failure."),
        "message missing: {message}"
    );
    assert!(
        message.contains(&event.decision_id),
        "event not named: {message}"
    );
    let requests = server.received_requests().await.unwrap_or_default();
    let request = requests.first().expect("one PutEvents request");
    let body: Value = serde_json::from_slice(&request.body).expect("request JSON");
    let entry = &body["Entries"][0];
    assert_eq!(entry["Source"], EVENT_SOURCE);
    assert_eq!(entry["DetailType"], DECISION_DETAIL_TYPE);
    assert_eq!(entry["EventBusName"], BUS);
    let detail: DecisionEvent =
        serde_json::from_str(entry["Detail"].as_str().expect("Detail is a string"))
            .expect("detail");
    assert_eq!(detail, event);
}

#[tokio::test]
async fn a_refused_decision_reaches_consumers_under_its_own_detail_type() {
    let moto = MotoServer::start().await;
    let config = moto.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = route_decisions_to_a_queue(&events, &sqs).await;
    let publisher = EventBridgePublisher::new(events, BUS);
    let refused = RefusedEvent {
        schema_version: SCHEMA_VERSION,
        delivery_id: "req-2".to_owned(),
        decision: decision_event().decision,
        refusal: Refusal {
            reason: "task_not_pending".to_owned(),
            task_status: Some(TaskStatus::Rejected),
            instance_status: InstanceStatus::Rejected,
        },
        received_at: UnixMillis::from_millis(1_700_000_000_000),
    };

    publisher
        .publish(&BridgeEvent::Refused(refused.clone()))
        .await
        .expect("publish");

    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 1);
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["detail-type"], REFUSED_DETAIL_TYPE);
    assert_eq!(envelope["detail"]["refusal"]["reason"], "task_not_pending");
    assert_eq!(envelope["detail"]["refusal"]["task_status"], "REJECTED");
    assert_eq!(
        envelope["detail"]["reason"], "预算内，同意",
        "the approver's comment"
    );
    let received: RefusedEvent = serde_json::from_value(envelope["detail"].clone()).unwrap();
    assert_eq!(received, refused);
}
