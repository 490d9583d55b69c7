//! `redrive`: the jobs in the sync functions' failure queue — list each with why it failed, hand
//! the ones Lambda's on-failure destination wrote back to the asynchronous sync function, delete
//! those once Lambda accepted them, and list everything left in the queue with the reason
//! (`feishu_bridge::redrive` decides; this module is its SQS and Lambda adapters and the
//! listing).
//!
//! A record counts as written by the destination when SQS's `SenderId` is a session of the sync
//! functions' role (`--sync-role-id`, the stack's `SyncRoleId` output), which nobody else can
//! start; a planted record stays, and is listed as such. Jobs go back with an asynchronous
//! invoke (`InvocationType=Event`) of `<stack>-sync`, where they came from: a job that fails
//! again returns to the queue after Lambda's retries.
//!
//! Messages are received with a visibility timeout, so a concurrent consumer does not see them
//! while they are handled; the ones that stay are made visible again before the command ends.
//! The AWS clients come from the standard AWS environment, so `AWS_ENDPOINT_URL_SQS` and
//! `AWS_ENDPOINT_URL_LAMBDA` point them at moto and a local Lambda.

use std::fmt;

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use feishu_bridge::redrive::{
    FailureQueue, FailureRecord, Handled, JobInvoker, Outcome, QueuedMessage, RedriveOptions,
    RedriveReport, redrive,
};
use serde_json::Value;

use crate::cli::RedriveArgs;
use crate::error::CliError;

/// Runs `redrive`.
pub async fn run(args: &RedriveArgs) -> Result<(), CliError> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let queue = SqsQueue {
        client: aws_sdk_sqs::Client::new(&config),
        url: &args.queue_url,
        visibility_timeout_secs: args.visibility_timeout_secs,
    };
    let invoker = AsyncInvoker {
        client: aws_sdk_lambda::Client::new(&config),
        function: &args.function,
    };
    let options = RedriveOptions {
        limit: args.limit,
        dry_run: args.dry_run,
    };
    let mut count = 0;
    let report = redrive(&queue, &invoker, &args.sync_role_id, options, |handled| {
        count += 1;
        println!("[{count}] {}", Listed(handled, &args.function));
    })
    .await?;
    println!("{}", summary(&report, args.dry_run));
    if !args.dry_run && report.left() > 0 {
        return Err(CliError::JobsStayed(report.left()));
    }
    Ok(())
}

/// The failure queue in SQS.
struct SqsQueue<'a> {
    client: aws_sdk_sqs::Client,
    url: &'a str,
    visibility_timeout_secs: i32,
}

impl SqsQueue<'_> {
    fn error<E>(&self, action: &'static str, source: E) -> CliError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        CliError::Queue {
            action,
            queue_url: self.url.to_owned(),
            source: Box::new(source),
        }
    }
}

impl FailureQueue for SqsQueue<'_> {
    type Error = CliError;

    async fn receive(&self, max: usize) -> Result<Vec<QueuedMessage>, CliError> {
        let output = self
            .client
            .receive_message()
            .queue_url(self.url)
            .max_number_of_messages(i32::try_from(max.min(10)).unwrap_or(10))
            .visibility_timeout(self.visibility_timeout_secs)
            // Who sent each message: the one thing about a record its sender cannot forge.
            .message_system_attribute_names(MessageSystemAttributeName::SenderId)
            // A long poll asks every SQS server, so an empty answer means an empty queue.
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|source| self.error("receive messages from", source))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                let sender_id = message
                    .attributes()
                    .and_then(|attributes| attributes.get(&MessageSystemAttributeName::SenderId))
                    .cloned();
                Some(QueuedMessage {
                    message_id: message.message_id?,
                    receipt: message.receipt_handle?,
                    body: message.body.unwrap_or_default(),
                    sender_id,
                })
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<(), CliError> {
        self.client
            .delete_message()
            .queue_url(self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|source| self.error("delete a redriven job from", source))?;
        Ok(())
    }

    async fn release(&self, receipts: &[String]) -> Result<(), CliError> {
        for receipt in receipts {
            self.client
                .change_message_visibility()
                .queue_url(self.url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(|source| self.error("make a kept job visible again in", source))?;
        }
        Ok(())
    }
}

/// The asynchronous sync function in Lambda.
struct AsyncInvoker<'a> {
    client: aws_sdk_lambda::Client,
    function: &'a str,
}

impl JobInvoker for AsyncInvoker<'_> {
    type Error = String;

    async fn invoke_async(&self, job: &str) -> Result<(), String> {
        self.client
            .invoke()
            .function_name(self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(job.as_bytes()))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                format!(
                    "invoking `{}` failed: {}",
                    self.function,
                    DisplayErrorContext(&error)
                )
            })
    }
}

