//! `redrive`: the jobs in the sync function's failure queue — list each with why it failed, then
//! (unless `--dry-run`) re-invoke it synchronously and delete only the messages whose job
//! succeeded. A job that fails again stays in the queue, and its new reason is printed.
//!
//! Each message is Lambda's on-failure record: `requestPayload` is the job, `responsePayload`
//! the last error (`errorType`, `errorMessage`), `requestContext.condition` why Lambda gave up.
//! Messages are received with a visibility timeout, so a concurrent consumer does not see them
//! while they are handled; the ones that stay are made visible again before the command ends.
//!
//! The AWS clients come from the standard AWS environment, so `AWS_ENDPOINT_URL_SQS` and
//! `AWS_ENDPOINT_URL_LAMBDA` point them at moto and `cargo lambda watch` locally.

use std::collections::HashSet;
use std::fmt;

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::Message;
use serde::Deserialize;
use serde_json::Value;

use crate::cli::RedriveArgs;
use crate::error::CliError;
use crate::push::FunctionErrorBody;

/// Runs `redrive`.
pub async fn run(args: &RedriveArgs) -> Result<(), CliError> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let queue = Queue {
        client: aws_sdk_sqs::Client::new(&config),
        url: &args.queue_url,
        visibility_timeout_secs: args.visibility_timeout_secs,
    };
    let lambda = aws_sdk_lambda::Client::new(&config);
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    let mut tally = Tally::default();
    let outcome = async {
        while seen.len() < args.limit {
            let batch = queue.receive(args.limit - seen.len()).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                let (Some(id), Some(receipt)) = (message.message_id(), message.receipt_handle())
                else {
                    continue;
                };
                if !seen.insert(id.to_owned()) {
                    // Its visibility ran out while this run was busy: handled already.
                    kept.push(receipt.to_owned());
                    continue;
                }
                let entry = Entry::parse(&message);
                println!("[{}] {entry}", seen.len());
                match (&entry.record, args.dry_run) {
                    (_, true) => {
                        tally.listed += 1;
                        kept.push(receipt.to_owned());
                    }
                    (None, false) => {
                        println!("      stays: not a Lambda failure record, not redriven");
                        tally.stayed += 1;
                        kept.push(receipt.to_owned());
                    }
                    (Some(record), false) => {
                        match invoke(&lambda, &args.function, &record.request_payload).await {
                            Ok(()) => {
                                queue.delete(receipt).await?;
                                println!("      redriven: succeeded, deleted from the queue");
                                tally.redriven += 1;
                            }
                            Err(reason) => {
                                println!("      stays: failed again: {reason}");
                                tally.stayed += 1;
                                kept.push(receipt.to_owned());
                            }
                        }
                    }
                }
            }
        }
        Ok::<(), CliError>(())
    }
    .await;
    // Whatever happened, the messages that stay become visible again at once.
    let released = queue.release(&kept).await;
    outcome?;
    released?;
    println!("{}", tally.summary(args.dry_run, seen.len() >= args.limit));
    if tally.stayed > 0 {
        return Err(CliError::JobsStayed(tally.stayed));
    }
    Ok(())
}

/// The failure queue, as this command uses it.
struct Queue<'a> {
    client: aws_sdk_sqs::Client,
    url: &'a str,
    visibility_timeout_secs: i32,
}

impl Queue<'_> {
    /// Up to `max` (at most 10) messages; empty when the queue has no visible message left.
    async fn receive(&self, max: usize) -> Result<Vec<Message>, CliError> {
        let output = self
            .client
            .receive_message()
            .queue_url(self.url)
            .max_number_of_messages(i32::try_from(max.min(10)).unwrap_or(10))
            .visibility_timeout(self.visibility_timeout_secs)
            // A long poll asks every SQS server, so an empty answer means an empty queue.
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|source| self.error("receive messages from", source))?;
        Ok(output.messages.unwrap_or_default())
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

    /// Makes the messages visible again now instead of when their visibility timeout ends.
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

/// Invokes the sync function synchronously with `job`; `Err` says why the job failed again.
async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    job: &Value,
) -> Result<(), String> {
    let payload = serde_json::to_vec(job).map_err(|_| "the job cannot be serialized".to_owned())?;
    let output = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(|error| {
            format!(
                "invoking `{function}` failed: {}",
                DisplayErrorContext(&error)
            )
        })?;
    match output.function_error() {
        None => Ok(()),
        Some(kind) => {
            let answer = output.payload().map(Blob::as_ref).unwrap_or_default();
            let body: FunctionErrorBody = serde_json::from_slice(answer).unwrap_or_default();
            let reason = Reason {
                error_type: body.error_type.unwrap_or_else(|| kind.to_owned()),
                error_message: body.error_message.unwrap_or_default(),
            };
            Err(reason.to_string())
        }
    }
}