/// The run's last line.
fn summary(report: &RedriveReport, dry_run: bool) -> String {
    let more = if report.limit_reached {
        " (--limit reached: more jobs may be waiting)"
    } else {
        ""
    };
    if dry_run {
        let would = report
            .handled
            .iter()
            .filter(|handled| handled.outcome == Outcome::WouldReplay)
            .count();
        format!(
            "{} message(s) in the failure queue: {would} would be handed back to the sync \
             function, {} would stay; nothing invoked or deleted (--dry-run){more}",
            report.handled.len(),
            report.handled.len() - would
        )
    } else {
        let returns = if report.replayed() > 0 {
            "; they run asynchronously, and one that fails again returns to the queue after \
             Lambda's retries"
        } else {
            ""
        };
        format!(
            "{} handed back to the sync function and deleted, {} stayed in the queue{more}{returns}",
            report.replayed(),
            report.left()
        )
    }
}

/// One message as listed: what it is, why it failed, what became of it.
struct Listed<'a>(&'a Handled, &'a str);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(handled, function) = self;
        match &handled.record {
            None => f.write_str("a message that is not a Lambda failure record")?,
            Some(record) => write!(f, "{}", RecordLine(record))?,
        }
        let sender = handled.sender_id.as_deref().unwrap_or("unknown");
        write!(f, "\n      sender: {sender}\n      ")?;
        match &handled.outcome {
            Outcome::WouldReplay => write!(
                f,
                "would be handed back to `{function}` (sent by the sync functions' on-failure \
                 destination)"
            ),
            Outcome::Replayed => write!(
                f,
                "handed back to `{function}` (asynchronous invoke) and deleted from the queue"
            ),
            Outcome::Left(reason) => write!(f, "stays: {reason}"),
            Outcome::NotAccepted(reason) => write!(f, "stays: not handed back: {reason}"),
        }
    }
}

/// `decision APPROVE on inst/task — RetriesExhausted after 3 run(s)`, then the last error.
struct RecordLine<'a>(&'a FailureRecord);

impl fmt::Display for RecordLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let record = self.0;
        write!(f, "{}", JobLabel(record.job.fields()))?;
        if let Some(condition) = &record.condition {
            write!(f, " — {condition}")?;
            if let Some(count) = record.invoke_count {
                write!(f, " after {count} run(s)")?;
            }
        }
        let reason = record
            .last_error
            .as_ref()
            .map(Reason::from_payload)
            .map_or_else(
                || "no error recorded (the function never ran)".to_owned(),
                |reason| reason.to_string(),
            );
        write!(f, "\n      reason: {reason}")
    }
}

/// `decision APPROVE on inst/task`, `instance inst`, `message 123`: what a job is about.
struct JobLabel<'a>(&'a serde_json::Map<String, Value>);

impl fmt::Display for JobLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let job = self.0;
        let text = |value: &Value| match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => "?".to_owned(),
        };
        let field = |name: &str| job.get(name).map(text);
        match job.get("type").and_then(Value::as_str) {
            Some("decision") => {
                write!(
                    f,
                    "decision {}",
                    field("action").unwrap_or_else(|| "?".to_owned())
                )?;
                match (field("instance_id"), field("task_id"), field("message_id")) {
                    (Some(instance), Some(task), _) => write!(f, " on {instance}/{task}"),
                    (_, _, Some(message)) => write!(f, " on card {message}"),
                    (Some(instance), None, None) => write!(f, " on {instance}"),
                    (None, _, None) => Ok(()),
                }
            }
            Some("instance") => write!(
                f,
                "instance {}",
                job.get("instance")
                    .and_then(|instance| instance.get("instance_id"))
                    .map_or("?".to_owned(), text)
            ),
            Some("message") => write!(
                f,
                "message {}",
                field("message_id").unwrap_or_else(|| "?".to_owned())
            ),
            Some(other) => write!(f, "{other} job"),
            None => f.write_str("job without a type"),
        }
    }
}

/// A function error: its type, and Feishu's code, msg and log_id when its message has them.
#[derive(Debug, PartialEq)]
struct Reason {
    error_type: String,
    error_message: String,
}

impl Reason {
    fn from_payload(payload: &Value) -> Self {
        let text = |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            error_type: text("errorType").unwrap_or_else(|| "unknown error".to_owned()),
            error_message: text("errorMessage").unwrap_or_else(|| payload.to_string()),
        }
    }

    /// Feishu's code, msg and log_id, as the sync function writes them into its messages
    /// (`… failed with code 60001 ("msg", HTTP 400), log_id 2026…`).
    fn feishu_details(&self) -> Option<(String, Option<String>, Option<String>)> {
        let message = self.error_message.as_str();
        let after_code = &message[message.find("with code ")? + "with code ".len()..];
        let code: String = after_code
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        if code.is_empty() {
            return None;
        }
        let msg = after_code
            .strip_prefix(&code)
            .and_then(|rest| rest.strip_prefix(" (\""))
            .and_then(|rest| rest.find("\", HTTP").map(|end| rest[..end].to_owned()));
        let log_id = message.find("log_id ").map(|start| {
            message[start + "log_id ".len()..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ';' | ')'))
                .collect()
        });
        Some((code, msg, log_id))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error_type)?;
        if let Some((code, msg, log_id)) = self.feishu_details() {
            write!(f, " (Feishu code {code}")?;
            if let Some(msg) = msg {
                write!(f, ", msg \"{msg}\"")?;
            }
            if let Some(log_id) = log_id {
                write!(f, ", log_id {log_id}")?;
            }
            f.write_str(")")?;
        }
        write!(f, ": {}", self.error_message)
    }
}