/// What the command did, for its last line.
#[derive(Debug, Default)]
struct Tally {
    listed: usize,
    redriven: usize,
    stayed: usize,
}

impl Tally {
    fn summary(&self, dry_run: bool, limit_reached: bool) -> String {
        let more = if limit_reached {
            " (--limit reached: more jobs may be waiting)"
        } else {
            ""
        };
        if dry_run {
            format!(
                "{} job(s) in the failure queue; nothing invoked or deleted (--dry-run){more}",
                self.listed
            )
        } else {
            format!(
                "{} redriven and deleted, {} stayed in the queue{more}",
                self.redriven, self.stayed
            )
        }
    }
}

/// Lambda's on-failure record: the parts `redrive` reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailureRecord {
    #[serde(default)]
    request_context: RequestContext,
    request_payload: Value,
    #[serde(default)]
    response_payload: Option<Value>,
}

/// Why Lambda gave up, and after how many runs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    condition: Option<String>,
    approximate_invoke_count: Option<u32>,
}

/// One message of the queue, as listed.
#[derive(Debug)]
struct Entry {
    record: Option<FailureRecord>,
}

impl Entry {
    fn parse(message: &Message) -> Self {
        let record = message
            .body()
            .and_then(|body| serde_json::from_str::<FailureRecord>(body).ok())
            .filter(|record| record.request_payload.is_object());
        Self { record }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(record) = &self.record else {
            return f.write_str("a message that is not a Lambda failure record");
        };
        write!(f, "{}", JobLabel(&record.request_payload))?;
        if let Some(condition) = &record.request_context.condition {
            write!(f, " — {condition}")?;
            if let Some(count) = record.request_context.approximate_invoke_count {
                write!(f, " after {count} run(s)")?;
            }
        }
        let reason = record
            .response_payload
            .as_ref()
            .map(Reason::from_payload)
            .map_or_else(
                || "no error recorded (the function never ran)".to_owned(),
                |r| r.to_string(),
            );
        write!(f, "\n      reason: {reason}")
    }
}

/// `decision APPROVE on inst/task`, `instance inst`, `message 123`: what a job is about.
struct JobLabel<'a>(&'a Value);

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
                job.pointer("/instance/instance_id")
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
    use serde_json::json;

    use super::*;

    fn message(body: &str) -> Message {
        Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body(body)
            .build()
    }

    const FEISHU_MESSAGE: &str = "Feishu message/update for inst-2/task-1 failed: Feishu \
        /open-apis/approval/v1/message/update failed with code 60001 (\"actionUrls incomplete \
        error\", HTTP 400), log_id 20260101ABC; rejected fields: actions";

    #[test]
    fn a_record_lists_the_job_the_condition_and_feishus_details() {
        let record = json!({
            "version": "1.0",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": "arn", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": {"type": "decision", "action": "APPROVE", "instance_id": "inst-2", "task_id": "task-1", "approval_code": "A", "user_id": "u", "received_at": "1"},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "FeishuRejected", "errorMessage": FEISHU_MESSAGE}
        });
        let listed = Entry::parse(&message(&record.to_string())).to_string();
        assert!(
            listed
                .starts_with("decision APPROVE on inst-2/task-1 — RetriesExhausted after 3 run(s)"),
            "{listed}"
        );
        assert!(
            listed.contains(
                "reason: FeishuRejected (Feishu code 60001, msg \"actionUrls incomplete error\", log_id 20260101ABC): Feishu message/update"
            ),
            "{listed}"
        );
    }

    #[test]
    fn instance_and_message_jobs_and_records_without_a_run_are_labelled() {
        let record = json!({
            "requestContext": {"condition": "EventAgeExceeded", "approximateInvokeCount": 0},
            "requestPayload": {"type": "instance", "instance": {"instance_id": "inst-9"}}
        });
        let listed = Entry::parse(&message(&record.to_string())).to_string();
        assert!(
            listed.starts_with("instance inst-9 — EventAgeExceeded"),
            "{listed}"
        );
        assert!(listed.contains("no error recorded"), "{listed}");
        let message_job =
            JobLabel(&json!({"type": "message", "message_id": "7690275278685244603"}));
        assert_eq!(message_job.to_string(), "message 7690275278685244603");
        let card = JobLabel(&json!({"type": "decision", "action": "REJECT", "message_id": "42"}));
        assert_eq!(card.to_string(), "decision REJECT on card 42");
    }

    #[test]
    fn anything_else_is_not_a_record() {
        for body in ["not json", "{}", r#"{"requestPayload": "text"}"#] {
            let entry = Entry::parse(&message(body));
            assert!(entry.record.is_none(), "{body}");
            assert_eq!(
                entry.to_string(),
                "a message that is not a Lambda failure record"
            );
        }
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