#[cfg(test)]
mod tests {
    use feishu_bridge::redrive::LeaveReason;
    use serde_json::json;

    use super::*;

    const FEISHU_MESSAGE: &str = "Feishu message/update for inst-2/task-1 failed: Feishu \
        /open-apis/approval/v1/message/update failed with code 60001 (\"actionUrls incomplete \
        error\", HTTP 400), log_id 20260101ABC; rejected fields: actions";

    fn handled(body: &serde_json::Value, outcome: Outcome) -> Handled {
        Handled {
            message_id: "m-1".to_owned(),
            sender_id: Some("AROA3XFRBF535PLBIFPI4:b-sync".to_owned()),
            record: FailureRecord::parse(&body.to_string()),
            outcome,
        }
    }

    fn listed(handled: &Handled) -> String {
        Listed(handled, "b-sync").to_string()
    }

    #[test]
    fn a_record_lists_the_job_the_condition_feishus_details_and_the_outcome() {
        let record = json!({
            "version": "1.0",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": "arn", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": {"type": "decision", "action": "APPROVE", "instance_id": "inst-2", "task_id": "task-1", "approval_code": "A", "user_id": "u", "received_at": "1"},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "FeishuRejected", "errorMessage": FEISHU_MESSAGE}
        });
        let text = listed(&handled(&record, Outcome::Replayed));
        assert!(
            text.starts_with("decision APPROVE on inst-2/task-1 — RetriesExhausted after 3 run(s)"),
            "{text}"
        );
        assert!(
            text.contains(
                "reason: FeishuRejected (Feishu code 60001, msg \"actionUrls incomplete error\", log_id 20260101ABC): Feishu message/update"
            ),
            "{text}"
        );
        assert!(
            text.contains("sender: AROA3XFRBF535PLBIFPI4:b-sync"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "handed back to `b-sync` (asynchronous invoke) and deleted from the queue"
            ),
            "{text}"
        );
    }

    #[test]
    fn instance_and_message_jobs_and_records_without_a_run_are_labelled() {
        let record = json!({
            "requestContext": {"condition": "EventAgeExceeded", "approximateInvokeCount": 0},
            "requestPayload": {"type": "instance", "instance": {"instance_id": "inst-9"}}
        });
        let text = listed(&handled(&record, Outcome::WouldReplay));
        assert!(
            text.starts_with("instance inst-9 — EventAgeExceeded"),
            "{text}"
        );
        assert!(text.contains("no error recorded"), "{text}");
        let label =
            |job: serde_json::Value| JobLabel(job.as_object().expect("an object")).to_string();
        assert_eq!(
            label(json!({"type": "message", "message_id": "7690275278685244603"})),
            "message 7690275278685244603"
        );
        assert_eq!(
            label(json!({"type": "decision", "action": "REJECT", "message_id": "42"})),
            "decision REJECT on card 42"
        );
    }

    #[test]
    fn what_stays_is_listed_with_its_reason() {
        let planted = Handled {
            sender_id: Some("AIDAEXAMPLEINTRUDER1".to_owned()),
            ..handled(
                &json!({"requestPayload": {"type": "decision", "action": "APPROVE", "instance_id": "PO-42", "task_id": "cfo"}}),
                Outcome::Left(LeaveReason::ForeignSender {
                    sender_id: "AIDAEXAMPLEINTRUDER1".to_owned(),
                }),
            )
        };
        let text = listed(&planted);
        assert!(text.starts_with("decision APPROVE on PO-42/cfo"), "{text}");
        assert!(
            text.ends_with(
                "stays: sent by AIDAEXAMPLEINTRUDER1, not by the sync functions' on-failure \
                 destination: planted or misrouted, never replayed"
            ),
            "{text}"
        );
        let junk = handled(
            &json!("junk"),
            Outcome::Left(LeaveReason::NotAFailureRecord),
        );
        assert_eq!(
            listed(&junk),
            "a message that is not a Lambda failure record\n      sender: \
             AROA3XFRBF535PLBIFPI4:b-sync\n      stays: not a Lambda failure record"
        );
    }

    #[test]
    fn errors_without_feishu_details_print_as_they_are() {
        let reason = Reason::from_payload(
            &json!({"errorType": "StoreUnavailable", "errorMessage": "DynamoDB timed out"}),
        );
        assert_eq!(reason.feishu_details(), None);
        assert_eq!(reason.to_string(), "StoreUnavailable: DynamoDB timed out");
    }
}
